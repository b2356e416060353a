"""Command line: ``python -m genmatch demo``."""

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
    args = parser.parse_args(argv)
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
