"""Training and sampling throughput: genmatch against flow_matching and torchcfm.

The same conditional flow-matching work on the checkerboard, written with each library's own
pieces, timed in one process with interleaved repeats (``throughput.interleaved``):

- **train** (one Adam step on a batch, the loop written by hand as each peer's examples do):
  flow_matching's ``AffineProbPath(CondOTScheduler())`` with a squared error, torchcfm's
  ``ConditionalFlowMatcher(sigma=0)``, genmatch's ``GeneratorMatchingLoss`` in the same
  hand-written loop, and :func:`genmatch.train` (the whole loop: its per-step random
  streams, fused Adam, deferred finiteness checks) timed around the call;
- **sample** (Euler and midpoint over a uniform grid): flow_matching's ``ODESolver`` with a
  fixed step size against :func:`genmatch.simulate`; both integrate the same network.

Every variant uses a deep copy of one seeded ``genmatch.MLP`` (3 hidden layers of 256:
133k parameters) and the torch optimizer's defaults. Records follow ``bench/peers.py``:
``steps_per_s`` per library and variant (median over repeats), and
``ratio_vs_flow_matching`` (the median over repeats of genmatch's rate over flow_matching's
in the same repeat; above 1: genmatch faster).

Usage::

    python bench/peers_throughput.py --out bench/results/throughput.jsonl
    python bench/peers_throughput.py --quick
"""

from __future__ import annotations

import copy
import statistics
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

import peers_cli  # noqa: E402
from peers_continuous import _loop  # noqa: E402
from throughput import Runner, _timed, interleaved  # noqa: E402

import genmatch  # noqa: E402
from genmatch import (  # noqa: E402
    MLP,
    AffineGaussianPath,
    CondOT,
    EuclideanSpace,
    FlowGenerator,
    GeneratorMatchingLoss,
    Midpoint,
    TimeGrid,
)
from genmatch.data import checkerboard  # noqa: E402

PART = "throughput"
WORKLOAD = "checkerboard"
LR = 1e-3
FULL = {"steps": 20, "warmup": 10, "batch": 4096, "hidden": 256, "depth": 3, "repeats": 9}
FULL_SAMPLE = {"sample_batch": 4096, "nfe": 8}
QUICK = {"steps": 3, "warmup": 1, "batch": 64, "hidden": 16, "depth": 1, "repeats": 2}
QUICK_SAMPLE = {"sample_batch": 64, "nfe": 4}


def _velocity(net: nn.Module) -> Callable[[Tensor, Tensor], Tensor]:
    """The network as ``v(x, t)`` with a scalar or batched ``t`` (the peers' convention)."""

    def v(x: Tensor, t: Tensor) -> Tensor:
        return net(x, t.expand(x.shape[0]) if t.dim() == 0 else t)["velocity"]

    return v


def _hand_loop(
    net: nn.Module, data: Tensor, batch: int, seed: int, loss_of: Callable[..., Tensor]
) -> Runner:
    """The hand-written loop of ``peers_continuous`` (Adam; the same batches), timed."""
    loop = _loop(net, data, batch, seed, loss_of)
    return lambda n: _timed(lambda: loop(n))


def _flow_matching_loss() -> Callable[..., Tensor]:
    from flow_matching.path import AffineProbPath
    from flow_matching.path.scheduler import CondOTScheduler

    path = AffineProbPath(scheduler=CondOTScheduler())

    def loss(net: nn.Module, x_0: Tensor, x_1: Tensor, rng: torch.Generator) -> Tensor:
        t = torch.rand(x_1.shape[0], generator=rng)
        s = path.sample(x_0=x_0, x_1=x_1, t=t)
        return ((net(s.x_t, s.t)["velocity"] - s.dx_t) ** 2).sum(1).mean()

    return loss


def _torchcfm_loss() -> Callable[..., Tensor]:
    from torchcfm.conditional_flow_matching import ConditionalFlowMatcher

    matcher = ConditionalFlowMatcher(sigma=0.0)

    def loss(net: nn.Module, x_0: Tensor, x_1: Tensor, rng: torch.Generator) -> Tensor:
        t = torch.rand(x_1.shape[0], generator=rng)
        t, x_t, u_t = matcher.sample_location_and_conditional_flow(x_0, x_1, t=t)
        return ((net(x_t, t)["velocity"] - u_t) ** 2).sum(1).mean()

    return loss


def _genmatch_loss() -> Callable[..., Tensor]:
    loss_fn = GeneratorMatchingLoss(AffineGaussianPath(CondOT()), FlowGenerator())

    def loss(net: nn.Module, x_0: Tensor, x_1: Tensor, rng: torch.Generator) -> Tensor:
        return loss_fn(net, x_1, generator=rng)

    return loss


def _genmatch_train(net: nn.Module, data: Tensor, batch: int, seed: int) -> Runner:
    """:func:`genmatch.train` with its defaults (fused Adam, per-step streams)."""
    loss_fn = GeneratorMatchingLoss(AffineGaussianPath(CondOT()), FlowGenerator())
    calls = iter(range(1 << 30))

    def run(n: int) -> float:
        s = seed + next(calls)
        return _timed(lambda: genmatch.train(loss_fn, net, data, steps=n, batch_size=batch, seed=s))

    return run


def _throughput_records(
    variant: str, rates: dict[str, list[float]], seed: int, nfe: int | None
) -> Iterator[dict]:
    base = {"part": PART, "workload": WORKLOAD, "seed": seed, "nfe": nfe}
    medians = {name: statistics.median(r) for name, r in rates.items()}
    for name, value in medians.items():
        library, _, kind = name.partition(":")
        yield {
            **base,
            "library": library,
            "variant": f"{variant}{kind}",
            "metric": "steps_per_s",
            "value": round(value, 3),
        }
    for name, genmatch_rates in rates.items():
        library, _, kind = name.partition(":")
        if library == "genmatch":
            # Median of the per-repeat ratios: each repeat runs the two back to back, so a
            # slow spell of a shared machine divides out.
            paired = zip(genmatch_rates, rates["flow_matching"], strict=True)
            yield {
                **base,
                "library": library,
                "variant": f"{variant}{kind}",
                "metric": "ratio_vs_flow_matching",
                "value": round(statistics.median(g / f for g, f in paired), 4),
            }


def run(seeds: Sequence[int], quick: bool = False, **options: int) -> Iterator[dict]:
    """Yield the throughput records for each seed (see the module docstring)."""
    cfg = {**(QUICK if quick else FULL), **(QUICK_SAMPLE if quick else FULL_SAMPLE), **options}
    for seed in seeds:
        data = checkerboard(100_000, generator=torch.Generator().manual_seed(seed))
        torch.manual_seed(seed)
        base = MLP(EuclideanSpace(2), {"velocity": (2,)}, hidden=cfg["hidden"], depth=cfg["depth"])
        nets = {k: copy.deepcopy(base) for k in ("fm", "cfm", "gm", "loop")}
        batch = cfg["batch"]
        runners = {
            "flow_matching": _hand_loop(nets["fm"], data, batch, seed, _flow_matching_loss()),
            "torchcfm": _hand_loop(nets["cfm"], data, batch, seed, _torchcfm_loss()),
            "genmatch": _hand_loop(nets["gm"], data, batch, seed, _genmatch_loss()),
            "genmatch:-loop": _genmatch_train(nets["loop"], data, cfg["batch"], seed),
        }
        rates = interleaved(runners, cfg["steps"], cfg["warmup"], cfg["repeats"])
        yield from _throughput_records("train", rates, seed, None)
        yield from _sampling(base, cfg, seed)


def _sampling(net: nn.Module, cfg: dict, seed: int) -> Iterator[dict]:
    from flow_matching.solver import ODESolver

    x_0 = torch.randn(cfg["sample_batch"], 2, generator=torch.Generator().manual_seed(seed))
    nfe = cfg["nfe"]
    solver = ODESolver(velocity_model=_velocity(net))
    flows = (("euler", FlowGenerator()), ("midpoint", FlowGenerator(solver=Midpoint())))
    for method, flow in flows:
        steps = nfe // flow.nfe_per_step
        grid = TimeGrid.uniform(steps)

        def fm(method: str = method, steps: int = steps) -> Tensor:
            with torch.no_grad():
                return solver.sample(x_0, step_size=1.0 / steps, method=method)

        def gm(flow: FlowGenerator = flow, grid: TimeGrid = grid) -> Tensor:
            return genmatch.simulate(flow, net, x_0, grid).x

        gap = float((fm() - gm()).abs().max())
        runners: dict[str, Runner] = {
            "flow_matching": lambda n, f=fm: _timed(lambda: [f() for _ in range(n)]),
            "genmatch": lambda n, g=gm: _timed(lambda: [g() for _ in range(n)]),
        }
        rates = interleaved(runners, cfg["steps"], cfg["warmup"], cfg["repeats"])
        yield from _throughput_records(f"sample-{method}", rates, seed, nfe)
        yield {
            "part": PART,
            "workload": WORKLOAD,
            "library": "genmatch",
            "variant": f"sample-{method}",
            "seed": seed,
            "nfe": nfe,
            "metric": "max_abs_diff_vs_flow_matching",
            "value": gap,
        }


def main(argv: Sequence[str] | None = None) -> list[dict]:
    args = peers_cli.parser(__doc__).parse_args(argv)
    return peers_cli.emit(run(args.seeds, quick=args.quick), args.out)


if __name__ == "__main__":
    main()
