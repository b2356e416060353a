"""Classifier-free guidance of a masked character CTMC on topics: accuracy against diversity.

Run:  python examples/guidance_text.py --steps 2000 --out outputs/guidance_text

Data: windows of 32 characters of Python's own help text (:mod:`genmatch.data.text`, no
download), labelled with one of four topics (special methods, compound statements, strings,
the debugger); the end of each topic's text is held out. Model: one
:class:`~genmatch.nn.SequenceTransformer` with a :class:`~genmatch.nn.LabelEmbedding`
condition, the posterior head of a masked :class:`~genmatch.generators.CTMCGenerator`,
trained with condition dropout (``p_uncond``), so that one network gives ``p_{1|t}(·|x, c)``
and ``p_{1|t}(·|x)``. Sampling: :class:`~genmatch.guidance.ClassifierFreeGuidance`, which
guides the rates geometrically, ``R_c^{1+w} R^{−w}`` (valid rates for every ``w ≥ −1``).

Scored for every weight ``w``, on ``--num-samples`` samples per topic:

- **accuracy**: a character 4-gram naive Bayes classifier trained on the real training windows
  (its held-out accuracy on real windows is reported as the reference) assigns the sample to
  the topic it was conditioned on;
- **diversity**: the mean normalised Hamming distance between two samples of the same topic
  (real held-out windows give the reference), and the share of distinct 4-grams;
- **known words**: the share of the samples' words that occur in the training text.

Writes ``metrics.json``, ``samples.txt`` and ``guidance.png`` (accuracy against diversity).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import torch
from torch import Tensor

import genmatch as gm
from genmatch.data.text import decode, topic_windows
from genmatch.generators import CTMCGenerator
from genmatch.guidance import ClassifierFreeGuidance
from genmatch.nn import LabelEmbedding, SequenceTransformer
from genmatch.paths import FactorizedMixturePath, LinearKappa
from genmatch.sources import CategoricalSource
from genmatch.spaces import DiscreteSpace

#: The four topics, each a group of help sections.
TOPICS = {
    "special methods": ["specialnames", "customization", "attribute-access"],
    "statements": ["compound", "try", "function", "class"],
    "strings": ["formatstrings", "string-methods", "strings"],
    "debugger": ["debugger"],
}


class NGramBayes:
    """Multinomial naive Bayes on hashed character ``n``-grams (the evaluation classifier).

    ``log p(k | x) ∝ Σ_j log θ_k(g_j(x))`` over the ``n``-grams ``g_j`` of ``x`` with
    ``θ_k`` the smoothed ``n``-gram frequencies of topic ``k`` (uniform topic prior, so a
    sample is judged by its text alone, not by how common its topic is).
    """

    def __init__(self, x: Tensor, labels: Tensor, vocab: int, n: int = 4, buckets: int = 1 << 15):
        self.vocab, self.n, self.buckets = vocab, n, buckets
        k = int(labels.max()) + 1
        grams = self._grams(x)
        counts = torch.zeros(k, buckets, dtype=torch.float64)
        counts.index_put_(
            (labels[:, None].expand_as(grams), grams),
            torch.ones_like(grams, dtype=torch.float64),
            accumulate=True,
        )
        self.log_theta = (counts + 0.1).log() - (counts + 0.1).sum(1, keepdim=True).log()

    def _grams(self, x: Tensor) -> Tensor:
        length = x.shape[1] - self.n + 1
        ids = x[:, :length].clone()
        for j in range(1, self.n):
            ids = ids * (self.vocab + 1) + x[:, j : j + length]
        return ids % self.buckets

    def predict(self, x: Tensor) -> Tensor:
        """The most likely topic of each window, ``(n,)``."""
        return self.log_theta[:, self._grams(x)].sum(-1).argmax(0)


def diversity(x: Tensor, labels: Tensor) -> dict[str, float]:
    """Mean normalised Hamming distance between two windows of the same topic, and the share
    of distinct 4-grams among all 4-grams of the windows."""
    hamming = []
    for k in labels.unique():
        xs = x[labels == k]
        if xs.shape[0] > 1:
            d = (xs[:, None, :] != xs[None, :, :]).double().mean(-1)
            m = xs.shape[0]
            hamming.append(float(d.sum() / (m * (m - 1))))
    grams = x.unfold(1, 4, 1).reshape(-1, 4)
    distinct = grams.unique(dim=0).shape[0] / grams.shape[0]
    return {"hamming": sum(hamming) / len(hamming), "distinct_4grams": distinct}


def known_words(samples: list[str], vocabulary: set[str]) -> float:
    """Share of the samples' words (letters only, length ≥ 3) found in ``vocabulary``."""
    words = [w for s in samples for w in re.findall(r"[A-Za-z]{3,}", s)]
    return sum(w in vocabulary for w in words) / max(1, len(words))


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--length", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--d-model", type=int, default=128)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--p-uncond", type=float, default=0.2)
    parser.add_argument("--weights", type=float, nargs="+", default=[0.0, 0.5, 1.0, 2.0, 3.0])
    parser.add_argument("--num-samples", type=int, default=64, help="samples per topic")
    parser.add_argument("--sample-steps", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("outputs/guidance_text"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    data = topic_windows(TOPICS, args.length, stride=4)
    vocab, k = len(data.alphabet), len(data.topics)
    classifier = NGramBayes(data.train, data.train_labels, vocab)
    real_accuracy = float(
        (classifier.predict(data.held_out) == data.held_out_labels).double().mean()
    )
    vocabulary = set(re.findall(r"[A-Za-z]{3,}", "".join(decode(data.train, data.alphabet))))

    space = DiscreteSpace(args.length, vocab, mask=True)
    source = CategoricalSource.masked(space)
    kappa = LinearKappa()
    path = FactorizedMixturePath(space, source, kappa)
    ctmc = CTMCGenerator(space, kappa, source=source)
    torch.manual_seed(args.seed)
    net = SequenceTransformer(
        space,
        ctmc.head_shapes(space),
        d_model=args.d_model,
        num_layers=args.layers,
        condition=LabelEmbedding(k, args.d_model),
    )
    loss = gm.GeneratorMatchingLoss(path, ctmc, p_uncond=args.p_uncond)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps)
    fit = gm.train(
        loss,
        net,
        data.train,
        conditions=data.train_labels,
        steps=args.steps,
        batch_size=args.batch_size,
        optimizer=opt,
        scheduler=sched,
        seed=args.seed,
    )
    net.eval()

    g = torch.Generator().manual_seed(args.seed)
    c = torch.arange(k).repeat_interleave(args.num_samples)
    x_0 = torch.full((c.shape[0], args.length), space.mask_token)

    def score(x: Tensor) -> dict[str, float]:
        return {
            "accuracy": float((classifier.predict(x) == c).double().mean()),
            **diversity(x, c),
            "known_words": known_words(decode(x, data.alphabet), vocabulary),
        }

    held = torch.randperm(data.held_out.shape[0], generator=g)[: c.shape[0]]
    metrics: dict[str, object] = {
        "train_windows": data.train.shape[0],
        "alphabet": vocab,
        "topics": list(data.topics),
        "classifier_held_out_accuracy": real_accuracy,
        "real_held_out": {
            **diversity(data.held_out[held], data.held_out_labels[held]),
            "known_words": known_words(decode(data.held_out[held], data.alphabet), vocabulary),
        },
        "train_steps": args.steps,
        "steps_per_second": fit.steps_per_second,
        "final_loss": float(fit.losses[-100:].mean()),
        "nfe": args.sample_steps,
    }
    lines: list[str] = []
    with torch.no_grad():
        for w in args.weights:
            cfg = ClassifierFreeGuidance(ctmc, w)
            rng = torch.Generator().manual_seed(args.seed + 1)
            x = gm.simulate(cfg, net, x_0, args.sample_steps, condition=c, rng=rng).x
            metrics[f"w={w:g}"] = {"model": score(x)}
            lines.append(f"== w = {w:g}")
            for topic in range(k):
                lines.append(f"-- {data.topics[topic]}")
                lines += [repr(s) for s in decode(x[c == topic][:3], data.alphabet)]
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    (args.out / "samples.txt").write_text("\n".join(lines) + "\n")
    _plot(metrics, args.weights, args.out / "guidance.png")
    print(json.dumps(metrics, indent=2))
    print("\n".join(lines))
    return metrics


def _plot(metrics: dict[str, object], weights: list[float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    rows = [metrics[f"w={w:g}"]["model"] for w in weights]  # type: ignore[index]
    ax.plot([r["hamming"] for r in rows], [r["accuracy"] for r in rows], "o-", label="model")
    for w, r in zip(weights, rows, strict=True):
        ax.annotate(f"w={w:g}", (r["hamming"], r["accuracy"]), fontsize=7)
    real = metrics["real_held_out"]
    ax.axhline(
        metrics["classifier_held_out_accuracy"], color="grey", ls=":", label="real (held out)"
    )
    ax.axvline(real["hamming"], color="grey", ls=":")  # type: ignore[index]
    ax.set_xlabel("diversity: Hamming distance within a topic")
    ax.set_ylabel("topic accuracy (4-gram classifier)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
