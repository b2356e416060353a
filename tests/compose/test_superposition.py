"""Markov superposition of a flow and jumps (GM Prop. 3.1, §9.7)."""

from dataclasses import dataclass
from typing import final

import pytest
import torch

from genmatch import (
    MLP,
    AffineGaussianPath,
    CondOT,
    EuclideanSpace,
    ExactMarginal,
    FlowGenerator,
    GeneratorMatchingLoss,
    Midpoint,
    simulate,
    train,
)
from genmatch.compose import ConstantWeights, LinearWeights, Superposition, SwitchWeights
from genmatch.data import eight_gaussians
from genmatch.generators import AbstractGenerator, BinnedJumpGenerator, Bins
from genmatch.metrics import energy_distance
from genmatch.testing import kolmogorov_forward_gap

PATH = AffineGaussianPath(CondOT())


def _model(alpha, solver=None):
    flow = FlowGenerator() if solver is None else FlowGenerator(solver=solver)
    return Superposition(
        [flow, BinnedJumpGenerator(Bins(-5, 5, 128))], ConstantWeights((1 - alpha, alpha))
    )


@pytest.mark.parametrize("alpha", [0.0, 0.4, 1.0])
def test_superposition_solves_kfe(alpha):
    """α¹L_flow + α²L_jump solves the KFE for every α (weak form, 2-D quadrature, 1 %)."""
    model = _model(alpha)
    z = torch.tensor([0.6, -0.3], dtype=torch.float64)

    def f(x):
        return torch.sin(x[:, 0]) + torch.cos(0.7 * x[:, 1]) * x[:, 0]

    lhs, rhs = kolmogorov_forward_gap(PATH, model, f, z, 0.4, bounds=(-5.0, 5.0), points=101)
    assert abs(float(lhs - rhs)) < 1e-2 * abs(float(lhs))


@pytest.mark.parametrize("alpha", [0.3, 0.7])
@pytest.mark.parametrize("solver", [None, Midpoint()], ids=["euler", "midpoint"])
def test_oracle_superposition_reaches_data(alpha, solver):
    rng = torch.Generator().manual_seed(0)
    data = eight_gaussians(400, generator=rng)
    fresh = eight_gaussians(2000, generator=rng)
    model = _model(alpha, solver)
    oracle = ExactMarginal(PATH, model, data)
    out = simulate(model, oracle, torch.randn(1000, 2, generator=rng), 64, rng=rng)
    floor = float(energy_distance(data, fresh))
    assert float(energy_distance(out.x, fresh)) < floor + 0.02
    assert out.nfe == 64 * (1 if solver is None else 2)


def test_oracle_jump_only_reaches_data():
    rng = torch.Generator().manual_seed(1)
    data = eight_gaussians(400, generator=rng)
    fresh = eight_gaussians(2000, generator=rng)
    gen = BinnedJumpGenerator(Bins(-5, 5, 128))
    out = simulate(
        gen, ExactMarginal(PATH, gen, data), torch.randn(1000, 2, generator=rng), 64, rng=rng
    )
    assert float(energy_distance(out.x, fresh)) < float(energy_distance(data, fresh)) + 0.02
    crude = simulate(
        gen, ExactMarginal(PATH, gen, data), torch.randn(1000, 2, generator=rng), 2, rng=rng
    )
    assert float(energy_distance(crude.x, fresh)) > float(energy_distance(data, fresh)) + 0.05


def test_heads_targets_and_loss_are_the_parts():
    model = _model(0.5)
    space = EuclideanSpace(2)
    assert set(model.head_shapes(space)) == {"velocity", "jump_intensity", "jump_logits"}
    rng = torch.Generator().manual_seed(0)
    s = PATH.sample(
        torch.randn(8, 2, generator=rng), torch.rand(8, generator=rng) * 0.9, generator=rng
    )
    target = model.conditional_target(PATH, s)
    flow, jump = model.generators
    torch.testing.assert_close(target.parts[0], flow.conditional_target(PATH, s))
    torch.testing.assert_close(target.parts[1], jump.conditional_target(PATH, s))
    torch.testing.assert_close(target.weights, torch.full((8, 2), 0.5))
    net = MLP(space, model.head_shapes(space), hidden=16)
    terms = GeneratorMatchingLoss(PATH, model).terms(net, s.z, x_0=s.x_0, t=s.t)
    expected = flow.divergence(target.parts[0], terms.prediction.parts[0]) + jump.divergence(
        target.parts[1], terms.prediction.parts[1]
    )
    torch.testing.assert_close(terms.per_sample, expected)


def test_joint_training_reduces_loss():
    torch.manual_seed(0)
    model = _model(0.5)
    space = EuclideanSpace(2)
    net = MLP(space, model.head_shapes(space), hidden=64, depth=2)
    data = eight_gaussians(4000, generator=torch.Generator().manual_seed(0))
    loss_fn = GeneratorMatchingLoss(PATH, model, weighting=lambda t: (1 - t) ** 2)
    result = train(loss_fn, net, data, steps=300, batch_size=128, lr=2e-3)
    assert float(result.losses[-50:].mean()) < 0.8 * float(result.losses[:50].mean())
    out = simulate(model, net, torch.randn(500, 2), 16, rng=torch.Generator().manual_seed(0))
    assert bool(torch.isfinite(out.x).all())


def test_bad_construction():
    flow = FlowGenerator()
    with pytest.raises(ValueError, match="sum to 1"):
        ConstantWeights((0.5, 0.6))
    with pytest.raises(ValueError, match="at least two"):
        Superposition([flow], ConstantWeights((1.0,)))
    with pytest.raises(ValueError, match="shape"):
        Superposition([flow, BinnedJumpGenerator()], ConstantWeights((0.2, 0.3, 0.5)))
    with pytest.raises(ValueError, match="sum to 1"):
        Superposition([flow, BinnedJumpGenerator()], lambda t: torch.stack([t, t], 1))
    with pytest.raises(ValueError, match="velocity"):
        Superposition([flow, FlowGenerator()], ConstantWeights((0.5, 0.5))).head_shapes(
            EuclideanSpace(2)
        )


@final
@dataclass(frozen=True)
class WrappedJumps(AbstractGenerator):
    """A jump process written by a user without :class:`AbstractJumpGenerator`: it delegates to
    a binned jump generator and declares the split of its step (no move, jumps proposed)."""

    inner: BinnedJumpGenerator

    def __post_init__(self):
        object.__setattr__(self, "parametrization", self.inner.parametrization)
        object.__setattr__(self, "divergence", self.inner.divergence)

    def conditional_target(self, path, sample):
        return self.inner.conditional_target(path, sample)

    def marginal_target(self, path, x, t, data, posterior):
        return self.inner.marginal_target(path, x, t, data, posterior)

    def step(self, field, x, t, h, *, generator=None):
        return self.inner.step(field, x, t, h, generator=generator)

    def move(self, field, x, t, h, *, generator=None):
        return x

    def propose(self, value, x, t, h, *, generator=None):
        return self.inner.propose(value, x, t, h, generator=generator)


@pytest.mark.parametrize("solver", [None, Midpoint()], ids=["euler", "midpoint"])
def test_a_new_jump_process_plugs_in_by_its_move_and_propose(solver):
    """The superposition asks its parts for moves and jumps, not for their class: the wrapped
    jump part samples exactly as the binned generator it wraps, at the same NFE."""
    rng = torch.Generator().manual_seed(0)
    data = eight_gaussians(100, generator=rng)
    x_0 = torch.randn(200, 2, generator=rng)
    reference = _model(0.4, solver)
    flow, jump = reference.generators
    model = Superposition([flow, WrappedJumps(jump)], reference.weights)
    out = {}
    for name, m in (("reference", reference), ("wrapped", model)):
        oracle = ExactMarginal(PATH, m, data)
        out[name] = simulate(m, oracle, x_0, 8, rng=torch.Generator().manual_seed(1))
    assert torch.equal(out["wrapped"].x, out["reference"].x)
    assert out["wrapped"].nfe == out["reference"].nfe == 8 * (1 if solver is None else 2)
    flow_only = simulate(flow, ExactMarginal(PATH, flow, data), x_0, 8).x
    assert not torch.equal(out["wrapped"].x, flow_only)  # and the jumps did happen


def _switch_model(at):
    jump_then_flow = SwitchWeights((0.0, 1.0), (1.0, 0.0), at=at)
    return Superposition([FlowGenerator(), BinnedJumpGenerator(Bins(-5, 5, 128))], jump_then_flow)


@pytest.mark.parametrize(
    "weights",
    [LinearWeights((1.0, 0.0), (0.2, 0.8)), SwitchWeights((0.0, 1.0), (0.7, 0.3), at=0.5)],
    ids=["linear", "switch"],
)
@pytest.mark.parametrize("t", [0.3, 0.6])
def test_time_dependent_superposition_solves_kfe(weights, t):
    """α_t L_flow + (1 − α_t) L_jump with α depending on t solves the KFE at every t (1 %)."""
    model = Superposition([FlowGenerator(), BinnedJumpGenerator(Bins(-5, 5, 128))], weights)
    z = torch.tensor([0.6, -0.3], dtype=torch.float64)

    def f(x):
        return torch.sin(x[:, 0]) + torch.cos(0.7 * x[:, 1]) * x[:, 0]

    lhs, rhs = kolmogorov_forward_gap(PATH, model, f, z, t, bounds=(-5.0, 5.0), points=101)
    assert abs(float(lhs - rhs)) < 1e-2 * abs(float(lhs))


def test_weight_schedules_are_the_equations():
    t = torch.tensor([0.0, 0.25, 0.5, 1.0], dtype=torch.float64)
    lin = LinearWeights((1.0, 0.0), (0.2, 0.8))(t)
    expected = torch.stack([1 - 0.8 * t, 0.8 * t], 1)
    torch.testing.assert_close(lin, expected)
    switch = SwitchWeights((0.0, 1.0), (1.0, 0.0), at=0.5)(t)
    torch.testing.assert_close(switch[:, 1], torch.tensor([1.0, 1.0, 0.0, 0.0], dtype=t.dtype))
    assert switch.dtype == lin.dtype == torch.float64


def test_switch_weights_sample_one_part_then_the_other():
    """Jumps on [0, ½), flow on [½, 1]: on the flow half the step is exactly the flow's step."""
    rng = torch.Generator().manual_seed(0)
    data = eight_gaussians(100, generator=rng)
    x = torch.randn(50, 2, generator=rng)
    model = _switch_model(0.5)
    flow, jump = model.generators
    oracle = ExactMarginal(PATH, model, data)
    late = torch.full((50,), 0.5)
    flow_step = flow.step(ExactMarginal(PATH, flow, data), x, late, 0.125)
    torch.testing.assert_close(model.step(oracle, x, late, 0.125), flow_step)
    early = torch.full((50,), 0.25)
    moved = model.step(oracle, x, early, 0.125, generator=torch.Generator().manual_seed(1))
    jumped = jump.step(
        ExactMarginal(PATH, jump, data), x, early, 0.125, generator=torch.Generator().manual_seed(1)
    )
    torch.testing.assert_close(moved, jumped)


def test_bad_weight_schedules():
    with pytest.raises(ValueError, match="sum to 1"):
        LinearWeights((0.5, 0.5), (0.5, 0.6))
    with pytest.raises(ValueError, match="end 3"):
        LinearWeights((0.5, 0.5), (0.2, 0.3, 0.5))
    with pytest.raises(ValueError, match=">= 0"):
        SwitchWeights((-0.5, 1.5), (1.0, 0.0), at=0.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        SwitchWeights((0.0, 1.0), (1.0, 0.0), at=1.5)
    with pytest.raises(TypeError, match="float"):
        SwitchWeights((0.0, 1.0), (1.0, 0.0), at="0.5")
    with pytest.raises(ValueError, match="sum to 1"):
        ConstantWeights((float("nan"), 1.0))
