"""Command line: ``genmatch demo``, ``genmatch train CONFIG``, ``genmatch sample CHECKPOINT``.

``genmatch train`` runs data-parallel under ``torchrun --nproc-per-node N -m genmatch train
CONFIG`` (see ``docs/training.md``)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``genmatch`` command."""
    parser = argparse.ArgumentParser(prog="genmatch", description="Generator matching.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo", help="train a flow on the checkerboard and compare with the oracle"
    )
    demo.add_argument("--steps", type=int, default=20000, help="training steps (default 20000)")
    demo.add_argument("--batch-size", type=int, default=512)
    demo.add_argument("--sample-steps", type=int, default=25, help="RK4 steps (NFE = 4x)")
    demo.add_argument("--num-samples", type=int, default=4000)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--out", default="outputs/demo", help="output folder")
    demo.add_argument("--no-progress", action="store_true")
    tr = sub.add_parser("train", help="train from a TOML config (data-parallel under torchrun)")
    tr.add_argument("config", help="a TOML config file (see configs/)")
    tr.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override a config value, e.g. --set run.steps=100 (repeatable)",
    )
    sa = sub.add_parser("sample", help="sample and score a checkpoint written by `train`")
    sa.add_argument("checkpoint", help="the checkpoint.pt of a `genmatch train` run")
    sa.add_argument("--num-samples", type=int, default=None)
    sa.add_argument("--steps", type=int, default=None, help="solver steps")
    sa.add_argument("--raw", action="store_true", help="sample the raw weights, not the EMA")
    sa.add_argument("--out", default=None, help="output folder (default: the checkpoint's)")
    args = parser.parse_args(argv)
    if args.command in ("train", "sample"):
        from genmatch.training.checkpoint import CheckpointError
        from genmatch.training.config import ConfigError, load_config
        from genmatch.training.experiment import run_sampling, run_training

        scores: dict[str, float | str]
        try:
            if args.command == "train":
                scores = dict(run_training(load_config(args.config, args.set)))
            else:
                scores = run_sampling(
                    args.checkpoint,
                    num_samples=args.num_samples,
                    steps=args.steps,
                    raw=args.raw,
                    out=args.out,
                )
        except (ConfigError, CheckpointError) as e:
            parser.exit(2, f"genmatch {args.command}: error: {e}\n")
        print(json.dumps(scores, indent=2))
        return 0
    if args.command == "demo":
        from genmatch.demo import DemoConfig, run_demo

        metrics = run_demo(
            DemoConfig(
                steps=args.steps,
                batch_size=args.batch_size,
                sample_steps=args.sample_steps,
                num_samples=args.num_samples,
                seed=args.seed,
                out=args.out,
                progress=not args.no_progress,
            )
        )
        print(json.dumps(metrics, indent=2))
        print(f"wrote {args.out}/samples.png and {args.out}/metrics.json")
    return 0
