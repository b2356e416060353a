"""Throughput of genmatch against hand-written PyTorch loops (CPU, float32).

One process measures four comparisons, each on the same network class
(``genmatch.MLP(EuclideanSpace(2), {"velocity": (2,)})``), the same data, initial weights and
seeds:

``train``
    A minimal conditional-flow-matching step written by hand (CondOT: ``x_0 ~ N(0, I)``,
    ``t ~ U[0, 1]``, ``x_t = t x_1 + (1 - t) x_0``, target ``x_1 - x_0``,
    ``loss = ((v - target)**2).sum(1).mean()``, Adam) against the same step with the loss
    ``GeneratorMatchingLoss(AffineGaussianPath(CondOT()), FlowGenerator())``. The two draw
    their randomness in the same order (batch indices, ``t``, ``x_0``), so they compute the
    same losses bit for bit; the final weights of the two networks are compared as a check.
``train_loop``
    The same hand-written loop against :func:`genmatch.train` (which adds deferred
    finiteness checks and keeps the losses), timed externally around each call.
``sample_euler`` / ``sample_rk4``
    A hand-written Euler (RK4) loop under ``torch.no_grad()`` against
    ``genmatch.simulate(FlowGenerator(solver=...), net, x_0, TimeGrid.uniform(steps))``.

Every variant is warmed up, then the variants of one comparison run in interleaved repeats
whose order rotates (``raw, genmatch``, ``genmatch, raw``, ...), so slow drift of a noisy
machine hits all of them alike. Each comparison reports the median steps per second over the
repeats and ``ratio = median(genmatch) / median(raw)`` (``> 1``: genmatch is faster), plus the
median of the per-repeat paired ratios and their ``spread`` (max/min). A final ``summary``
line gives the training ratio, the worse of the two sampling ratios, whether both meet the
target, and ``stable``: whether every spread stayed below ``MAX_SPREAD``. With torch's
default of one thread per core, any other busy process on a small machine can slow a
repeat down many times over (torch's threads wait on a stolen core); ``stable: false`` flags
such a run, which should be repeated on a quiet machine or with ``--threads 1``.

Target: ``ratio >= 0.95`` for training and for sampling, i.e. genmatch costs at most 5% over
the hand-written loops. The exit status is 0 whatever the ratios: this is a measurement, not
a test.

Usage::

    python bench/throughput.py            # defaults, under a minute on a quiet 2-core CPU
    python bench/throughput.py --quick    # tiny sizes, a smoke test of the script itself
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import math
import os
import statistics
import time
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

import genmatch
from genmatch import (
    MLP,
    RK4,
    AffineGaussianPath,
    CondOT,
    EuclideanSpace,
    FlowGenerator,
    GeneratorMatchingLoss,
    TimeGrid,
)
from genmatch.data import checkerboard

TARGET = 0.95
#: Largest max/min of the per-repeat paired ratios still called a stable measurement.
MAX_SPREAD = 1.25
SEED = 0
DATA_SIZE = 100_000
LR = 1e-3

DEFAULTS = {
    "steps": 300,
    "warmup": 30,
    "batch_size": 256,
    "hidden": 256,
    "depth": 3,
    "sample_batch": 2048,
    "sample_steps": 100,
    "repeats": 5,
}
QUICK = {
    "steps": 10,
    "warmup": 3,
    "batch_size": 64,
    "hidden": 32,
    "depth": 2,
    "sample_batch": 128,
    "sample_steps": 10,
    "repeats": 3,
}

#: Runs ``n`` steps of one variant and returns the seconds they took.
Runner = Callable[[int], float]


# --------------------------------------------------------------------------- measurement


#: glibc's malloc serves large blocks (a 2048 x 256 float32 activation is 2 MiB) with fresh
#: mmap pages unless its *dynamic* threshold has risen, which depends on the process's
#: allocation history; fresh pages cost page faults on every layer, so two loops doing the
#: same work could differ by 20% for no reason of their own. Pinning the thresholds makes
#: the allocator behave the same for every variant.
PINNED_MALLOC = {"MALLOC_MMAP_THRESHOLD_": "67108864", "MALLOC_TRIM_THRESHOLD_": "268435456"}


def pin_allocator(argv: Sequence[str] | None) -> None:
    """Re-run this script with :data:`PINNED_MALLOC` in the environment, unless it is set.

    Only when run as a script (``argv is None``) on Linux; a no-op otherwise.
    """
    import sys

    if argv is not None or not sys.platform.startswith("linux"):
        return
    if all(os.environ.get(k) == v for k, v in PINNED_MALLOC.items()):
        return
    os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **PINNED_MALLOC})


def _timed(fn: Callable[[], object]) -> float:
    """Seconds ``fn()`` takes, with the garbage collector off (as ``timeit`` does)."""
    gc.collect()
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        tic = time.perf_counter()
        fn()
        return time.perf_counter() - tic
    finally:
        if gc_was_enabled:
            gc.enable()


def interleaved(
    runners: dict[str, Runner], steps: int, warmup: int, repeats: int
) -> dict[str, list[float]]:
    """Steps per second of each runner in each repeat.

    Every runner first runs ``warmup`` steps untimed; then each repeat runs every runner for
    ``steps`` steps, the order rotating by one from repeat to repeat.
    """
    names = list(runners)
    if warmup > 0:
        for name in names:
            runners[name](warmup)
    rates: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            seconds = runners[name](steps)
            rates[name].append(steps / seconds)
    return rates


def compare(bench: str, raw: Sequence[float], gm: Sequence[float], **extra: object) -> dict:
    """The JSON record of one comparison."""
    raw_med = statistics.median(raw)
    gm_med = statistics.median(gm)
    paired = [g / r for g, r in zip(gm, raw, strict=True)]
    return {
        "bench": bench,
        "raw_steps_per_s": round(raw_med, 2),
        "genmatch_steps_per_s": round(gm_med, 2),
        "ratio": round(gm_med / raw_med, 4),
        "paired_ratio_median": round(statistics.median(paired), 4),
        "paired_ratio_min": round(min(paired), 4),
        "paired_ratio_max": round(max(paired), 4),
        # max/min of the paired ratios: near 1 on a quiet machine, far above under contention.
        "spread": round(max(paired) / min(paired), 3),
        **extra,
    }


# --------------------------------------------------------------------------- training


def make_net(hidden: int, depth: int) -> nn.Module:
    torch.manual_seed(SEED)
    return MLP(EuclideanSpace(2), {"velocity": (2,)}, hidden=hidden, depth=depth)


def raw_train_runner(net: nn.Module, data: Tensor, batch_size: int) -> Runner:
    """The hand-written CondOT flow-matching loop."""
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    rng = torch.Generator().manual_seed(SEED)
    n_data = data.shape[0]

    def loop(n: int) -> None:
        for _ in range(n):
            idx = torch.randint(n_data, (batch_size,), generator=rng)
            x_1 = data[idx]
            t = torch.rand(batch_size, generator=rng)
            x_0 = torch.randn(x_1.shape, generator=rng)
            tt = t[:, None]
            x_t = tt * x_1 + (1 - tt) * x_0
            target = x_1 - x_0
            v = net(x_t, t)["velocity"]
            loss = ((v - target) ** 2).sum(1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    return lambda n: _timed(lambda: loop(n))


def genmatch_train_runner(net: nn.Module, data: Tensor, batch_size: int) -> Runner:
    """The same loop with genmatch's loss."""
    loss_fn = GeneratorMatchingLoss(AffineGaussianPath(CondOT()), FlowGenerator())
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    rng = torch.Generator().manual_seed(SEED)
    n_data = data.shape[0]

    def loop(n: int) -> None:
        for _ in range(n):
            idx = torch.randint(n_data, (batch_size,), generator=rng)
            x_1 = data[idx]
            loss = loss_fn(net, x_1, generator=rng)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    return lambda n: _timed(lambda: loop(n))


def genmatch_train_loop_runner(
    net: nn.Module, data: Tensor, batch_size: int, internal: list[float]
) -> Runner:
    """:func:`genmatch.train` itself; its own ``steps_per_second`` goes to ``internal``."""
    loss_fn = GeneratorMatchingLoss(AffineGaussianPath(CondOT()), FlowGenerator())
    opt = torch.optim.Adam(net.parameters(), lr=LR)

    def run(n: int) -> float:
        box: list[genmatch.TrainResult] = []
        seconds = _timed(
            lambda: box.append(
                genmatch.train(
                    loss_fn, net, data, steps=n, batch_size=batch_size, optimizer=opt, seed=SEED
                )
            )
        )
        internal.append(box[0].steps_per_second)
        return seconds

    return run


def max_param_diff(a: nn.Module, b: nn.Module) -> float:
    with torch.no_grad():
        pairs = zip(a.parameters(), b.parameters(), strict=True)
        return max(float((p - q).abs().max()) for p, q in pairs)


def bench_train(args: argparse.Namespace, threads: int) -> tuple[dict, dict]:
    data = checkerboard(DATA_SIZE, generator=torch.Generator().manual_seed(SEED))
    base = make_net(args.hidden, args.depth)
    raw_net, gm_net, loop_net = (copy.deepcopy(base) for _ in range(3))
    internal: list[float] = []
    runners = {
        "raw": raw_train_runner(raw_net, data, args.batch_size),
        "genmatch": genmatch_train_runner(gm_net, data, args.batch_size),
        "train_loop": genmatch_train_loop_runner(loop_net, data, args.batch_size, internal),
    }
    rates = interleaved(runners, args.steps, args.warmup, args.repeats)
    common = {
        "batch_size": args.batch_size,
        "hidden": args.hidden,
        "depth": args.depth,
        "steps": args.steps,
        "warmup": args.warmup,
        "threads": threads,
        "repeats": args.repeats,
    }
    train = compare(
        "train",
        rates["raw"],
        rates["genmatch"],
        # Same seeds, same draw order, same arithmetic: the two nets must end up identical.
        max_abs_weight_diff=max_param_diff(raw_net, gm_net),
        **common,
    )
    loop = compare(
        "train_loop",
        rates["raw"],
        rates["train_loop"],
        genmatch_internal_steps_per_s=round(statistics.median(internal[-args.repeats :]), 2),
        **common,
    )
    return train, loop


# --------------------------------------------------------------------------- sampling


def raw_euler(net: nn.Module, x_0: Tensor, steps: int) -> Tensor:
    h = 1.0 / steps
    batch = x_0.shape[0]
    x = x_0
    with torch.no_grad():
        for i in range(steps):
            t = torch.full((batch,), i * h)
            x = x + h * net(x, t)["velocity"]
    return x


def raw_rk4(net: nn.Module, x_0: Tensor, steps: int) -> Tensor:
    h = 1.0 / steps
    half = 0.5 * h
    batch = x_0.shape[0]
    x = x_0
    with torch.no_grad():
        for i in range(steps):
            t = torch.full((batch,), i * h)
            k1 = net(x, t)["velocity"]
            k2 = net(x + half * k1, t + half)["velocity"]
            k3 = net(x + half * k2, t + half)["velocity"]
            k4 = net(x + h * k3, t + h)["velocity"]
            x = x + (h / 6.0) * (k1 + 2 * (k2 + k3) + k4)
    return x


def bench_sample(
    name: str,
    raw_fn: Callable[[nn.Module, Tensor, int], Tensor],
    flow: FlowGenerator,
    net: nn.Module,
    x_0: Tensor,
    args: argparse.Namespace,
    threads: int,
) -> dict:
    def gm_fn(n: int) -> Tensor:
        return genmatch.simulate(flow, net, x_0, TimeGrid.uniform(n)).x

    # The two must integrate the same ODE (the grids differ only in rounding).
    diff = float((raw_fn(net, x_0, args.sample_steps) - gm_fn(args.sample_steps)).abs().max())
    runners: dict[str, Runner] = {
        "raw": lambda n: _timed(lambda: raw_fn(net, x_0, n)),
        "genmatch": lambda n: _timed(lambda: gm_fn(n)),
    }
    rates = interleaved(
        runners, args.sample_steps, min(args.warmup, args.sample_steps), args.repeats
    )
    return compare(
        name,
        rates["raw"],
        rates["genmatch"],
        max_abs_diff=diff,
        nfe_per_step=flow.nfe_per_step,
        sample_batch=args.sample_batch,
        sample_steps=args.sample_steps,
        hidden=args.hidden,
        depth=args.depth,
        threads=threads,
        repeats=args.repeats,
    )


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, help="training steps per timed repeat (300)")
    parser.add_argument("--warmup", type=int, help="untimed warm-up steps per variant (30)")
    parser.add_argument("--batch-size", type=int, help="training batch size (256)")
    parser.add_argument("--hidden", type=int, help="MLP width (256)")
    parser.add_argument("--depth", type=int, help="MLP hidden layers (3)")
    parser.add_argument("--sample-batch", type=int, help="points simulated at once (2048)")
    parser.add_argument("--sample-steps", type=int, help="solver steps per simulation (100)")
    parser.add_argument("--repeats", type=int, help="interleaved timed repeats (5)")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: unchanged)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
    args = parser.parse_args(argv)
    fill = QUICK if args.quick else DEFAULTS
    for key, value in fill.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    for key in DEFAULTS:
        minimum = 0 if key == "warmup" else 1
        if getattr(args, key) < minimum:
            parser.error(f"--{key.replace('_', '-')} must be >= {minimum}")
    if args.threads is not None and args.threads < 1:
        parser.error("--threads must be >= 1")
    return args


def _loadavg() -> float | None:
    """The 1-minute load average, where the platform has one."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def emit(record: dict) -> None:
    print(json.dumps(record), flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    pin_allocator(argv)
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    load_start = _loadavg()

    train, loop = bench_train(args, threads)
    emit(train)

    net = make_net(args.hidden, args.depth).eval()
    x_0 = torch.randn(args.sample_batch, 2, generator=torch.Generator().manual_seed(SEED + 1))
    euler = bench_sample("sample_euler", raw_euler, FlowGenerator(), net, x_0, args, threads)
    emit(euler)
    rk4 = bench_sample("sample_rk4", raw_rk4, FlowGenerator(solver=RK4()), net, x_0, args, threads)
    emit(rk4)
    emit(loop)

    train_ratio = train["ratio"]
    sample_ratio = min(euler["ratio"], rk4["ratio"])
    ok = all(math.isfinite(r) for r in (train_ratio, sample_ratio))
    spreads = [r["spread"] for r in (train, euler, rk4)]
    emit(
        {
            "bench": "summary",
            "train_ratio": train_ratio,
            "sample_ratio": sample_ratio,
            "train_loop_ratio": loop["ratio"],
            "target": TARGET,
            "met": ok and train_ratio >= TARGET and sample_ratio >= TARGET,
            # False when the repeats disagree by more than MAX_SPREAD: the machine was busy
            # (other processes steal the cores torch's threads spin on); rerun, or use --threads 1.
            "stable": max(spreads) <= MAX_SPREAD,
            "max_spread": max(spreads),
            "loadavg_start": load_start,
            "loadavg_end": _loadavg(),
            "torch": torch.__version__,
            "threads": threads,
        }
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
