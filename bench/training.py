"""Training speed options on the CPU (or a GPU): fp32, bf16 autocast, torch.compile, and
1 against 2 data-parallel processes.

Every variant runs in its own fresh process (``--worker VARIANT``; the 2-process variant
under ``torch.distributed.run --nproc-per-node 2``), so each one's peak memory is its own:
``peak_mb`` is the process's peak resident set (``ru_maxrss``; rank 0's for DDP) on the CPU,
``torch.cuda.max_memory_allocated`` on a GPU. ``steps_per_s`` is what
``genmatch.training.train`` reports for the timed steps, after ``--warmup`` untimed steps
(compilation happens there). The variants alternate over ``--repeats`` rounds, the order
rotating each round; the summary gives each variant's median and its ratio to fp32
(``ddp2`` against ``ddp1``, both at the same global batch, 1 thread per process).

    python bench/training.py                 # defaults
    python bench/training.py --quick --variants fp32,bf16,ddp1,ddp2   # a few seconds

Prints one JSON line per run and a summary line.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
from pathlib import Path

VARIANTS = ("fp32", "bf16", "compiled", "ddp1", "ddp2")


def worker(args: argparse.Namespace) -> None:
    """One timed run of ``args.worker``; prints a JSON line (rank 0)."""
    import torch

    from genmatch import (
        MLP,
        AffineGaussianPath,
        CondOT,
        EuclideanSpace,
        FlowGenerator,
        GeneratorMatchingLoss,
    )
    from genmatch.data import checkerboard
    from genmatch.training import Precision, World, init_from_environment, train

    world = init_from_environment() if args.worker == "ddp2" else World()
    torch.set_num_threads(args.threads)
    device = (
        torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        if (torch.cuda.is_available())
        else torch.device("cpu")
    )
    space = EuclideanSpace(2)
    flow = FlowGenerator()
    torch.manual_seed(0)
    net = MLP(space, flow.head_shapes(space), hidden=args.hidden, depth=args.depth).to(device)
    loss_fn = GeneratorMatchingLoss(AffineGaussianPath(CondOT()), flow, space=space)
    data = checkerboard(20_000, generator=torch.Generator().manual_seed(0)).to(device)
    kwargs = {
        "batch_size": args.batch_size,
        "micro_batches": 2 if args.worker.startswith("ddp") else 1,
        "precision": Precision.BF16 if args.worker == "bf16" else Precision.FP32,
        "compile": args.worker == "compiled",
        "check_every": 50,
    }
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    train(loss_fn, net, data, steps=args.warmup, optimizer=opt, **kwargs)
    # the timed steps continue the same optimizer (a fresh call: steps count from 0)
    result = train(loss_fn, net, data, steps=args.steps, optimizer=opt, **kwargs)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device) / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if world.is_main:
        print(
            json.dumps(
                {
                    "variant": args.worker,
                    "steps_per_s": result.steps_per_second,
                    "peak_mb": peak,
                    "device": device.type,
                }
            ),
            flush=True,
        )
    if world.size > 1:
        torch.distributed.destroy_process_group()


def launch(variant: str, args: argparse.Namespace) -> dict:
    """Run one variant in a fresh process; its JSON record."""
    own = [str(Path(__file__).resolve()), "--worker", variant]
    for name in ("steps", "warmup", "batch_size", "hidden", "depth", "threads"):
        own += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    if variant == "ddp2":
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node",
            "2",
            *own,
        ]
    else:
        cmd = [sys.executable, *own]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{variant} failed:\n{proc.stderr[-3000:]}")
    line = next(x for x in proc.stdout.splitlines() if x.startswith("{"))
    return json.loads(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat")
    parser.add_argument("--worker", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    if args.quick:
        args.steps, args.warmup, args.batch_size, args.hidden, args.repeats = 20, 2, 64, 32, 1
    variants = [v for v in args.variants.split(",") if v]
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants {sorted(unknown)}; choose from {VARIANTS}")
    runs: dict[str, list[dict]] = {v: [] for v in variants}
    for r in range(args.repeats):
        order = variants[r % len(variants) :] + variants[: r % len(variants)]
        for v in order:
            record = launch(v, args)
            runs[v].append(record)
            print(json.dumps({"bench": "training", "repeat": r, **record}), flush=True)
    median = {v: statistics.median(x["steps_per_s"] for x in rs) for v, rs in runs.items()}
    peak = {v: max(x["peak_mb"] for x in rs) for v, rs in runs.items()}
    ratios = {
        v: median[v] / median["fp32"]
        for v in ("bf16", "compiled")
        if v in median and "fp32" in median
    }
    if "ddp1" in median and "ddp2" in median:
        ratios["ddp2/ddp1"] = median["ddp2"] / median["ddp1"]
    print(
        json.dumps(
            {
                "bench": "summary",
                "steps_per_s": median,
                "peak_mb": peak,
                "ratios": ratios,
                "threads": args.threads,
                "batch_size": args.batch_size,
            }
        )
    )


if __name__ == "__main__":
    main()
