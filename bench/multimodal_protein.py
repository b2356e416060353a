"""Protein co-design: the joint sequence × structure model against separate unimodal models.

Run:  python bench/multimodal_protein.py [--steps 1500] [--structure frames|torsions|torsions+omega]
      [--out outputs/bench_multimodal_protein]

Trains, with the network, optimiser, batch and number of steps of
``examples/protein_codesign.py`` for each model, (a) the joint model of sequence and backbone
frames (or torsions, ``--structure``), (b) a structure-only flow on ``(SO(3) × R³)^16`` (or the
torus of torsions) and (c) a sequence-only masked CTMC.
The pair (b) + (c) is what one gets without a product space: unconditional structures and
sequences drawn independently of each other, so their "inverse folding" is an unconditional
sequence scored against the true one and their "folding" an unconditional structure. Prints
and writes (``metrics.json``) side by side: validity of unconditional structures, (φ, ψ) MMD,
composition TV, the glycine–φ association, inverse-folding recovery and folding CA RMSD; and
the training cost per model (seconds per step) and the final loss per factor.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def _example():
    name = "protein_codesign"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _factor_losses(pc, factors, net, state, seed: int = 2) -> dict[str, float]:
    """Mean per-factor loss terms of a trained net on 512 training points (training times,
    nothing pinned)."""
    import genmatch as gm

    angles = state["tors"].shape[-1] if "tors" in factors else 2
    space, path, generator, _ = pc.build(state["seq"].shape[1], factors, angles=angles)
    loss = gm.GeneratorMatchingLoss(
        path, generator, time_sampler=pc.StructureTimes(space.names), space=space
    )
    rng = torch.Generator().manual_seed(seed)
    idx = torch.randperm(state["seq"].shape[0], generator=rng)[:512]
    batch = {k: state[k][idx] for k in factors}
    with torch.no_grad():
        terms = loss.terms(net, batch, generator=rng)
    return {k: float(v.mean()) for k, v in terms.parts.items()}


def protein_benchmark(
    *,
    steps: int = 1500,
    batch_size: int = 64,
    lr: float = 2e-3,
    d_model: int = 64,
    layers: int = 3,
    num_samples: int = 256,
    sample_steps: int = 50,
    seed: int = 0,
    structure: str = "frames",
) -> dict[str, object]:
    """The joint model against structure-only + sequence-only models; a metrics dict."""
    pc = _example()
    data = pc.load_data()
    state = pc.to_state(data.train_aa, data.train_coords, structure)
    factors = pc.STRUCTURES[structure]
    settings = dict(steps=steps, batch_size=batch_size, lr=lr, d_model=d_model, layers=layers)
    joint = pc.fit(("seq", *factors), state, pin=0.15, seed=seed, **settings)
    structure_only = pc.fit(factors, state, pin=0.0, seed=seed, **settings)
    sequence = pc.fit(("seq",), state, pin=0.0, seed=seed, **settings)

    joint_metrics, _ = pc.evaluate(
        joint[1], joint[0], joint[2], data, num_samples=num_samples, sample_steps=sample_steps
    )
    rng = torch.Generator().manual_seed(1)
    n_held = data.held_aa.shape[0]
    structures = pc.generate(
        structure_only[1],
        structure_only[0],
        structure_only[2].sample(num_samples, generator=rng),
        sample_steps,
        rng,
    )
    sequences = pc.generate(
        sequence[1], sequence[0], sequence[2].sample(num_samples, generator=rng), sample_steps, rng
    )
    coords = pc.to_coords(structures)
    ca_held = data.held_coords[:, :, 1]
    from genmatch.metrics import kabsch_rmsd, sequence_recovery

    separate = {
        "unconditional": pc.structure_scores(
            coords, sequences["seq"], data.held_coords, data.held_aa
        ),
        "inverse_folding": {
            "recovery": sequence_recovery(
                sequences["seq"][:n_held], data.held_aa[: sequences["seq"].shape[0]]
            )
        },
        "folding": {
            "ca_rmsd": float(kabsch_rmsd(coords[:n_held, :, 1], ca_held[: coords.shape[0]]).mean())
        },
    }
    seconds = {
        "joint": joint[3],
        "structure_only": structure_only[3],
        "sequence_only": sequence[3],
    }
    cost = {
        "seconds_per_step": {k: v / steps for k, v in seconds.items()},
        "final_loss_per_factor": {
            "joint": _factor_losses(pc, ("seq", *factors), joint[0], state),
            "structure_only": _factor_losses(pc, factors, structure_only[0], state),
            "sequence_only": _factor_losses(pc, ("seq",), sequence[0], state),
        },
    }
    return {
        "settings": {
            **settings,
            "num_samples": num_samples,
            "sample_steps": sample_steps,
            "structure": structure,
        },
        "joint": joint_metrics,
        "separate": separate,
        "cost": cost,
    }


def _table(result: dict) -> str:
    j, s = result["joint"], result["separate"]
    rows = [
        ("CA–CA within 0.1 Å", "unconditional", "ca_ca_within_0.1"),
        ("CA–CA std (Å)", "unconditional", "ca_ca_std"),
        ("clash rate", "unconditional", "clash_rate"),
        ("(φ, ψ) MMD", "unconditional", "phi_psi_mmd"),
        ("composition TV", "unconditional", "composition_tv"),
        ("P(Gly | φ > 0)", "unconditional", "gly_given_phi_pos"),
        ("inverse-folding recovery", "inverse_folding", "recovery"),
        ("folding CA RMSD (Å)", "folding", "ca_rmsd"),
    ]
    lines = ["| metric | joint | structure-only + sequence-only | data |", "|---|---|---|---|"]
    data = j["held_out"]
    for label, group, key in rows:
        ref = f"{data[key]:.3f}" if group == "unconditional" else ""
        lines.append(f"| {label} | {j[group][key]:.3f} | {s[group][key]:.3f} | {ref} |")
    cost = result["cost"]["seconds_per_step"]
    lines.append(
        "| s / training step | "
        f"{cost['joint']:.3f} | {cost['structure_only']:.3f} + {cost['sequence_only']:.3f} | |"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--num-samples", type=int, default=256)
    parser.add_argument("--sample-steps", type=int, default=50)
    parser.add_argument("--structure", choices=tuple(_example().STRUCTURES), default="frames")
    parser.add_argument("--out", default="outputs/bench_multimodal_protein")
    args = parser.parse_args(argv)
    result = protein_benchmark(
        steps=args.steps,
        num_samples=args.num_samples,
        sample_steps=args.sample_steps,
        structure=args.structure,
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(result, indent=2))
    print(_table(result))
    print(json.dumps(result["cost"], indent=2))
    return result


if __name__ == "__main__":
    main()
