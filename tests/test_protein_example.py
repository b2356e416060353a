"""Smoke tests: the protein co-design example and its benchmark run a few steps end to end."""

import importlib.util
import json
import math
import sys
from pathlib import Path

import gemmi
import torch

ROOT = Path(__file__).resolve().parents[1]


def _load(name, folder="examples"):
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / folder / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _finite(tree) -> bool:
    if isinstance(tree, dict):
        return all(_finite(v) for v in tree.values())
    return not isinstance(tree, float) or math.isfinite(tree)


def test_data_split_and_state_round_trip() -> None:
    pc = _load("protein_codesign")
    data = pc.load_data()
    assert data.num_residues > 12_000 and data.num_segments > 100
    assert data.train_aa.shape[1:] == (16,) and data.held_coords.shape[1:] == (16, 3, 3)
    assert data.train_aa.shape[0] > 5 * data.held_aa.shape[0] > 0
    # no held-out 16-mer also in training (split by sequence cluster)
    train = {tuple(r) for r in data.train_aa.tolist()}
    assert not any(tuple(r) in train for r in data.held_aa.tolist())
    state = pc.to_state(data.held_aa, data.held_coords)
    ca = pc.to_coords(state)[:, :, 1]
    from genmatch.metrics import kabsch_rmsd

    assert float(kabsch_rmsd(ca, data.held_coords[:, :, 1]).max()) < 1e-4  # a rigid motion


def test_example_end_to_end(tmp_path) -> None:
    pc = _load("protein_codesign")
    args = ["--steps", "800", "--batch-size", "32", "--d-model", "32", "--layers", "2",
            "--num-samples", "64", "--sample-steps", "10", "--out", str(tmp_path)]  # fmt: skip
    metrics = pc.main(args)
    assert json.loads((tmp_path / "metrics.json").read_text()) == metrics
    assert _finite(metrics)
    assert (tmp_path / "protein.png").stat().st_size > 10_000
    structure = gemmi.read_structure(str(tmp_path / "samples.pdb"))
    assert len(structure) == 16 and len(structure[0][0]) == 16
    assert [a.name for a in structure[0][0][0]] == ["N", "CA", "C"]
    # the data pass their own validity checks; the floors are what the metrics say they are
    held = metrics["held_out"]
    assert held["ca_ca_within_0.1"] > 0.98 and held["clash_rate"] == 0.0
    assert held["phi_pos_given_gly"] > 10 * held["phi_pos_given_other"]
    # seeded quality ordering: the trained model beats the source (noise). Not asserted: the
    # (φ, ψ) MMD, which after a few hundred steps is no better than the uniform source's
    # (dihedrals of still noisy backbones are spread out); the full run reports it
    model, noise = metrics["unconditional"], metrics["source"]
    assert abs(model["ca_ca_mean"] - 3.8) < abs(noise["ca_ca_mean"] - 3.8)
    assert model["ca_ca_std"] < noise["ca_ca_std"]
    assert model["ca_ca_within_0.1"] > noise["ca_ca_within_0.1"]
    assert model["composition_tv"] < noise["composition_tv"]
    fold = metrics["folding"]
    assert fold["ca_rmsd"] < fold["source_ca_rmsd"]
    inv = metrics["inverse_folding"]
    assert inv["recovery"] > inv["uniform_source"]


def test_benchmark_smoke() -> None:
    bench = _load("multimodal_protein", "bench")
    result = bench.protein_benchmark(
        steps=3, batch_size=16, d_model=16, layers=1, num_samples=32, sample_steps=2
    )
    assert _finite(result)
    assert set(result["cost"]["seconds_per_step"]) == {"joint", "structure_only", "sequence_only"}
    losses = result["cost"]["final_loss_per_factor"]
    assert set(losses["joint"]) == {"seq", "rot", "trans"}
    assert set(losses["sequence_only"]) == {"seq"}
    table = bench._table(result)
    assert table.count("\n") == 10 and "inverse-folding recovery" in table
    assert torch.isfinite(torch.tensor(result["separate"]["folding"]["ca_rmsd"]))
    torsions = bench.protein_benchmark(
        steps=2, batch_size=16, d_model=16, layers=1, num_samples=16, sample_steps=2,
        structure="torsions",
    )  # fmt: skip
    assert _finite(torsions) and torsions["settings"]["structure"] == "torsions"
    assert set(torsions["cost"]["final_loss_per_factor"]["structure_only"]) == {"tors"}
    assert torsions["joint"]["unconditional"]["ca_ca_within_0.1"] == 1.0


def test_translation_prior_choice() -> None:
    import pytest

    import genmatch as gm

    pc = _load("protein_codesign")
    _, _, _, source = pc.build(8, prior="harmonic")
    x = source.sample(3, generator=torch.Generator().manual_seed(0))["trans"]
    assert x.shape == (3, 8, 3) and float(x.sum(1).abs().max()) < 1e-5  # centred chains
    assert isinstance(source.sources["trans"], gm.HarmonicChainSource)
    _, _, _, source = pc.build(8)
    assert isinstance(source.sources["trans"], gm.GaussianSource)
    with pytest.raises(ValueError, match="prior must be one of"):
        pc.build(8, prior="harmonics")


def test_torsion_state_round_trip_and_choices() -> None:
    import pytest

    import genmatch as gm
    from genmatch.metrics import backbone_dihedrals, kabsch_rmsd

    pc = _load("protein_codesign")
    data = pc.load_data()
    state = pc.to_state(data.held_aa[:20], data.held_coords[:20], "torsions")
    assert set(state) == {"seq", "tors"} and state["tors"].shape == (20, 16, 2)
    coords = pc.to_coords(state)
    # the dihedrals survive the map to the state and back; CA drifts as ideal geometry does
    assert torch.allclose(backbone_dihedrals(coords), backbone_dihedrals(data.held_coords[:20]),
                          atol=1e-5)  # fmt: skip
    assert float(kabsch_rmsd(coords[:, :, 1], data.held_coords[:20, :, 1]).mean()) < 2.0
    space, _, _, source = pc.build(16, ("seq", "tors"))
    assert isinstance(space.factors["tors"].manifold, gm.FlatTorus)
    assert isinstance(source.sources["tors"], gm.UniformSource)
    assert pc.structure_of(space) == "torsions"
    with pytest.raises(ValueError, match="structure must be one of"):
        pc.to_state(data.held_aa, data.held_coords, "torsion")
    with pytest.raises(ValueError, match="factors must be among"):
        pc.build(16, ("seq", "angles"))


def test_torsion_example_end_to_end(tmp_path) -> None:
    pc = _load("protein_codesign")
    args = ["--structure", "torsions", "--steps", "300", "--batch-size", "32", "--d-model",
            "32", "--layers", "2", "--num-samples", "64", "--sample-steps", "10",
            "--out", str(tmp_path)]  # fmt: skip
    metrics = pc.main(args)
    assert metrics["structure"] == "torsions" and _finite(metrics)
    structure = gemmi.read_structure(str(tmp_path / "samples.pdb"))
    assert len(structure) == 16 and len(structure[0][0]) == 16
    model, noise = metrics["unconditional"], metrics["source"]
    # ideal bonds by construction, for samples and noise alike
    assert model["ca_ca_within_0.1"] == noise["ca_ca_within_0.1"] == 1.0
    # seeded quality ordering: the trained model beats the source (uniform torsions)
    assert model["phi_psi_mmd"] < noise["phi_psi_mmd"]
    assert model["clash_rate"] < noise["clash_rate"]
    assert model["composition_tv"] < noise["composition_tv"]
    assert model["gly_given_phi_pos"] > noise["gly_given_phi_pos"]
    fold = metrics["folding"]
    assert fold["representation_ca_rmsd"] < fold["ca_rmsd"] < fold["source_ca_rmsd"]
    assert metrics["inverse_folding"]["recovery"] > metrics["inverse_folding"]["uniform_source"]
