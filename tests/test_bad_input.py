"""Every public entry point rejects bad input with a clear error, or gives the right result.

One table of cases: entry point × bad (or borderline) input × the expected error type and a
fragment of its message, grouped by kind of input:

1. values at the documented edges (``t = 1``),
2. values below the loss (times outside ``[0, 1]``, NaN, off-space points, negative rates),
3. silent broadcasting (shapes),
4. strings or booleans where enums or integers are expected,
5. errors that would otherwise come raw from deep inside torch / geoopt / POT.

A ``Good`` case is a borderline input with a documented correct result, which is checked.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import geoopt
import pytest
import torch

from genmatch import (
    MLP,
    RK4,
    SO3,
    AffineGaussianPath,
    BinnedJumpGenerator,
    Bins,
    BlockOTCoupling,
    CondOT,
    CTMCGenerator,
    CTMCHead,
    DiffusionGenerator,
    DiscreteSpace,
    EuclideanSpace,
    ExactMarginal,
    ExactOTCoupling,
    FactorizedMixturePath,
    FlowGenerator,
    GeneratorMatchingLoss,
    GeodesicPath,
    Hypersphere,
    JumpGenerator,
    LinearKappa,
    LogitNormalTime,
    ManifoldSpace,
    MixturePath,
    PathSample,
    RiemannianFlowGenerator,
    SinkhornOTCoupling,
    TimeGrid,
    UniformTime,
    set_value_checks,
    simulate,
    value_checks,
)
from genmatch.generators.diffusion import DriftDiffusion
from genmatch.generators.jump_measures import AtomicJumpMeasure
from genmatch.likelihood import elbo, exact_log_prob, log_likelihood
from genmatch.metrics import energy_distance, rbf_mmd, sliced_wasserstein
from genmatch.sources import CategoricalSource, GaussianSource

# ---------------------------------------------------------------------------------------------
# the objects the cases use (small and cheap)

R2 = EuclideanSpace(2)
OT_PATH = AffineGaussianPath(CondOT())
FLOW = FlowGenerator()
TOKENS = DiscreteSpace(3, 4)
TOKEN_PATH = FactorizedMixturePath(TOKENS, CategoricalSource.uniform(TOKENS), LinearKappa())
CTMC_RATE = CTMCGenerator(TOKENS, LinearKappa(), head=CTMCHead.RATE)
CTMC_POSTERIOR = CTMCGenerator(TOKENS, LinearKappa())
S2 = ManifoldSpace(Hypersphere(3), (3,))


def rng() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def x2(n: int = 5) -> torch.Tensor:
    return torch.randn(n, 2, generator=rng())


def tokens(n: int = 4) -> torch.Tensor:
    return torch.randint(0, 4, (n, 3), generator=rng())


def sphere(n: int = 4) -> torch.Tensor:
    x = torch.randn(n, 3, generator=rng())
    return x / x.norm(dim=1, keepdim=True)


def t_(n: int, value: float) -> torch.Tensor:
    return torch.full((n,), value)


def velocity_net(width: int = 2) -> Callable[[torch.Tensor, torch.Tensor], dict]:
    return lambda x, t: {"velocity": torch.zeros(x.shape[0], width)}


def flow_loss(**overrides: object) -> GeneratorMatchingLoss:
    return GeneratorMatchingLoss(OT_PATH, FLOW, **overrides)  # type: ignore[arg-type]


def oracle() -> ExactMarginal:
    return ExactMarginal(OT_PATH, FLOW, x2(3))


def ctmc_field(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return torch.full((x.shape[0], 3, 4), 0.5) * (1 - torch.nn.functional.one_hot(x, 4))


# ---------------------------------------------------------------------------------------------
# the table


@dataclass(frozen=True)
class Bad:
    """``call()`` must raise ``error`` with ``match`` (a regular expression) in its message."""

    kind: int
    id: str
    call: Callable[[], object]
    error: type[BaseException]
    match: str


@dataclass(frozen=True)
class Good:
    """``check(call())`` must hold: a borderline input with a documented correct result."""

    kind: int
    id: str
    call: Callable[[], object]
    check: Callable[[object], bool]


def _finite(out: object) -> bool:
    return isinstance(out, torch.Tensor) and bool(torch.isfinite(out).all())


CASES: list[Bad | Good] = [
    # 1. values at the documented edges ---------------------------------------------------------
    Good(
        1,
        "flow loss at t=1 (x_0 form, exact)",
        lambda: flow_loss()(velocity_net(), x2(), x_0=x2(), t=1.0),
        _finite,
    ),
    Good(
        1,
        "flow target at t=1 with x_0 is z - x_0",
        lambda: FLOW.conditional_target(OT_PATH, OT_PATH.sample(x2(), t_(5, 1.0), x_0=x2())),
        lambda out: torch.equal(out, x2() - x2()),
    ),
    Bad(
        1,
        "flow x-form target at t=1 (sigma_1 = 0)",
        lambda: OT_PATH.conditional_velocity(PathSample(x_t=x2(), t=t_(5, 1.0), z=x2())),
        ValueError,
        r"sigma_t = 0",
    ),
    Bad(
        1,
        "diffusion target at t=1",
        lambda: DiffusionGenerator().conditional_target(
            OT_PATH, OT_PATH.sample(x2(), t_(5, 1.0), x_0=x2())
        ),
        ValueError,
        r"sigma_t = 0",
    ),
    Bad(
        1,
        "diffusion loss at t=1",
        lambda: GeneratorMatchingLoss(OT_PATH, DiffusionGenerator())(
            lambda x, t: {"drift": x, "diffusion": t}, x2(), t=1.0
        ),
        ValueError,
        r"sigma_t = 0",
    ),
    Bad(
        1,
        "binned-jump target at t=1",
        lambda: BinnedJumpGenerator(Bins(-3.0, 3.0, 8)).conditional_target(
            OT_PATH, OT_PATH.sample(x2(), t_(5, 1.0), x_0=x2())
        ),
        ValueError,
        r"sigma_t = 0",
    ),
    Bad(
        1,
        "CTMC rate-head target at t=1",
        lambda: CTMC_RATE.conditional_target(TOKEN_PATH, TOKEN_PATH.sample(tokens(), t_(4, 1.0))),
        ValueError,
        r"t = 1",
    ),
    Good(
        1,
        "CTMC posterior-head target at t=1 is the one-hot of z",
        lambda: (
            CTMC_POSTERIOR.conditional_target(
                TOKEN_PATH, TOKEN_PATH.sample(tokens(), t_(4, 1.0))
            ).probs
        ),
        lambda p: torch.equal(p, torch.nn.functional.one_hot(tokens(), 4).float()),
    ),
    Good(
        1,
        "LogitNormalTime never draws 0 or 1 in float32",
        lambda: LogitNormalTime(0.0, 30.0).sample(
            20000, dtype=torch.float32, device=torch.device("cpu"), generator=rng()
        ),
        lambda t: bool(((t > 0) & (t < 1)).all()),
    ),
    Good(
        1,
        "oracle at t=1 is evaluated at t_max (documented clipping)",
        lambda: (oracle()(x2(), t_(5, 1.0)), oracle()(x2(), t_(5, 0.99))),
        lambda pair: torch.equal(pair[0], pair[1]),
    ),
    # 2. value checks below the loss ------------------------------------------------------------
    Bad(2, "path.sample t=1.5", lambda: OT_PATH.sample(x2(), t_(5, 1.5)), ValueError, r"\[0, 1\]"),
    Bad(
        2, "path.sample t=-0.1", lambda: OT_PATH.sample(x2(), t_(5, -0.1)), ValueError, r"\[0, 1\]"
    ),
    Bad(
        2,
        "path.sample t NaN",
        lambda: OT_PATH.sample(x2(), t_(5, math.nan)),
        ValueError,
        r"\[0, 1\]",
    ),
    Bad(
        2,
        "path.sample z NaN",
        lambda: OT_PATH.sample(torch.full((5, 2), math.nan), t_(5, 0.5)),
        ValueError,
        "NaN",
    ),
    Bad(
        2,
        "path.sample x_0 Inf",
        lambda: OT_PATH.sample(x2(), t_(5, 0.5), x_0=torch.full((5, 2), math.inf)),
        ValueError,
        "NaN or Inf",
    ),
    Bad(
        2,
        "token path t=1.5",
        lambda: TOKEN_PATH.sample(tokens(), t_(4, 1.5)),
        ValueError,
        r"\[0, 1\]",
    ),
    Bad(
        2,
        "token path x_0 outside the vocabulary",
        lambda: TOKEN_PATH.sample(tokens(), t_(4, 0.5), x_0=torch.full((4, 3), 7)),
        ValueError,
        r"outside \[0, 4\)",
    ),
    Bad(
        2,
        "token loss x_0 outside the vocabulary",
        lambda: GeneratorMatchingLoss(TOKEN_PATH, CTMC_POSTERIOR)(
            lambda x, t: {"logits": torch.zeros(x.shape[0], 3, 4)},
            tokens(),
            x_0=torch.full((4, 3), -1),
        ),
        ValueError,
        "outside",
    ),
    Bad(
        2,
        "mixture path t=2",
        lambda: MixturePath(R2, GaussianSource(R2), LinearKappa()).sample(x2(), t_(5, 2.0)),
        ValueError,
        r"\[0, 1\]",
    ),
    Bad(
        2,
        "geodesic path: sphere points of norm 2",
        lambda: GeodesicPath(S2).sample(2 * sphere(), t_(4, 0.5), x_0=sphere()),
        ValueError,
        "not on Hypersphere",
    ),
    Bad(
        2,
        "geodesic path: x_0 off the sphere",
        lambda: GeodesicPath(S2).sample(sphere(), t_(4, 0.5), x_0=2 * sphere()),
        ValueError,
        "not on Hypersphere",
    ),
    Bad(
        2,
        "geodesic path t=1.5",
        lambda: GeodesicPath(S2).sample(sphere(), t_(4, 1.5), x_0=sphere()),
        ValueError,
        r"\[0, 1\]",
    ),
    Bad(
        2,
        "conditional target t=1.5",
        lambda: FLOW.conditional_target(OT_PATH, PathSample(x_t=x2(), t=t_(5, 1.5), z=x2())),
        ValueError,
        r"\[0, 1\]",
    ),
    Bad(2, "oracle t=1.5", lambda: oracle()(x2(), t_(5, 1.5)), ValueError, r"\[0, 1\]"),
    Bad(2, "oracle t NaN", lambda: oracle()(x2(), t_(5, math.nan)), ValueError, r"\[0, 1\]"),
    Bad(
        2,
        "oracle x NaN",
        lambda: oracle()(torch.full((5, 2), math.nan), t_(5, 0.5)),
        ValueError,
        "NaN",
    ),
    Bad(
        2,
        "oracle data NaN",
        lambda: ExactMarginal(OT_PATH, FLOW, torch.full((3, 2), math.nan)),
        ValueError,
        "NaN",
    ),
    Bad(
        2,
        "oracle: float data on a token space",
        lambda: ExactMarginal(TOKEN_PATH, CTMC_POSTERIOR, tokens().float(), space=TOKENS),
        TypeError,
        "int64",
    ),
    Bad(
        2,
        "loss x_1 NaN (no space given)",
        lambda: flow_loss()(velocity_net(), torch.full((5, 2), math.nan)),
        ValueError,
        "NaN",
    ),
    Bad(
        2,
        "loss x_0 NaN (no space given)",
        lambda: flow_loss()(velocity_net(), x2(), x_0=torch.full((5, 2), math.nan)),
        ValueError,
        "NaN",
    ),
    Bad(2, "loss t=1.5", lambda: flow_loss()(velocity_net(), x2(), t=1.5), ValueError, r"\[0, 1\]"),
    Bad(
        2,
        "diffusion: negative g^2",
        lambda: DiffusionGenerator(
            coefficient=lambda x, t, z: -torch.ones_like(t)
        ).conditional_target(OT_PATH, OT_PATH.sample(x2(), t_(5, 0.5), x_0=x2())),
        ValueError,
        "g",
    ),
    Bad(
        2,
        "diffusion step: negative coefficient",
        lambda: DiffusionGenerator().step(
            lambda x, t: DriftDiffusion(x, -torch.ones(x.shape[0])), x2(), t_(5, 0.5), 0.1
        ),
        ValueError,
        ">= 0",
    ),
    Bad(
        2,
        "CTMC step: negative rates",
        lambda: CTMC_RATE.step(lambda x, t: -ctmc_field(x, t), tokens(), t_(4, 0.5), 0.1),
        ValueError,
        "negative rates",
    ),
    Bad(
        2,
        "jump step: negative intensity",
        lambda: simulate(
            JumpGenerator(R2),
            lambda x, t: AtomicJumpMeasure(
                intensity=-torch.ones(x.shape[0]), atoms=x, weights=torch.ones(x.shape[0], 1)
            ),
            x2(),
            2,
        ),
        ValueError,
        "intensit",
    ),
    Bad(
        2, "step h <= 0", lambda: FLOW.step(lambda x, t: x, x2(), t_(5, 0.5), -0.1), ValueError, "h"
    ),
    Bad(
        2,
        "step t=1.5",
        lambda: FLOW.step(lambda x, t: x, x2(), t_(5, 1.5), 0.1),
        ValueError,
        r"\[0, 1\]",
    ),
    Bad(
        2,
        "elbo: tokens outside the vocabulary",
        lambda: elbo(ctmc_field, CTMC_RATE, TOKEN_PATH, torch.full((2, 3), 9)),
        ValueError,
        "outside",
    ),
    Bad(
        2,
        "elbo: t_max=1.5",
        lambda: elbo(ctmc_field, CTMC_RATE, TOKEN_PATH, tokens(), t_max=1.5),
        ValueError,
        "t_max",
    ),
    Bad(
        2,
        "exact_log_prob: t_max=1.5",
        lambda: exact_log_prob(ctmc_field, CTMC_RATE, TOKEN_PATH, tokens(), t_max=1.5),
        ValueError,
        "t_max",
    ),
    Bad(
        2,
        "exact_log_prob: tokens outside the vocabulary",
        lambda: exact_log_prob(ctmc_field, CTMC_RATE, TOKEN_PATH, torch.full((2, 3), 9)),
        ValueError,
        "outside",
    ),
    Bad(
        2,
        "log_likelihood: x_1 NaN",
        lambda: log_likelihood(
            lambda x, t: x, torch.full((2, 2), math.nan), GaussianSource(R2).log_prob, 2
        ),
        ValueError,
        "NaN",
    ),
    Bad(
        2,
        "simulate on a manifold: x_0 off the sphere (space given)",
        lambda: simulate(
            RiemannianFlowGenerator(S2), lambda x, t: torch.zeros_like(x), 2 * sphere(), 2, space=S2
        ),
        ValueError,
        "not on Hypersphere",
    ),
    Bad(
        2,
        "Riemannian flow step: x off the sphere",
        lambda: RiemannianFlowGenerator(S2).step(
            lambda x, t: torch.zeros_like(x), 2 * sphere(), t_(4, 0.5), 0.1
        ),
        ValueError,
        "not on Hypersphere",
    ),
    Bad(
        2,
        "SO(3): a non-orthogonal rotation",
        lambda: ManifoldSpace(SO3(), (3, 3)).check(2 * torch.eye(3).expand(2, 3, 3)),
        ValueError,
        "not on SO3",
    ),
    Bad(2, "set_value_checks('no')", lambda: set_value_checks("no"), TypeError, "bool"),
    # 3. silent broadcasting --------------------------------------------------------------------
    Bad(
        3,
        "loss: velocity head (8, 1) for (8, 2) data",
        lambda: flow_loss()(velocity_net(1), x2(8)),
        ValueError,
        r"shape",
    ),
    Bad(
        3,
        "loss: velocity head (1, 2) for a batch of 8",
        lambda: flow_loss()(lambda x, t: {"velocity": torch.zeros(1, 2)}, x2(8)),
        ValueError,
        r"shape",
    ),
    Bad(
        3,
        "loss: weighting returns (8, 1)",
        lambda: flow_loss(weighting=lambda t: t[:, None])(velocity_net(), x2(8)),
        ValueError,
        r"weighting",
    ),
    Bad(
        3,
        "loss: x_0 of shape (5, 1)",
        lambda: flow_loss()(velocity_net(), x2(), x_0=torch.zeros(5, 1)),
        ValueError,
        "same shape",
    ),
    Bad(
        3,
        "loss: x_0 of shape (1, 2)",
        lambda: flow_loss()(velocity_net(), x2(), x_0=torch.zeros(1, 2)),
        ValueError,
        "same shape",
    ),
    Bad(
        3,
        "loss: t of shape (1,) for a batch of 5",
        lambda: flow_loss()(velocity_net(), x2(), t=torch.full((1,), 0.5)),
        ValueError,
        r"shape \(\) or \(5,\)",
    ),
    Bad(
        3,
        "path.sample: x_0 of shape (5, 1)",
        lambda: OT_PATH.sample(x2(), t_(5, 0.5), x_0=torch.zeros(5, 1)),
        ValueError,
        "shape",
    ),
    Bad(
        3,
        "path.sample: x_0 of shape (1, 2)",
        lambda: OT_PATH.sample(x2(), t_(5, 0.5), x_0=torch.zeros(1, 2)),
        ValueError,
        "shape",
    ),
    Bad(
        3,
        "path.sample: t of shape (1,) for 5 points",
        lambda: OT_PATH.sample(x2(), t_(1, 0.5)),
        ValueError,
        r"shape \(\) or \(5,\)",
    ),
    Bad(
        3,
        "path.sample: t of shape (5, 1)",
        lambda: OT_PATH.sample(x2(), torch.full((5, 1), 0.5)),
        ValueError,
        r"shape",
    ),
    Bad(
        3,
        "token path.sample: t of shape (1,) for 4 points",
        lambda: TOKEN_PATH.sample(tokens(), t_(1, 0.5)),
        ValueError,
        r"shape",
    ),
    Bad(
        3,
        "oracle: t of shape (1,) for 5 points",
        lambda: oracle()(x2(), t_(1, 0.5)),
        ValueError,
        r"shape",
    ),
    Bad(
        3,
        "oracle: x of event shape (3,)",
        lambda: oracle()(torch.zeros(5, 3), t_(5, 0.5)),
        ValueError,
        "event shape",
    ),
    Bad(
        3,
        "simulate: field returns (5, 1) for (5, 2) points",
        lambda: simulate(FLOW, lambda x, t: torch.zeros(x.shape[0], 1), x2(), 2),
        ValueError,
        "shape",
    ),
    Bad(
        3,
        "simulate RK4: field returns (1, 2) for (5, 2) points",
        lambda: simulate(FlowGenerator(solver=RK4()), lambda x, t: torch.zeros(1, 2), x2(), 2),
        ValueError,
        "shape",
    ),
    Bad(
        3,
        "simulate diffusion: drift (5, 1) for (5, 2) points",
        lambda: simulate(
            DiffusionGenerator(),
            lambda x, t: DriftDiffusion(torch.zeros(x.shape[0], 1), torch.ones(x.shape[0])),
            x2(),
            2,
        ),
        ValueError,
        "shape",
    ),
    Bad(
        3,
        "simulate CTMC: rates (4, 3, 5) for 4 tokens",
        lambda: simulate(CTMC_RATE, lambda x, t: torch.zeros(x.shape[0], 3, 5), tokens(), 2),
        ValueError,
        "shape",
    ),
    Bad(
        3,
        "MLP: t of shape (1,) for 5 points",
        lambda: MLP(R2, {"velocity": (2,)}, hidden=4)(x2(), t_(1, 0.5)),
        ValueError,
        "shape",
    ),
    Bad(
        3,
        "loss: x_0 with 4 points for 5 (space given)",
        lambda: flow_loss(space=R2)(velocity_net(), x2(), x_0=x2(4)),
        ValueError,
        "same shape",
    ),
    # 4. strings and booleans where enums and integers are expected ----------------------------
    Bad(
        4,
        "CTMCGenerator(head='posterior')",
        lambda: CTMCGenerator(TOKENS, LinearKappa(), head="posterior"),  # type: ignore[arg-type]
        TypeError,
        r"CTMCHead",
    ),
    Bad(
        4,
        "CTMCGenerator(method='tau_leaping')",
        lambda: CTMCGenerator(TOKENS, LinearKappa(), method="tau_leaping"),  # type: ignore[arg-type]
        TypeError,
        r"JumpMethod",
    ),
    Bad(
        4,
        "DiffusionGenerator(structure='full')",
        lambda: DiffusionGenerator(structure="full"),  # type: ignore[arg-type]
        TypeError,
        r"DiffusionStructure",
    ),
    Bad(
        4,
        "JumpGenerator(head='states')",
        lambda: JumpGenerator(TOKENS, LinearKappa(), head="states"),  # type: ignore[arg-type]
        TypeError,
        r"JumpHead",
    ),
    Bad(4, "TimeGrid.uniform(steps=True)", lambda: TimeGrid.uniform(True), ValueError, "steps"),
    Bad(4, "TimeGrid.uniform(steps=2.0)", lambda: TimeGrid.uniform(2.0), ValueError, "steps"),  # type: ignore[arg-type]
    Bad(
        4,
        "simulate(grid=True)",
        lambda: simulate(FLOW, lambda x, t: x, x2(), True),
        TypeError,
        "grid",
    ),
    Bad(4, "EuclideanSpace(True)", lambda: EuclideanSpace(True), ValueError, "event_shape"),
    Bad(
        4,
        "EuclideanSpace((2, False))",
        lambda: EuclideanSpace((2, False)),
        ValueError,
        "event_shape",
    ),
    Bad(4, "DiscreteSpace(True, 4)", lambda: DiscreteSpace(True, 4), ValueError, "length"),
    Bad(
        4,
        "ManifoldSpace(S2, True)",
        lambda: ManifoldSpace(Hypersphere(3), True),
        ValueError,
        "event_shape",
    ),
    Bad(
        4,
        "MLP(hidden=True)",
        lambda: MLP(R2, {"velocity": (2,)}, hidden=True),
        ValueError,
        "hidden",
    ),
    Bad(
        4,
        "elbo(num_times=True)",
        lambda: elbo(ctmc_field, CTMC_RATE, TOKEN_PATH, tokens(), num_times=True),
        ValueError,
        "num_times",
    ),
    Bad(
        4,
        "exact_log_prob(steps=True)",
        lambda: exact_log_prob(ctmc_field, CTMC_RATE, TOKEN_PATH, tokens(), steps=True),
        ValueError,
        "steps",
    ),
    Bad(4, "Bins(num=True)", lambda: Bins(-1.0, 1.0, True), ValueError, "num"),
    Bad(
        4,
        "ExactMarginal(max_pairs=True)",
        lambda: ExactMarginal(OT_PATH, FLOW, x2(3), max_pairs=True),
        ValueError,
        "max_pairs",
    ),
    Bad(4, "loss t=True", lambda: flow_loss()(velocity_net(), x2(), t=True), TypeError, "t"),
    # 5. raw errors -----------------------------------------------------------------------------
    Good(
        5,
        "ManifoldSpace.check: an empty batch is valid",
        lambda: S2.check(torch.zeros(0, 3)),
        lambda out: out is None,
    ),
    Good(
        5,
        "EuclideanSpace.check: an empty batch is valid",
        lambda: R2.check(torch.zeros(0, 2)),
        lambda out: out is None,
    ),
    Good(
        5,
        "DiscreteSpace.check: an empty batch is valid",
        lambda: TOKENS.check(torch.zeros(0, 3, dtype=torch.long)),
        lambda out: out is None,
    ),
    Bad(
        5,
        "oracle: empty batch",
        lambda: oracle()(torch.zeros(0, 2), t_(0, 0.5)),
        ValueError,
        "empty",
    ),
    Bad(
        5,
        "log_likelihood: empty batch",
        lambda: log_likelihood(lambda x, t: x, torch.zeros(0, 2), GaussianSource(R2).log_prob, 2),
        ValueError,
        "empty",
    ),
    Bad(
        5,
        "ExactOTCoupling: empty batches",
        lambda: ExactOTCoupling().pair(torch.zeros(0, 2), torch.zeros(0, 2)),
        ValueError,
        "empty",
    ),
    Bad(
        5,
        "BlockOTCoupling: empty batches",
        lambda: BlockOTCoupling().pair(torch.zeros(0, 2), torch.zeros(0, 2)),
        ValueError,
        "empty",
    ),
    Bad(
        5,
        "BlockOTCoupling: block_size 0",
        lambda: BlockOTCoupling(block_size=0),
        ValueError,
        "block_size",
    ),
    Bad(
        5,
        "SinkhornOTCoupling: empty batches",
        lambda: SinkhornOTCoupling().pair(torch.zeros(0, 2), torch.zeros(0, 2)),
        ValueError,
        "empty",
    ),
    Bad(
        5,
        "loss: empty batch",
        lambda: flow_loss()(velocity_net(), torch.zeros(0, 2)),
        ValueError,
        "non-empty",
    ),
    Good(
        5,
        "path.sample accepts a Python float t",
        lambda: OT_PATH.sample(x2(), 0.25, x_0=x2()).x_t,  # type: ignore[arg-type]
        lambda x: torch.allclose(x, 0.25 * x2() + 0.75 * x2()),
    ),
    Good(
        5,
        "path.sample accepts a 0-dim t",
        lambda: OT_PATH.sample(x2(), torch.tensor(0.25), x_0=x2()).t,
        lambda t: t.shape == (5,) and bool((t == 0.25).all()),
    ),
    Good(
        5,
        "oracle accepts a Python float t",
        lambda: (oracle()(x2(), 0.5), oracle()(x2(), t_(5, 0.5))),  # type: ignore[arg-type]
        lambda pair: torch.equal(pair[0], pair[1]),
    ),
    Good(
        5,
        "MLP accepts a Python float t",
        lambda: (MLP(R2, {"velocity": (2,)}, hidden=4), x2()),
        lambda pair: torch.equal(
            pair[0](pair[1], 0.5)["velocity"], pair[0](pair[1], t_(5, 0.5))["velocity"]
        ),
    ),
    Bad(
        5,
        "path.sample: t with 4 entries for 5 points",
        lambda: OT_PATH.sample(x2(), t_(4, 0.5)),
        ValueError,
        r"shape \(\) or \(5,\)",
    ),
    Bad(
        5,
        "path.sample: int64 z on a Gaussian path",
        lambda: OT_PATH.sample(torch.ones(5, 2, dtype=torch.long), t_(5, 0.5)),
        TypeError,
        "floating",
    ),
    Bad(
        5,
        "path.sample: float64 z with float32 t",
        lambda: OT_PATH.sample(x2().double(), t_(5, 0.5)),
        TypeError,
        "dtype",
    ),
    Bad(
        5,
        "path.sample: float32 x_0 with float64 z",
        lambda: OT_PATH.sample(x2().double(), t_(5, 0.5).double(), x_0=x2()),
        TypeError,
        "dtype",
    ),
    Bad(
        5,
        "loss: int64 x_1 for a flow (no space given)",
        lambda: flow_loss()(velocity_net(), torch.ones(5, 2, dtype=torch.long)),
        TypeError,
        "floating",
    ),
    Bad(
        5,
        "loss: float64 x_1 with float32 x_0",
        lambda: flow_loss()(velocity_net(), x2().double(), x_0=x2()),
        TypeError,
        "dtype",
    ),
    Bad(
        5,
        "loss: float16 x_1 (unsupported dtype)",
        lambda: flow_loss()(velocity_net(), x2().half()),
        TypeError,
        "float16",
    ),
    Bad(
        5,
        "loss: bfloat16 x_1 (unsupported dtype)",
        lambda: flow_loss()(velocity_net(), x2().bfloat16()),
        TypeError,
        "bfloat16",
    ),
    Bad(
        5,
        "oracle: float64 x for float32 data",
        lambda: oracle()(x2().double(), t_(5, 0.5).double()),
        TypeError,
        "dtype",
    ),
    Bad(
        5,
        "oracle: float64 t for float32 x",
        lambda: oracle()(x2(), t_(5, 0.5).double()),
        TypeError,
        "dtype",
    ),
    Bad(
        5,
        "energy_distance on float16",
        lambda: energy_distance(x2().half(), x2().half()),
        ValueError,
        "float16",
    ),
    Bad(
        5,
        "sliced_wasserstein on float16",
        lambda: sliced_wasserstein(x2().half(), x2().half()),
        ValueError,
        "float16",
    ),
    Bad(
        5,
        "rbf_mmd on bfloat16",
        lambda: rbf_mmd(x2().bfloat16(), x2().bfloat16()),
        ValueError,
        "bfloat16",
    ),
    Bad(
        5,
        "loss: wrong head name",
        lambda: flow_loss()(lambda x, t: {"vel": torch.zeros_like(x)}, x2()),
        ValueError,
        r"'velocity'.*'vel'",
    ),
    Bad(
        5,
        "loss: network returns a tensor, not heads",
        lambda: flow_loss()(lambda x, t: torch.zeros_like(x), x2()),
        TypeError,
        "heads",
    ),
    Bad(
        5,
        "field(): wrong head name",
        lambda: FLOW.field(lambda x, t: {"drift": x})(x2(), t_(5, 0.5)),
        ValueError,
        r"'velocity'",
    ),
    Bad(
        5,
        "FlowGenerator(solver=RK4) (a class)",
        lambda: FlowGenerator(solver=RK4),  # type: ignore[arg-type]
        TypeError,
        r"instance.*RK4\(\)",
    ),
    Bad(
        5,
        "AffineGaussianPath(CondOT) (a class)",
        lambda: AffineGaussianPath(CondOT),  # type: ignore[arg-type]
        TypeError,
        r"instance.*CondOT\(\)",
    ),
    Bad(
        5,
        "GeneratorMatchingLoss(path, FlowGenerator) (a class)",
        lambda: GeneratorMatchingLoss(OT_PATH, FlowGenerator),  # type: ignore[arg-type]
        TypeError,
        r"instance.*FlowGenerator\(\)",
    ),
    Bad(
        5,
        "GeneratorMatchingLoss(time_sampler=UniformTime) (a class)",
        lambda: flow_loss(time_sampler=UniformTime),
        TypeError,
        r"instance.*UniformTime\(\)",
    ),
    Bad(
        5,
        "simulate(FlowGenerator, ...) (a class)",
        lambda: simulate(FlowGenerator, lambda x, t: x, x2(), 2),  # type: ignore[arg-type]
        TypeError,
        r"instance.*FlowGenerator\(\)",
    ),
    Bad(
        5,
        "ExactMarginal(path, FlowGenerator) (a class)",
        lambda: ExactMarginal(OT_PATH, FlowGenerator, x2(3)),  # type: ignore[arg-type]
        TypeError,
        r"instance.*FlowGenerator\(\)",
    ),
    Bad(
        5,
        "FactorizedMixturePath(kappa=LinearKappa) (a class)",
        lambda: FactorizedMixturePath(TOKENS, CategoricalSource.uniform(TOKENS), LinearKappa),  # type: ignore[arg-type]
        TypeError,
        r"instance.*LinearKappa\(\)",
    ),
    Bad(
        5,
        "ManifoldSpace(geoopt.Sphere) (a class)",
        lambda: ManifoldSpace(geoopt.Sphere, (3,)),  # type: ignore[arg-type]
        TypeError,
        r"instance.*Sphere\(\)",
    ),
    Bad(
        5,
        "simulate: x_0 is a list",
        lambda: simulate(FLOW, lambda x, t: x, [[0.0, 1.0]], 2),
        TypeError,
        "tensor",
    ),
]

_IDS = [c.id for c in CASES]
assert len(set(_IDS)) == len(_IDS), "case ids must be distinct"


@pytest.mark.parametrize("case", CASES, ids=_IDS)
def test_public_entry(case: Bad | Good) -> None:
    if isinstance(case, Bad):
        with pytest.raises(case.error, match=case.match):
            case.call()
    else:
        assert case.check(case.call())


#: Value checks that read tensor values; switched off they must cost nothing and not raise.
_VALUE_ONLY = [
    "path.sample t=1.5",
    "oracle x NaN",
    "token path x_0 outside the vocabulary",
    "geodesic path: sphere points of norm 2",
    "CTMC step: negative rates",
]


@pytest.mark.parametrize("name", _VALUE_ONLY)
def test_value_checks_switch_off(name: str) -> None:
    case = next(c for c in CASES if c.id == name)
    assert isinstance(case, Bad)
    with value_checks(False):
        case.call()  # no error: the check that reads values is off


def test_table_covers_every_kind() -> None:
    kinds = {c.kind for c in CASES}
    assert kinds == {1, 2, 3, 4, 5}
