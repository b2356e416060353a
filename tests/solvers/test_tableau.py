"""Butcher tableaux: exact order conditions, the classical stage formulas reproduced bit for
bit in R^d and on manifolds, and a new method that plugs in as one tableau."""

import math
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import ClassVar, final

import pytest
import torch

from genmatch.manifolds import SO3, FlatTorus, Hypersphere, so3_exp
from genmatch.solvers import (
    EULER_TABLEAU,
    HEUN_TABLEAU,
    MIDPOINT_TABLEAU,
    RK4,
    RK4_TABLEAU,
    AbstractRiemannianSolver,
    AbstractRungeKutta,
    ButcherTableau,
    Euler,
    Heun,
    Midpoint,
    RiemannianEuler,
    RiemannianMidpoint,
    RiemannianRK4,
)
from genmatch.solvers.base import shift_time
from genmatch.sources import UniformSource
from genmatch.spaces import ManifoldSpace
from genmatch.testing import empirical_order

F64 = torch.float64
TABLEAUX = {
    "euler": EULER_TABLEAU,
    "midpoint": MIDPOINT_TABLEAU,
    "heun": HEUN_TABLEAU,
    "rk4": RK4_TABLEAU,
}


def _order_conditions(tab):
    """``(order, residual)`` of the rooted-tree conditions up to order 4, in exact arithmetic."""
    a = [
        [Fraction(tab.a[i][j]) if j < i else Fraction(0) for j in range(tab.stages)]
        for i in range(tab.stages)
    ]
    b, c = [Fraction(v) for v in tab.b], [Fraction(v) for v in tab.c]
    s = range(tab.stages)
    ac = [sum(a[i][j] * c[j] for j in s) for i in s]
    return [
        (1, sum(b) - 1),
        (2, sum(b[i] * c[i] for i in s) - Fraction(1, 2)),
        (3, sum(b[i] * c[i] ** 2 for i in s) - Fraction(1, 3)),
        (3, sum(b[i] * ac[i] for i in s) - Fraction(1, 6)),
        (4, sum(b[i] * c[i] ** 3 for i in s) - Fraction(1, 4)),
        (4, sum(b[i] * c[i] * ac[i] for i in s) - Fraction(1, 8)),
        (4, sum(b[i] * a[i][j] * c[j] ** 2 for i in s for j in s) - Fraction(1, 12)),
        (4, sum(b[i] * a[i][j] * ac[j] for i in s for j in s) - Fraction(1, 24)),
    ]


THREE_EIGHTHS = ButcherTableau(
    a=((), (Fraction(1, 3),), (Fraction(-1, 3), 1), (1, -1, 1)),
    b=(Fraction(1, 8), Fraction(3, 8), Fraction(3, 8), Fraction(1, 8)),
    c=(0, Fraction(1, 3), Fraction(2, 3), 1),
    order=4,
)


@pytest.mark.parametrize("name", [*TABLEAUX, "three_eighths"])
def test_order_conditions_hold_exactly_up_to_the_order_and_fail_above(name):
    tab = TABLEAUX.get(name, THREE_EIGHTHS)
    conditions = _order_conditions(tab)
    assert all(r == 0 for p, r in conditions if p <= tab.order)
    if tab.order < 4:
        assert any(r != 0 for p, r in conditions if p == tab.order + 1)


def test_malformed_tableaux_raise():
    half = Fraction(1, 2)
    with pytest.raises(ValueError, match="sum to 1"):
        ButcherTableau(a=((), (1,)), b=(half, 1), c=(0, 1), order=1)
    with pytest.raises(ValueError, match="row sums"):
        ButcherTableau(a=((), (1,)), b=(half, half), c=(0, half), order=1)
    with pytest.raises(ValueError, match="explicit"):
        ButcherTableau(a=((1,), (1,)), b=(half, half), c=(1, 1), order=1)
    with pytest.raises(ValueError, match="one entry per stage"):
        ButcherTableau(a=((),), b=(half, half), c=(0,), order=1)
    with pytest.raises(ValueError, match="order"):
        ButcherTableau(a=((),), b=(1,), c=(0,), order=2)


def _raises_exactly(message, **kwargs):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        ButcherTableau(**kwargs)


def test_each_malformation_alone_raises_its_own_message():
    """Every check fires on its own (one malformed field at a time) with its full message, and
    the extremes of the valid range are accepted: one stage, ``order = 1`` and
    ``order = stages``."""
    half = Fraction(1, 2)
    heun = {"a": ((), (1,)), "b": (half, half), "c": (0, 1)}
    per_stage = "a, b and c must have one entry per stage"
    _raises_exactly(per_stage, a=(), b=(), c=(), order=1)
    _raises_exactly(per_stage, **{**heun, "a": ((),)}, order=1)
    _raises_exactly(per_stage, **{**heun, "c": (0,)}, order=1)
    _raises_exactly(
        "row i of a must have i entries (an explicit method)", **{**heun, "a": ((), ())}, order=1
    )
    _raises_exactly(
        "the nodes must be the row sums of a: c_i = Σ_j a_ij", **{**heun, "c": (0, half)}, order=1
    )
    for order in (0, 3, 1.0):
        _raises_exactly(f"order must be an integer in [1, 2], got {order}", **heun, order=order)
    assert ButcherTableau(a=((),), b=(1,), c=(0,), order=1).stages == 1
    assert ButcherTableau(**heun, order=1).order == 1
    assert ButcherTableau(**heun, order=2).order == 2


@pytest.mark.parametrize("name", list(TABLEAUX))
def test_a_tableau_built_anew_steps_the_classical_formula_bit_for_bit(name):
    """A tableau constructed at run time from its coefficients (not the module's constants)
    gives the classical stage formula exactly: zero coefficients dropped, equal weights summed
    before scaling (``(h/6)(k₁ + 2(k₂ + k₃) + k₄)``)."""
    ref = TABLEAUX[name]
    tab = ButcherTableau(a=ref.a, b=ref.b, c=ref.c, order=ref.order)
    g = torch.Generator().manual_seed(3)
    a = torch.randn(4, 4, generator=g, dtype=F64)

    def velocity(x, t):
        return torch.tanh(x @ a) * (1 + t[:, None] ** 2)

    x, t = torch.randn(8, 4, generator=g, dtype=F64), torch.rand(8, generator=g, dtype=F64)
    for h in (0.1, 1 / 3):
        stepped = x + tab.increment(lambda w, s: velocity(x if w is None else x + w, s), t, h)
        assert torch.equal(stepped, _classical(name, velocity, x, t, h))


def test_shift_time_adds_per_point_times_and_keeps_a_shared_time_expanded():
    t = torch.tensor([0.1, 0.5, 0.9], dtype=F64)
    torch.testing.assert_close(shift_time(t, 0.25), t + 0.25, atol=0, rtol=0)
    shared = torch.tensor(0.1, dtype=F64).expand(2)
    shifted = shift_time(shared, 0.25)
    assert shifted.stride(0) == 0
    torch.testing.assert_close(shifted, shared + 0.25, atol=0, rtol=0)


def test_a_stage_with_a_zero_row_is_evaluated_at_the_step_start():
    """``a_i = (0, …)`` means no displacement: the stage gets ``w = None`` (the start itself)."""
    half = Fraction(1, 2)
    tab = ButcherTableau(a=((), (0,)), b=(half, half), c=(0, 0), order=1)
    seen = []

    def stage(w, s):
        seen.append(w)
        return torch.full((2, 1), 3.0, dtype=F64)

    total = tab.increment(stage, torch.zeros(2, dtype=F64), 0.5)
    assert seen == [None, None]
    torch.testing.assert_close(total, torch.full((2, 1), 1.5, dtype=F64), atol=0, rtol=0)


def _classical(name, velocity, x, t, h):
    """The methods as they are written by hand, for a bit-for-bit comparison."""
    if name == "euler":
        return x + h * velocity(x, t)
    if name == "midpoint":
        return x + h * velocity(x + (0.5 * h) * velocity(x, t), shift_time(t, 0.5 * h))
    if name == "heun":
        k1 = velocity(x, t)
        return x + (0.5 * h) * (k1 + velocity(x + h * k1, shift_time(t, h)))
    half, t_half = 0.5 * h, shift_time(t, 0.5 * h)
    k1 = velocity(x, t)
    k2 = velocity(x + half * k1, t_half)
    k3 = velocity(x + half * k2, t_half)
    k4 = velocity(x + h * k3, shift_time(t, h))
    return x + (h / 6.0) * (k1 + 2 * (k2 + k3) + k4)


SOLVERS = {"euler": Euler(), "midpoint": Midpoint(), "heun": Heun(), "rk4": RK4()}


@pytest.mark.parametrize("name", list(SOLVERS))
@pytest.mark.parametrize("shared", [False, True], ids=["per-point-t", "shared-t"])
def test_euclidean_steps_are_the_classical_formulas_bit_for_bit(name, shared, dtype):
    g = torch.Generator().manual_seed(0)
    a = torch.randn(5, 5, generator=g, dtype=dtype)

    def velocity(x, t):
        return torch.tanh(x @ a) * (1 + t[:, None] ** 2)

    x = torch.randn(32, 5, generator=g, dtype=dtype)
    t = torch.tensor(0.3, dtype=dtype).expand(32) if shared else torch.rand(32, dtype=dtype)
    for h in (0.1, 1 / 3, 0.0137):
        expected = _classical(name, velocity, x, t, h)
        assert torch.equal(SOLVERS[name].step(velocity, x, t, h), expected)


@pytest.mark.parametrize("name", list(SOLVERS))
def test_first_evaluation_is_at_the_very_inputs_and_shared_times_stay_expanded(name):
    calls = []

    def velocity(x, t):
        calls.append((x, t))
        return -x

    x, t = torch.ones(4, 2), torch.tensor(0.25).expand(4)
    SOLVERS[name].step(velocity, x, t, 0.1)
    assert calls[0][0] is x and calls[0][1] is t
    assert all(s.stride(0) == 0 for _, s in calls)
    assert len(calls) == SOLVERS[name].stages == SOLVERS[name].tableau.stages


def _riemannian_classical(solver, velocity, x, t, h):
    """The Riemannian methods written by hand, stage by stage in normal coordinates."""
    if isinstance(solver, RiemannianEuler):
        return solver.space.expmap(x, h * solver.tangent(velocity, x, t))
    k1 = solver.tangent(velocity, x, t)
    if isinstance(solver, RiemannianMidpoint):
        k2 = solver.stage(velocity, x, (0.5 * h) * k1, shift_time(t, 0.5 * h))
        return solver.space.expmap(x, h * k2)
    half, t_half = 0.5 * h, shift_time(t, 0.5 * h)
    k2 = solver.stage(velocity, x, half * k1, t_half)
    k3 = solver.stage(velocity, x, half * k2, t_half)
    k4 = solver.stage(velocity, x, h * k3, shift_time(t, h))
    return solver.space.expmap(x, (h / 6.0) * (k1 + 2 * (k2 + k3) + k4))


@pytest.mark.parametrize("solver_cls", [RiemannianEuler, RiemannianMidpoint, RiemannianRK4])
@pytest.mark.parametrize(
    "space",
    [
        ManifoldSpace(Hypersphere(3), (3,)),
        ManifoldSpace(SO3(), (3, 3)),
        ManifoldSpace(FlatTorus(2), (2,)),
    ],
    ids=["S2", "SO3", "T2"],
)
def test_riemannian_steps_are_the_classical_formulas_bit_for_bit(solver_cls, space, dtype):
    g = torch.Generator().manual_seed(1)
    x = UniformSource(space).sample(16, generator=g, dtype=dtype)
    shift = torch.randn(*space.event_shape, generator=g, dtype=dtype)

    def velocity(y, t):
        return torch.sin(y + shift) * (1 + t.reshape(-1, *([1] * (y.dim() - 1))))

    t = torch.rand(16, generator=g, dtype=dtype)
    solver = solver_cls(space)
    expected = _riemannian_classical(solver, velocity, x, t, 0.07)
    assert torch.equal(solver.step(velocity, x, t, 0.07), expected)


@final
@dataclass(frozen=True)
class ThreeEighths(AbstractRungeKutta):
    """Kutta's 3/8 rule: one tableau, nothing else."""

    tableau: ClassVar[ButcherTableau] = THREE_EIGHTHS
    order: ClassVar[int] = THREE_EIGHTHS.order
    stages: ClassVar[int] = THREE_EIGHTHS.stages


@final
@dataclass(frozen=True, eq=False)
class RiemannianThreeEighths(AbstractRiemannianSolver):
    """The same tableau on a manifold."""

    space: ManifoldSpace
    tableau: ClassVar[ButcherTableau] = THREE_EIGHTHS
    order: ClassVar[int] = THREE_EIGHTHS.order
    stages: ClassVar[int] = THREE_EIGHTHS.stages


def test_a_new_tableau_is_a_fourth_order_method_in_rd_and_on_the_sphere():
    def rotation(x, t):  # dx/dt = (1 + t) J x: rotation by t + t²/2
        return (1 + t)[:, None] * torch.stack([-x[:, 1], x[:, 0]], 1)

    def rotation_exact(t):
        a = t + t**2 / 2
        return torch.tensor([[math.cos(a), math.sin(a)]], dtype=F64)

    x_0 = torch.tensor([[1.0, 0.0]], dtype=F64)
    orders = empirical_order(ThreeEighths(), rotation, x_0, rotation_exact, [8, 16, 32, 64])
    assert abs(orders[-1] - 4) < 0.15, orders

    space = ManifoldSpace(Hypersphere(3), (3,))
    w = torch.tensor([0.3, -0.5, 0.8], dtype=F64)
    y_0 = UniformSource(space).sample(8, generator=torch.Generator().manual_seed(0), dtype=F64)

    def spin(y, t):  # small circles about w, not geodesics
        return (1 + t)[:, None] * torch.linalg.cross(w.expand_as(y), y)

    def spin_exact(t):
        return y_0 @ so3_exp(w * (t + t * t / 2)).T

    solver = RiemannianThreeEighths(space)
    orders = empirical_order(solver, spin, y_0, spin_exact, [8, 16, 32, 64])
    assert min(orders) > 4 - 0.15 and max(orders) < 4 + 0.3, orders
