"""A character-level masked CTMC model of the Python documentation's English text.

Run:  python examples/text_ctmc.py --steps 4000 --out outputs/text_ctmc

Data: the help topics that ship with Python (``pydoc_data.topics``, about 465k characters, no
download), printable ASCII and newlines, cut into windows of ``--length`` characters; the
last 10% of the text is held out. Model: a :class:`~genmatch.nn.SequenceTransformer`
predicting ``p_{1|t}`` (the posterior head of :class:`~genmatch.generators.CTMCGenerator`)
on the factorized mixture path from the all-mask source with a linear ``κ_t``, trained with
the generator-matching loss (cross-entropy of the posterior).

Reported: the ELBO in bits per character on held-out windows
(:func:`genmatch.likelihood.elbo`), and samples drawn with the plain sampler and
with the predictor–corrector (:class:`~genmatch.compose.MixtureCorrector`), each with the
share of its words that occur in the training text. Writes ``metrics.json`` and ``samples.txt``.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path

import torch

import genmatch as gm
from genmatch.compose import MixtureCorrector
from genmatch.data.text import char_windows, decode, encode, help_text
from genmatch.generators import CTMCGenerator
from genmatch.likelihood import elbo
from genmatch.nn import SequenceTransformer
from genmatch.paths import FactorizedMixturePath, LinearKappa
from genmatch.sources import CategoricalSource
from genmatch.spaces import DiscreteSpace


def word_share(samples: list[str], vocabulary: set[str]) -> float:
    """Share of the samples' words (letters only, length ≥ 2) found in ``vocabulary``."""
    words = [w for s in samples for w in re.findall(r"[A-Za-z]{2,}", s)]
    return sum(w in vocabulary for w in words) / max(1, len(words))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--length", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--d-model", type=int, default=128)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--sample-steps", type=int, default=128)
    parser.add_argument("--num-samples", type=int, default=64)
    parser.add_argument("--eval-windows", type=int, default=256)
    parser.add_argument("--out", default="outputs/text_ctmc")
    args = parser.parse_args(argv)

    torch.manual_seed(0)
    text = help_text()
    alphabet = "".join(sorted(set(text)))
    ids = encode(text, alphabet)
    split = int(0.9 * len(ids))
    train_windows = char_windows(ids[:split], args.length, args.length // 4)
    held_out = char_windows(ids[split:], args.length, args.length)
    held_out = held_out[torch.randperm(held_out.shape[0])[: args.eval_windows]]
    vocabulary = set(re.findall(r"[A-Za-z]{2,}", text[:split]))

    space = DiscreteSpace(args.length, len(alphabet), mask=True)
    source = CategoricalSource.masked(space)
    kappa = LinearKappa()
    path = FactorizedMixturePath(space, source, kappa)
    generator = CTMCGenerator(space, kappa, source=source)
    net = SequenceTransformer(
        space, generator.head_shapes(space), d_model=args.d_model, num_layers=args.layers
    )
    loss_fn = gm.GeneratorMatchingLoss(path, generator)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps)
    fit = gm.train(
        loss_fn,
        net,
        train_windows,
        steps=args.steps,
        batch_size=args.batch_size,
        optimizer=opt,
        scheduler=sched,
        seed=0,
    )
    print(
        f"alphabet {len(alphabet)} symbols, {train_windows.shape[0]} training windows of "
        f"{args.length}; {fit.steps_per_second:.1f} steps/s, "
        f"final loss {float(fit.losses[-100:].mean()):.3f}"
    )
    net.eval()
    rng = torch.Generator().manual_seed(1)
    with torch.no_grad():
        nats = torch.cat(
            [
                elbo(net, generator, path, chunk, num_times=8, rng=rng)
                for chunk in held_out.split(64)
            ]
        )
    bits_per_char = float(-nats.mean()) / (args.length * math.log(2))

    samplers = {
        "plain": generator,
        "predictor-corrector": MixtureCorrector(generator, source, lambda t: 2.0 * t * (1 - t)),
    }
    metrics: dict = {
        "elbo_bits_per_char": bits_per_char,
        "held_out_windows": held_out.shape[0],
        "train_steps": args.steps,
        "final_loss": float(fit.losses[-100:].mean()),
        "samplers": {},
    }
    lines = []
    for name, sampler in samplers.items():
        x_0 = source.sample(args.num_samples, generator=rng)
        out = gm.simulate(sampler, net, x_0, args.sample_steps, rng=rng, space=space)
        samples = decode(out.x, alphabet)
        share = word_share(samples, vocabulary)
        metrics["samplers"][name] = {"known_word_share": share, "nfe": out.nfe}
        lines.append(f"== {name} (words found in the training text: {share:.1%})")
        lines += [repr(s) for s in samples[:6]]
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    (out_dir / "samples.txt").write_text("\n".join(lines) + "\n")
    print(f"held-out ELBO: {bits_per_char:.3f} bits per character (an upper bound on the NLL)")
    print("\n".join(lines))
    return metrics


if __name__ == "__main__":
    main()
