"""Discrete generator matching on a toy with a known distribution: genmatch vs flow_matching.

The data are sequences of length 8 over 16 symbols from a fixed Markov chain (seeded initial
distribution and transition matrix), so the true distribution is known exactly. Two copies of
one :class:`genmatch.nn.SequenceTransformer` (same initial weights, same batches, same times
and source draws) are trained for the same number of steps on the mixture path with a
uniform source and ``κ_t = t``:

- with genmatch: ``GeneratorMatchingLoss(FactorizedMixturePath, CTMCGenerator)``
  (posterior head, cross-entropy);
- with facebookresearch/flow_matching: ``MixtureDiscreteProbPath`` with
  ``PolynomialConvexScheduler(1)`` and ``MixturePathGeneralizedKL``.

Each network is then sampled with the same numbers of steps by genmatch (Euler with exact
jump probabilities, tau-leaping, with the predictor–corrector) and by flow_matching's
``MixtureDiscreteEulerSolver`` (without and with its divergence-free term). Quality is
measured against the exact chain on the adjacent-pair marginals (7 distributions over 256
cells): total variation and ``KL(samples ‖ truth)``, averaged over positions, and the
cross-entropy gap ``E_samples[−log p(x)] − H(p)`` (0 for exact samples). The same metrics for
fresh samples of the chain give the finite-sample floor.

Usage::

    python bench/discrete.py             # about 13 minutes on a 2-core CPU
    python bench/discrete.py --quick     # a smoke test of the script
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from torch import Tensor, nn

import genmatch as gm
from genmatch.compose import MixtureCorrector
from genmatch.generators import CTMCGenerator, JumpMethod
from genmatch.nn import SequenceTransformer
from genmatch.paths import FactorizedMixturePath, LinearKappa
from genmatch.sources import CategoricalSource
from genmatch.spaces import DiscreteSpace

LENGTH, VOCAB = 8, 16


def markov_chain(seed: int = 0) -> tuple[Tensor, Tensor]:
    """A fixed chain: initial probabilities ``(V,)`` and a peaked transition matrix ``(V, V)``."""
    rng = torch.Generator().manual_seed(seed)
    init = torch.softmax(torch.randn(VOCAB, generator=rng, dtype=torch.float64), 0)
    trans = torch.softmax(2.5 * torch.randn(VOCAB, VOCAB, generator=rng, dtype=torch.float64), 1)
    return init, trans


def sample_chain(init: Tensor, trans: Tensor, n: int, rng: torch.Generator) -> Tensor:
    x = torch.empty(n, LENGTH, dtype=torch.long)
    x[:, 0] = torch.multinomial(init, n, replacement=True, generator=rng)
    for i in range(1, LENGTH):
        x[:, i] = torch.multinomial(trans[x[:, i - 1]], 1, generator=rng)[:, 0]
    return x


def log_prob(init: Tensor, trans: Tensor, x: Tensor) -> Tensor:
    return torch.log(init[x[:, 0]]) + torch.log(trans[x[:, :-1], x[:, 1:]]).sum(1)


def entropy(init: Tensor, trans: Tensor) -> float:
    """``H(p)`` of the chain, exactly: ``H(init) + Σ_i E_{x_i}[H(trans[x_i])]``."""
    row_entropy = -torch.xlogy(trans, trans).sum(1)
    total = -float(torch.xlogy(init, init).sum())
    marginal = init
    for _ in range(LENGTH - 1):
        total += float(marginal @ row_entropy)
        marginal = marginal @ trans
    return total


def scores(samples: Tensor, init: Tensor, trans: Tensor) -> dict[str, float]:
    """Pair-marginal TV and KL(samples ‖ truth), and the cross-entropy gap, vs the chain."""
    marginal = init.clone()
    tvs, kls = [], []
    for i in range(LENGTH - 1):
        pair_true = marginal[:, None] * trans  # p(x_i, x_{i+1})
        idx = samples[:, i] * VOCAB + samples[:, i + 1]
        emp = torch.bincount(idx, minlength=VOCAB * VOCAB).to(torch.float64) / samples.shape[0]
        flat = pair_true.reshape(-1)
        tvs.append(0.5 * float((emp - flat).abs().sum()))
        kls.append(float(torch.xlogy(emp, emp / flat).sum()))
        marginal = marginal @ trans
    gap = float(-log_prob(init, trans, samples).mean()) - entropy(init, trans)
    return {"pair_tv": sum(tvs) / len(tvs), "pair_kl": sum(kls) / len(kls), "xent_gap": gap}


class _Posterior(nn.Module):
    """flow_matching's model interface: ``(x, t) ↦ p_{1|t}`` probabilities."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor, t: Tensor, **extras: object) -> Tensor:
        return self.net(x, t)["logits"].softmax(-1)


def train_both(args: argparse.Namespace, data: Tensor) -> tuple[nn.Module, nn.Module, dict]:
    from flow_matching.loss import MixturePathGeneralizedKL
    from flow_matching.path import MixtureDiscreteProbPath
    from flow_matching.path.scheduler import PolynomialConvexScheduler

    space = DiscreteSpace(LENGTH, VOCAB)
    kappa = LinearKappa()
    gen = CTMCGenerator(space, kappa)
    path = FactorizedMixturePath(space, CategoricalSource.uniform(space), kappa)
    torch.manual_seed(0)
    net_gm = SequenceTransformer(space, gen.head_shapes(space), d_model=args.d_model, num_layers=2)
    net_fm = SequenceTransformer(space, gen.head_shapes(space), d_model=args.d_model, num_layers=2)
    net_fm.load_state_dict(net_gm.state_dict())
    loss_gm = gm.GeneratorMatchingLoss(path, gen)
    fm_path = MixtureDiscreteProbPath(scheduler=PolynomialConvexScheduler(n=1.0))
    loss_fm = MixturePathGeneralizedKL(path=fm_path)
    opts = [torch.optim.Adam(n.parameters(), lr=1e-3) for n in (net_gm, net_fm)]
    rng = torch.Generator().manual_seed(1)
    timing = {"genmatch": 0.0, "flow_matching": 0.0}
    for _ in range(args.steps):
        idx = torch.randint(0, data.shape[0], (args.batch_size,), generator=rng)
        x_1 = data[idx]
        x_0 = torch.randint(0, VOCAB, x_1.shape, generator=rng)
        t = torch.rand(args.batch_size, generator=rng)
        tic = time.perf_counter()
        loss = loss_gm(net_gm, x_1, x_0=x_0, t=t, generator=torch.Generator().manual_seed(2))
        opts[0].zero_grad()
        loss.backward()
        opts[0].step()
        timing["genmatch"] += time.perf_counter() - tic
        tic = time.perf_counter()
        sample = fm_path.sample(x_0=x_0, x_1=x_1, t=t)
        logits = net_fm(sample.x_t, sample.t)["logits"]
        loss = loss_fm(logits, x_1, sample.x_t, sample.t)
        opts[1].zero_grad()
        loss.backward()
        opts[1].step()
        timing["flow_matching"] += time.perf_counter() - tic
    rates = {k: args.steps / v for k, v in timing.items()}
    return net_gm.eval(), net_fm.eval(), rates


def sample_all(net: nn.Module, steps: int, n: int, seed: int) -> dict[str, Tensor]:
    from flow_matching.path import MixtureDiscreteProbPath
    from flow_matching.path.scheduler import PolynomialConvexScheduler
    from flow_matching.solver import MixtureDiscreteEulerSolver

    space = DiscreteSpace(LENGTH, VOCAB)
    kappa = LinearKappa()
    source = CategoricalSource.uniform(space)
    gen = CTMCGenerator(space, kappa)
    x_0 = source.sample(n, generator=torch.Generator().manual_seed(seed))
    samplers: dict[str, gm.AbstractGenerator] = {
        "genmatch euler": gen,
        "genmatch tau-leaping": CTMCGenerator(space, kappa, method=JumpMethod.TAU_LEAPING),
        "genmatch + corrector": MixtureCorrector(gen, source, lambda t: 2.0 * t * (1 - t)),
    }
    out = {}
    with torch.no_grad():
        for name, sampler in samplers.items():
            rng = torch.Generator().manual_seed(seed + 1)
            out[name] = gm.simulate(sampler, net, x_0, steps, rng=rng).x
        fm_path = MixtureDiscreteProbPath(scheduler=PolynomialConvexScheduler(n=1.0))
        solver = MixtureDiscreteEulerSolver(
            _Posterior(net), fm_path, VOCAB, source_distribution_p=torch.full((VOCAB,), 1 / VOCAB)
        )
        for name, div_free in (("flow_matching euler", 0.0), ("flow_matching + div-free", 0.5)):
            torch.manual_seed(seed + 1)
            out[name] = solver.sample(
                x_init=x_0,
                step_size=1.0 / steps,
                div_free=(lambda t, c=div_free: c * 4 * t * (1 - t)) if div_free else 0.0,
            )
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--d-model", type=int, default=64)
    parser.add_argument("--num-samples", type=int, default=20_000)
    parser.add_argument("--sample-steps", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.num_samples, args.sample_steps, args.d_model = 5, 500, [4], 16
    init, trans = markov_chain()
    data = sample_chain(init, trans, 100_000, torch.Generator().manual_seed(3))
    floor = scores(
        sample_chain(init, trans, args.num_samples, torch.Generator().manual_seed(4)), init, trans
    )
    net_gm, net_fm, train_rates = train_both(args, data)
    results: dict = {"floor (fresh chain samples)": floor, "train_steps_per_s": train_rates}
    print(
        f"training steps/s: genmatch {train_rates['genmatch']:.1f}, "
        f"flow_matching {train_rates['flow_matching']:.1f}"
    )
    header = (
        f"{'network':<26}{'sampler':<28}{'steps':>6}{'pair TV':>10}{'pair KL':>10}{'xent gap':>10}"
    )
    print(header)
    print(
        f"{'(fresh chain samples)':<54}{'':>6}{floor['pair_tv']:>10.4f}{floor['pair_kl']:>10.4f}"
        f"{floor['xent_gap']:>10.4f}"
    )
    for net_name, net in (("trained by genmatch", net_gm), ("trained by flow_matching", net_fm)):
        for steps in args.sample_steps:
            for sampler, x in sample_all(net, steps, args.num_samples, seed=5).items():
                s = scores(x, init, trans)
                results[f"{net_name} / {sampler} / {steps}"] = s
                print(
                    f"{net_name:<26}{sampler:<28}{steps:>6}{s['pair_tv']:>10.4f}"
                    f"{s['pair_kl']:>10.4f}{s['xent_gap']:>10.4f}"
                )
    print(json.dumps({"bench": "discrete", "results": results}))
    return results


if __name__ == "__main__":
    main()
