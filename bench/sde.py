"""SDE sampling overhead: genmatch against hand-written Euler–Maruyama loops (CPU, float32).

Two comparisons, each on the same ``genmatch.MLP``, initial points and noise draws:

``sde_langevin``
    Flow + Langevin(β = 1) on a VP path (``VPLinear``): the SDE
    ``dX = [u + ½ β² ∇log p_t] dt + β dW`` of eq. 10.15, with the score derived from the
    velocity head. genmatch: ``simulate(Langevin(FlowGenerator(), constant_beta(1),
    score_from_velocity(VPLinear())), net, x_0, steps)``; raw: the same update with the
    schedule and the velocity → score conversion written out by hand.
``sde_diffusion``
    A learned drift and diagonal diffusion coefficient (heads ``drift``, ``diffusion``, the
    latter through softplus). genmatch: ``simulate(DiffusionGenerator(structure=DIAGONAL),
    net, x_0, steps)``; raw: ``x + h b + sqrt(h Σ) ξ`` by hand.

Both draw their noise from one seeded generator in the same order, so each pair computes the
same samples (``max_abs_diff`` reports the largest difference). Timing, interleaving and the
JSON records are those of ``bench/throughput.py``: ``ratio = median(genmatch)/median(raw)``
steps per second, target ``>= 0.95``. genmatch runs with its default value checks on.
Like ``throughput.py`` it pins glibc's malloc thresholds (``PINNED_MALLOC``) so the
allocator treats both loops alike.

Usage::

    python bench/sde.py                 # defaults, well under a minute on a quiet 2-core CPU
    python bench/sde.py --quick         # tiny sizes, a smoke test of the script
    python bench/sde.py --threads 1     # less sensitive to other load
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))

from throughput import (  # noqa: E402
    MAX_SPREAD,
    TARGET,
    _loadavg,
    _timed,
    compare,
    emit,
    interleaved,
    pin_allocator,
)

import genmatch as gm  # noqa: E402
from genmatch.compose import Langevin, constant_beta  # noqa: E402
from genmatch.diffusion import score_from_velocity  # noqa: E402
from genmatch.generators import DiffusionGenerator, DiffusionStructure  # noqa: E402

SEED = 0
BETA = 1.0
VP = gm.VPLinear()


def raw_langevin(net: nn.Module, x_0: Tensor, steps: int, rng: torch.Generator) -> Tensor:
    """Euler–Maruyama of ``dX = [u + ½ β² s] dt + β dW`` with ``s`` from ``u`` (VP, by hand)."""
    h = 1.0 / steps
    batch = x_0.shape[0]
    x = x_0
    b_min, b_max = VP.beta_min, VP.beta_max
    with torch.no_grad():
        for i in range(steps):
            t = torch.full((batch, 1), i * h)
            r = 1 - t
            big_t = b_min * r + 0.5 * (b_max - b_min) * r**2
            alpha = torch.exp(-0.5 * big_t)
            sigma = torch.sqrt(-torch.expm1(-big_t))
            d_alpha = 0.5 * (b_min + (b_max - b_min) * r) * alpha
            d_sigma = -alpha * d_alpha / sigma
            u = net(x, t[:, 0])["velocity"]
            eps = (alpha * u - d_alpha * x) / (alpha * d_sigma - sigma * d_alpha)
            noise = torch.randn(x.shape, generator=rng)
            x = x + h * u + (0.5 * h * BETA**2) * (-eps / sigma) + (h**0.5 * BETA) * noise
    return x


def raw_diffusion(net: nn.Module, x_0: Tensor, steps: int, rng: torch.Generator) -> Tensor:
    """Euler–Maruyama ``x + h b + sqrt(h Σ) ξ`` with learned drift and diagonal ``Σ``."""
    h = 1.0 / steps
    batch = x_0.shape[0]
    x = x_0
    with torch.no_grad():
        for i in range(steps):
            out = net(x, torch.full((batch,), i * h))
            diffusion = F.softplus(out["diffusion"])
            noise = torch.randn(x.shape, generator=rng)
            x = x + h * out["drift"] + h**0.5 * diffusion.sqrt() * noise
    return x


def bench_pair(
    name: str,
    raw_fn: Callable[[nn.Module, Tensor, int, torch.Generator], Tensor],
    generator: gm.AbstractGenerator,
    net: nn.Module,
    x_0: Tensor,
    args: argparse.Namespace,
    threads: int,
) -> dict:
    def gm_fn(n: int) -> Tensor:
        rng = torch.Generator().manual_seed(SEED + 2)
        return gm.simulate(generator, net, x_0, gm.TimeGrid.uniform(n), rng=rng).x

    def raw(n: int) -> Tensor:
        return raw_fn(net, x_0, n, torch.Generator().manual_seed(SEED + 2))

    diff = float((raw(args.sample_steps) - gm_fn(args.sample_steps)).abs().max())
    rates = interleaved(
        {
            "raw": lambda n: _timed(lambda: raw(n)),
            "genmatch": lambda n: _timed(lambda: gm_fn(n)),
        },
        args.sample_steps,
        min(args.warmup, args.sample_steps),
        args.repeats,
    )
    return compare(
        name,
        rates["raw"],
        rates["genmatch"],
        max_abs_diff=diff,
        sample_batch=args.sample_batch,
        sample_steps=args.sample_steps,
        hidden=args.hidden,
        depth=args.depth,
        threads=threads,
        repeats=args.repeats,
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample-batch", type=int, default=None)
    parser.add_argument("--sample-steps", type=int, default=None)
    parser.add_argument("--hidden", type=int, default=None)
    parser.add_argument("--depth", type=int, default=None)
    parser.add_argument("--warmup", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    defaults = (
        {"sample_batch": 128, "sample_steps": 10, "hidden": 32, "depth": 2, "warmup": 2}
        | {"repeats": 2}
        if args.quick
        else {"sample_batch": 2048, "sample_steps": 100, "hidden": 256, "depth": 3}
        | {"warmup": 10, "repeats": 5}
    )
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    pin_allocator(argv)
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    load_start = _loadavg()
    space = gm.EuclideanSpace(2)
    x_0 = torch.randn(args.sample_batch, 2, generator=torch.Generator().manual_seed(SEED + 1))

    torch.manual_seed(SEED)
    flow_net = gm.MLP(space, {"velocity": (2,)}, hidden=args.hidden, depth=args.depth).eval()
    langevin = Langevin(gm.FlowGenerator(), constant_beta(BETA), score_from_velocity(VP))
    first = bench_pair("sde_langevin", raw_langevin, langevin, flow_net, x_0, args, threads)
    emit(first)

    diffusion = DiffusionGenerator(structure=DiffusionStructure.DIAGONAL)
    torch.manual_seed(SEED)
    sde_net = gm.MLP(space, diffusion.head_shapes(space), hidden=args.hidden, depth=args.depth)
    second = bench_pair(
        "sde_diffusion", raw_diffusion, diffusion, sde_net.eval(), x_0, args, threads
    )
    emit(second)

    ratios = [first["ratio"], second["ratio"]]
    spreads = [first["spread"], second["spread"]]
    emit(
        {
            "bench": "summary",
            "sde_ratio": min(ratios),
            "target": TARGET,
            "met": all(math.isfinite(r) for r in ratios) and min(ratios) >= TARGET,
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
