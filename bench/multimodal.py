"""Joint multimodal models against same-budget unimodal baselines.

One function per model; ``main`` runs those present and prints one JSON line each.

Both models are run by default (``--only`` picks some).

- ``image_caption``: the digits × captions model of ``examples/image_caption.py`` (one
  ``ProductMLP``, flow on ``R^64`` × masked CTMC on the caption, time per factor) against
  two separate networks, each trained for the same number of steps with the same batch size,
  width and depth: an image-only flow conditioned on the caption (a ``LabelEmbedding`` of
  the 20 distinct captions, condition dropout 0.1, so it is also the unconditional image
  model and is sampled with classifier-free guidance) and a separate caption classifier
  ``p(caption | image)`` on clean training images (an MLP over the 20 captions). The
  baseline's joint samples are unconditional images captioned by the classifier. Both are
  scored with the example's metrics on the same held-out digits, with the per-factor
  training cost (seconds and parameters per network).
- ``protein``: the sequence × structure model of ``examples/protein_codesign.py`` (frames, or
  torsions with ``--structure``) against a structure-only flow plus a sequence-only masked
  CTMC, each trained for the same steps with the example's network and batch; the scores
  and costs of ``bench/multimodal_protein.py``, which runs this one alone.

Usage::

    python bench/multimodal.py             # both models, 3 000 steps each network
    python bench/multimodal.py --only protein --structure torsions
    python bench/multimodal.py --quick     # a smoke test of the script
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn

import genmatch as gm
from genmatch.guidance import ClassifierFreeGuidance

ROOT = Path(__file__).resolve().parents[1]


def _example(name: str, folder: str = "examples"):  # type: ignore[no-untyped-def]
    """The script ``ROOT/folder/name.py`` as a module (registered under ``name``)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / folder / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def image_caption(
    *, steps: int, batch_size: int, hidden: int, depth: int, sample_steps: int,
    classifier_steps: int, seed: int = 0,
) -> dict[str, object]:  # fmt: skip
    """The joint digits × captions model next to an image-only flow + a caption classifier."""
    ex = _example("image_caption")
    data = ex.load_digits(seed)
    clf = ex.train_classifier(
        data.train_images, data.train_labels, steps=classifier_steps, seed=seed
    )
    kwargs = dict(batch_size=batch_size, lr=2e-3, hidden=hidden, depth=depth, seed=seed)
    _, _, generator = ex.build()
    net, fit = ex.train_joint(data, steps, **kwargs)
    joint = ex.evaluate(
        generator, generator.field(net), data, clf, weights=(0.0, 1.0, 3.0),
        sample_steps=sample_steps, caption_steps=ex.LENGTH, seed=seed,
    )  # fmt: skip
    joint["train_cost"] = {
        "joint": {"seconds": fit.seconds, "parameters": _parameters(net)},
        "total_seconds": fit.seconds,
    }

    # the baseline: a caption-conditioned image flow and a caption classifier, same budget each
    vocabulary, caption_ids = torch.unique(data.train_captions, dim=0, return_inverse=True)
    space, flow = gm.EuclideanSpace(64), gm.FlowGenerator()
    path = gm.AffineGaussianPath(gm.CondOT())
    torch.manual_seed(seed)
    image_net = gm.MLP(
        space, flow.head_shapes(space), hidden=hidden, depth=depth,
        condition=gm.nn.LabelEmbedding(vocabulary.shape[0], 32),
    )  # fmt: skip
    opt = torch.optim.AdamW(image_net.parameters(), lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    image_fit = gm.train(
        gm.GeneratorMatchingLoss(path, flow, p_uncond=0.1), image_net, data.train_images,
        conditions=caption_ids, steps=steps, batch_size=batch_size, optimizer=opt,
        scheduler=sched, seed=seed,
    )  # fmt: skip
    image_net.eval()
    captioner, caption_seconds = _caption_classifier(
        data.train_images, caption_ids, vocabulary.shape[0], steps, batch_size, hidden, depth, seed
    )

    def caption(images: Tensor, rng: torch.Generator) -> Tensor:
        with torch.no_grad():
            probs = torch.softmax(captioner(images.clamp(-1, 1)), 1)
        return vocabulary[torch.multinomial(probs, 1, generator=rng)[:, 0]]

    n = data.test_images.shape[0]
    rng = torch.Generator().manual_seed(seed)
    x_0 = torch.randn(n, 64, generator=rng)
    with torch.no_grad():
        images = gm.simulate(flow, image_net, x_0, sample_steps).x
    baseline: dict[str, object] = {
        "joint": ex.joint_scores(images, caption(images, rng), data, clf)
    }
    test_ids = _caption_index(vocabulary, data.test_captions)
    given = {}
    for w in (0.0, 1.0, 3.0):
        with torch.no_grad():
            images = gm.simulate(
                ClassifierFreeGuidance(flow, w), image_net, x_0, sample_steps, condition=test_ids
            ).x  # fmt: skip
        accuracy = float((ex.classify(clf, images) == data.test_labels).float().mean())
        given[f"w={w:g}"] = {
            "accuracy": accuracy,
            **ex.image_quality(images, data.test_images, clf),
        }
    baseline["image_given_caption"] = given
    baseline["caption_given_image"] = ex.caption_scores(caption(data.test_images, rng), data)
    baseline["train_cost"] = {
        "image_flow": {"seconds": image_fit.seconds, "parameters": _parameters(image_net)},
        "caption_classifier": {"seconds": caption_seconds, "parameters": _parameters(captioner)},
        "total_seconds": image_fit.seconds + caption_seconds,
    }
    return {
        "bench": "image_caption",
        "steps": steps,
        "batch_size": batch_size,
        "classifier_held_out_accuracy": float(
            (ex.classify(clf, data.test_images) == data.test_labels).float().mean()
        ),
        **ex.reference_scores(data, clf, seed),
        "joint_model": joint,
        "unimodal_baseline": baseline,
    }


def _caption_index(vocabulary: Tensor, captions: Tensor) -> Tensor:
    """The row of ``vocabulary`` equal to each caption ``(n,)`` (every caption must occur)."""
    match = (captions[:, None, :] == vocabulary[None]).all(2)
    if not bool(match.any(1).all()):
        raise ValueError("a held-out caption does not occur in the training captions")
    return match.float().argmax(1)


def _caption_classifier(
    images: Tensor, ids: Tensor, num_captions: int, steps: int, batch_size: int, hidden: int,
    depth: int, seed: int,
) -> tuple[nn.Module, float]:  # fmt: skip
    """An MLP ``image ↦ logits over the captions``, minibatch Adam, same steps and width."""
    torch.manual_seed(seed)
    layers: list[nn.Module] = [nn.Linear(64, hidden), nn.SiLU()]
    for _ in range(depth - 1):
        layers += [nn.Linear(hidden, hidden), nn.SiLU()]
    net = nn.Sequential(*layers, nn.Linear(hidden, num_captions))
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    rng = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    for _ in range(steps):
        idx = torch.randint(0, images.shape[0], (batch_size,), generator=rng)
        loss = nn.functional.cross_entropy(net(images[idx]), ids[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return net.eval(), time.perf_counter() - start


def protein(
    *, steps: int, batch_size: int, sample_steps: int, structure: str, quick: bool,
    seed: int = 0,
) -> dict[str, object]:  # fmt: skip
    """The joint sequence × structure model of ``examples/protein_codesign.py`` next to a
    structure-only flow + a sequence-only CTMC (``bench/multimodal_protein.py``), same steps,
    batch and network each; ``quick`` shrinks the network and the number of samples."""
    bench = _example("multimodal_protein", "bench")
    sizes = {"d_model": 16, "layers": 1, "num_samples": 32} if quick else {}
    result = bench.protein_benchmark(
        steps=steps, batch_size=batch_size, sample_steps=sample_steps, seed=seed,
        structure=structure, **sizes,
    )  # fmt: skip
    return {"bench": "protein", "steps": steps, **result}


#: the benchmarks of this file, by name; each takes the parsed options
BENCHES: dict[str, Callable[[argparse.Namespace], dict[str, object]]] = {
    "image_caption": lambda a: image_caption(
        steps=a.steps,
        batch_size=256 if a.batch_size is None else a.batch_size,
        hidden=a.hidden,
        depth=a.depth,
        sample_steps=a.sample_steps,
        classifier_steps=a.classifier_steps,
        seed=a.seed,
    ),  # fmt: skip
    "protein": lambda a: protein(
        steps=a.steps,
        batch_size=64 if a.batch_size is None else a.batch_size,
        sample_steps=a.sample_steps,
        structure=a.structure,
        quick=a.quick,
        seed=a.seed,
    ),  # fmt: skip
}


def main(argv: list[str] | None = None) -> list[dict[str, object]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=None, help="training steps per network")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="default: 256 image-caption pairs, 64 protein fragments")  # fmt: skip
    parser.add_argument("--hidden", type=int, default=None, help="image-caption backbone width")
    parser.add_argument("--depth", type=int, default=None, help="image-caption backbone blocks")
    parser.add_argument("--sample-steps", type=int, default=None, help="sampler steps")
    parser.add_argument("--classifier-steps", type=int, default=None, help="the judge's steps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--structure", choices=tuple(_example("protein_codesign").STRUCTURES),
                        default="frames", help="the protein model's structure factor")  # fmt: skip
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHES), default=sorted(BENCHES))
    parser.add_argument("--quick", action="store_true", help="tiny sizes (options still win)")
    parser.add_argument("--out", type=Path, default=None, help="also write the records here")
    args = parser.parse_args(argv)
    defaults = (
        {"steps": 150, "hidden": 128, "depth": 2, "sample_steps": 8, "classifier_steps": 100}
        if args.quick
        else {"steps": 3000, "hidden": 512, "depth": 3, "sample_steps": 50, "classifier_steps": 600}
    )
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    records = []
    for name in args.only:
        record = BENCHES[name](args)
        print(json.dumps(record))
        records.append(record)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(records, indent=2))
    return records


if __name__ == "__main__":
    main()
