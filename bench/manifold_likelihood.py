"""Manifold log-likelihood: exact divergence against Hutchinson's estimate, side by side.

On products of ``N`` copies of ``SO(3)`` (backbone frames of ``N`` residues, ``9N`` ambient
coordinates) with an MLP velocity field on the flattened rotations, for each ``N``:

``divergence``
    seconds per call of ``riemannian_divergence`` (batch ``--batch``), exact (one ``jvp`` per
    ambient coordinate) and Hutchinson (one ``jvp``, Rademacher probe); ``speedup`` is
    exact / Hutchinson.
``log_likelihood``
    ``manifold_log_likelihood`` of ``--points`` points over ``--steps`` RK4 steps, both ways
    (seconds and speedup), the mean per-point difference between the exact log-likelihood and
    the average of ``--probes`` Hutchinson estimates (unbiased, so it fluctuates around 0
    within ``probe_std / sqrt(probes)``) and the per-point standard deviation of a single
    Hutchinson estimate (the price of the speed).

``power_vs_product``
    the Hutchinson likelihood of the same states on the power ``SO(3)^N`` (event
    ``(N, 3, 3)``, every map one batched call) instead of the ``ProductManifold`` (a Python loop
    over its factors): seconds both ways, ``speedup`` = product / power, and the largest
    difference of the two log-likelihoods (same probes: equal up to rounding).

Every record is one JSON line; timings are medians of ``--repeats`` interleaved runs.

Usage::

    python bench/manifold_likelihood.py          # N = 1, 4, 16: about two minutes on 2 CPU cores
    python bench/manifold_likelihood.py --quick  # tiny sizes, a smoke test of the script
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence

import geoopt
import torch
from torch import Tensor, nn

from genmatch.likelihood import HutchinsonDivergence, manifold_log_likelihood, riemannian_divergence
from genmatch.manifolds import SO3
from genmatch.sources import ProductSource, UniformSource
from genmatch.spaces import ManifoldSpace

SEED = 0


def frames(n: int) -> ManifoldSpace:
    """``SO(3)^n`` with points packed as ``(batch, 9n)``."""
    return ManifoldSpace(geoopt.ProductManifold(*[(SO3(), (3, 3))] * n), (9 * n,))


def field(dim: int, hidden: int) -> Callable[[Tensor, Tensor], Tensor]:
    torch.manual_seed(SEED)
    net = nn.Sequential(
        nn.Linear(dim + 1, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
        nn.Linear(hidden, dim),
    )  # fmt: skip
    for p in net.parameters():
        p.requires_grad_(False)
    return lambda x, t: net(torch.cat([x, t[:, None]], 1))


def median_seconds(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median wall-clock seconds of each function, runs interleaved (after one warm-up)."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for fn in fns.values():
        fn()
    for _ in range(repeats):
        for key, fn in fns.items():
            tic = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - tic)
    return {k: statistics.median(v) for k, v in times.items()}


def bench(n: int, args: argparse.Namespace) -> list[dict]:
    space = frames(n)
    u = field(9 * n, args.hidden)
    source = ProductSource(space)
    g = torch.Generator().manual_seed(SEED)
    x = source.sample(args.batch, generator=g)
    t = torch.full((args.batch,), 0.5)
    probe = HutchinsonDivergence().prepare(x, g)
    secs = median_seconds(
        {
            "exact": lambda: riemannian_divergence(space, u, x, t),
            "hutchinson": lambda: riemannian_divergence(space, u, x, t, probe=probe),
        },
        args.repeats,
    )
    records = [
        {
            "bench": "divergence",
            "frames": n,
            "ambient_dim": 9 * n,
            "batch": args.batch,
            "exact_s": secs["exact"],
            "hutchinson_s": secs["hutchinson"],
            "speedup": secs["exact"] / secs["hutchinson"],
        }
    ]

    def loglik(estimator: HutchinsonDivergence | None, points: Tensor, seed: int) -> Tensor:
        return manifold_log_likelihood(
            space,
            u,
            points,
            source.log_prob,
            args.steps,
            divergence=estimator,
            generator=torch.Generator().manual_seed(seed),
        ).log_prob

    y = x[: args.points]
    secs = median_seconds(
        {
            "exact": lambda: loglik(None, y, 0),
            "hutchinson": lambda: loglik(HutchinsonDivergence(), y, 0),
        },
        max(1, args.repeats // 2),
    )
    exact = loglik(None, y, 0)
    # the spread over probes, all in one batch: the trajectory is the same, only the probe differs
    reps = y.repeat(args.probes, 1)
    est = loglik(HutchinsonDivergence(), reps, 1).reshape(args.probes, -1)
    # the same states as the power SO(3)^n (event (n, 3, 3)): elementwise maps in one call
    power = ManifoldSpace(SO3(), (n, 3, 3))

    def u_power(x: Tensor, t: Tensor) -> Tensor:
        return u(x.reshape(x.shape[0], -1), t).reshape(x.shape)

    y_power = y.reshape(-1, n, 3, 3)

    def loglik_power() -> Tensor:
        return manifold_log_likelihood(
            power,
            u_power,
            y_power,
            UniformSource(power).log_prob,
            args.steps,
            divergence=HutchinsonDivergence(),
            generator=torch.Generator().manual_seed(0),
        ).log_prob

    power_s = median_seconds({"power": loglik_power}, max(1, args.repeats // 2))["power"]
    records.append(
        {
            "bench": "power_vs_product",
            "frames": n,
            "product_s": secs["hutchinson"],
            "power_s": power_s,
            "speedup": secs["hutchinson"] / power_s,
            "max_abs_diff": float(
                (loglik_power() - loglik(HutchinsonDivergence(), y, 0)).abs().max()
            ),
        }
    )
    records.append(
        {
            "bench": "log_likelihood",
            "frames": n,
            "points": args.points,
            "steps": args.steps,
            "exact_s": secs["exact"],
            "hutchinson_s": secs["hutchinson"],
            "speedup": secs["exact"] / secs["hutchinson"],
            "mean_diff": float((est.mean(0) - exact).mean()),
            "probe_std": float(est.std(0).mean()),
            "exact_log_prob_mean": float(exact.mean()),
        }
    )
    return records


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, nargs="+", default=None)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--points", type=int, default=8)
    parser.add_argument("--probes", type=int, default=32)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke test)")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.frames is None:
        args.frames = [1, 2] if args.quick else [1, 4, 16]
    if args.quick:
        args.batch, args.hidden, args.points = 8, 16, 2
        args.probes, args.steps, args.repeats = 4, 2, 1
    for n in args.frames:
        for record in bench(n, args):
            print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main(None if len(sys.argv) > 1 else [])
