"""genmatch vs flow_matching on the Markov-chain toy, masked and uniform sources (peer records).

The data and metrics are those of ``bench/discrete.py`` (a chain over ``V = 16`` symbols of
length ``L = 8`` whose distribution is known exactly; ``pair_kl`` is the mean over the 7
adjacent pairs of ``KL(empirical pair marginal ‖ true pair marginal)``, ``xent_gap`` is
``E_samples[−log p(x)] − H(p)``). Per seed, two copies of one network — an MLP on the one-hot
tokens and the time, ``depth`` hidden layers of ``width`` units — start from the same weights
and see the same batches, source draws and times:

- genmatch: ``GeneratorMatchingLoss(FactorizedMixturePath, CTMCGenerator)`` with its
  defaults (posterior head, cross-entropy; on a mask space the unmasked tokens are pinned);
- flow_matching: ``MixtureDiscreteProbPath(PolynomialConvexScheduler(1))`` with
  ``MixturePathGeneralizedKL``.

Each network is sampled at every NFE by its own library's sampler (variant ``own``) and by
the other's (variant ``cross``: the genmatch-trained network under flow_matching's
``MixtureDiscreteEulerSolver`` is recorded as library ``genmatch``, variant
``cross-fm-sampler``, and vice versa); genmatch's confidence-ordered sampler is the variant
``confidence`` and its sampler with ``pin=False`` (unmasked tokens may move at the model's
rates) the variant ``unpinned``. Library ``reference`` gives the same metrics for fresh chain
samples (the finite-sample floor). Records follow the shared peer format (one JSON line per number).

Usage::

    python bench/peers_discrete.py --seeds 0 1 2 --out bench/results/discrete.jsonl
    python bench/peers_discrete.py --quick
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))

import peers_cli  # noqa: E402
from discrete import LENGTH, VOCAB, markov_chain, sample_chain, scores  # noqa: E402

import genmatch as gm  # noqa: E402
from genmatch.generators import CTMCGenerator, JumpMethod  # noqa: E402
from genmatch.paths import FactorizedMixturePath, LinearKappa  # noqa: E402
from genmatch.sources import CategoricalSource  # noqa: E402
from genmatch.spaces import DiscreteSpace  # noqa: E402

PART = "discrete"
WORKLOADS = ("markov16x8-masked", "markov16x8-uniform")


class OneHotMLP(nn.Module):
    """``(x, t) ↦ {"logits": (batch, L, S)}``: a :class:`genmatch.MLP` on ``one_hot(x)``."""

    def __init__(self, space: DiscreteSpace, width: int, depth: int) -> None:
        super().__init__()
        self.num_states = space.num_states
        shape = (space.length, space.num_states)
        self.mlp = gm.MLP(space.length * space.num_states, {"logits": shape}, hidden=width,
                          depth=depth)  # fmt: skip

    def forward(self, x: Tensor, t: Tensor) -> dict[str, Tensor]:
        return self.mlp(F.one_hot(x, self.num_states).flatten(1).float(), t)


class _Posterior(nn.Module):
    """flow_matching's model interface ``(x, t) ↦ p_{1|t}``; the mask token gets 0 (no data
    token is a mask), as genmatch's posterior head does."""

    def __init__(self, net: nn.Module, mask_token: int | None) -> None:
        super().__init__()
        self.net, self.mask_token = net, mask_token

    def forward(self, x: Tensor, t: Tensor, **extras: object) -> Tensor:
        logits = self.net(x, t)["logits"]
        if self.mask_token is not None:
            logits = logits.index_fill(-1, torch.tensor([self.mask_token]), float("-inf"))
        return logits.softmax(-1)


def _setup(workload: str) -> tuple[DiscreteSpace, CategoricalSource]:
    if workload not in WORKLOADS:
        raise ValueError(f"workload must be one of {WORKLOADS}, got {workload!r}")
    if workload.endswith("masked"):
        space = DiscreteSpace(LENGTH, VOCAB, mask=True)
        return space, CategoricalSource.masked(space)
    space = DiscreteSpace(LENGTH, VOCAB)
    return space, CategoricalSource.uniform(space)


def train_pair(
    workload: str,
    data: Tensor,
    seed: int,
    steps: int,
    batch: int,
    width: int,
    depth: int,
    loss_options: dict[str, Any] | None = None,
) -> tuple[nn.Module, nn.Module]:
    """Train the genmatch and flow_matching copies side by side; ``(net_gm, net_fm)``."""
    from flow_matching.loss import MixturePathGeneralizedKL
    from flow_matching.path import MixtureDiscreteProbPath
    from flow_matching.path.scheduler import PolynomialConvexScheduler

    space, source = _setup(workload)
    kappa = LinearKappa()
    gen = CTMCGenerator(space, kappa, source=source)
    loss_gm = gm.GeneratorMatchingLoss(
        FactorizedMixturePath(space, source, kappa), gen, **(loss_options or {})
    )
    fm_path = MixtureDiscreteProbPath(scheduler=PolynomialConvexScheduler(n=1.0))
    loss_fm = MixturePathGeneralizedKL(path=fm_path)
    torch.manual_seed(seed)
    net_gm = OneHotMLP(space, width, depth)
    net_fm = OneHotMLP(space, width, depth)
    net_fm.load_state_dict(net_gm.state_dict())
    opt_gm = torch.optim.Adam(net_gm.parameters(), lr=1e-3)
    opt_fm = torch.optim.Adam(net_fm.parameters(), lr=1e-3)
    rng = torch.Generator().manual_seed(1000 + seed)
    path_rng = torch.Generator().manual_seed(2000 + seed)
    for _ in range(steps):
        x_1 = data[torch.randint(0, data.shape[0], (batch,), generator=rng)]
        x_0 = source.sample(batch, generator=rng)
        t = torch.rand(batch, generator=rng)
        loss = loss_gm(net_gm, x_1, x_0=x_0, t=t, generator=path_rng)
        opt_gm.zero_grad()
        loss.backward()
        opt_gm.step()
        sample = fm_path.sample(x_0=x_0, x_1=x_1, t=t)
        loss = loss_fm(net_fm(sample.x_t, sample.t)["logits"], x_1, sample.x_t, sample.t)
        opt_fm.zero_grad()
        loss.backward()
        opt_fm.step()
    return net_gm.eval(), net_fm.eval()


def sample_genmatch(
    net: nn.Module, workload: str, nfe: int, n: int, seed: int, **options: Any
) -> Tensor:
    """``n`` samples of ``net`` by genmatch's CTMC sampler in ``nfe`` uniform steps
    (``options``: keywords of :class:`CTMCGenerator`, e.g. ``method``, ``pin``)."""
    space, source = _setup(workload)
    gen = CTMCGenerator(space, LinearKappa(), source=source, **options)
    x_0 = source.sample(n, generator=torch.Generator().manual_seed(seed))
    return gm.simulate(gen, net, x_0, nfe, rng=torch.Generator().manual_seed(seed + 1)).x


def sample_flow_matching(net: nn.Module, workload: str, nfe: int, n: int, seed: int) -> Tensor:
    """``n`` samples of ``net`` by flow_matching's ``MixtureDiscreteEulerSolver``."""
    from flow_matching.path import MixtureDiscreteProbPath
    from flow_matching.path.scheduler import PolynomialConvexScheduler
    from flow_matching.solver import MixtureDiscreteEulerSolver

    space, source = _setup(workload)
    fm_path = MixtureDiscreteProbPath(scheduler=PolynomialConvexScheduler(n=1.0))
    solver = MixtureDiscreteEulerSolver(
        _Posterior(net, space.mask_token),
        fm_path,
        space.num_states,
        source_distribution_p=source.position_probs()[0],
    )
    x_0 = source.sample(n, generator=torch.Generator().manual_seed(seed))
    torch.manual_seed(seed + 1)
    grid = torch.linspace(0.0, 1.0, nfe + 1)
    return solver.sample(x_init=x_0, step_size=None, time_grid=grid)


def _records(
    workload: str, library: str, variant: str, seed: int, nfe: int | None, x: Tensor, chain: Any
) -> Iterator[dict]:
    if bool((x >= VOCAB).any()):  # a mask left: the sample is not a sequence of the chain
        raise RuntimeError(f"{library}/{variant} left mask tokens after {nfe} steps")
    s = scores(x, *chain)
    for metric in ("pair_kl", "xent_gap"):
        yield {"part": PART, "workload": workload, "library": library, "variant": variant,
               "seed": seed, "nfe": nfe, "metric": metric, "value": s[metric]}  # fmt: skip


def run(
    seeds: Sequence[int],
    quick: bool = False,
    *,
    workloads: Sequence[str] = WORKLOADS,
    steps: int = 2000,
    batch: int = 4096,
    width: int = 256,
    depth: int = 2,
    nfes: Sequence[int] = (8, 32, 128),
    num_samples: int = 20_000,
    cross: bool = True,
    loss_options: dict[str, Any] | None = None,
) -> Iterator[dict]:
    """Yield the peer records (``/`` the module docstring) for each workload and seed."""
    if quick:
        steps, batch, width, num_samples, nfes = 3, 64, 16, 500, (2, 4)
    chain = markov_chain()
    data = sample_chain(*chain, 100_000, torch.Generator().manual_seed(3))
    for seed in seeds:
        fresh = sample_chain(*chain, num_samples, torch.Generator().manual_seed(10_000 + seed))
        for workload in workloads:
            yield from _records(workload, "reference", "fresh-samples", seed, None, fresh, chain)
            net_gm, net_fm = train_pair(
                workload, data, seed, steps, batch, width, depth, loss_options
            )
            with torch.no_grad():
                for nfe in nfes:
                    args = (workload, nfe, num_samples, seed)
                    runs = [
                        ("genmatch", "own", sample_genmatch(net_gm, *args)),
                        ("flow_matching", "own", sample_flow_matching(net_fm, *args)),
                    ]
                    if cross:
                        runs += [
                            ("genmatch", "cross-fm-sampler", sample_flow_matching(net_gm, *args)),
                            ("flow_matching", "cross-gm-sampler", sample_genmatch(net_fm, *args)),
                        ]
                    if workload.endswith("masked"):
                        x = sample_genmatch(net_gm, *args, method=JumpMethod.CONFIDENCE)
                        runs.append(("genmatch", "confidence", x))
                        x = sample_genmatch(net_gm, *args, pin=False)
                        runs.append(("genmatch", "unpinned", x))
                    for library, variant, x in runs:
                        yield from _records(workload, library, variant, seed, nfe, x, chain)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = peers_cli.parser(__doc__)
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=WORKLOADS)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--nfe", type=int, nargs="+", default=[8, 32, 128])
    parser.add_argument("--num-samples", type=int, default=20_000)
    parser.add_argument("--no-cross", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    records = run(
        args.seeds,
        args.quick,
        workloads=args.workloads,
        steps=args.steps,
        batch=args.batch,
        nfes=args.nfe,
        num_samples=args.num_samples,
        cross=not args.no_cross,
    )
    return peers_cli.emit(records, args.out)


if __name__ == "__main__":
    main()
