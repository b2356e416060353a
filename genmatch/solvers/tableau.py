"""Butcher tableaux of explicit Runge–Kutta methods, and the one routine that steps them.

A tableau ``(a, b, c)`` defines the method: for ``dy/ds = f(s, y)`` a step of size ``h`` is

``k_i = f(s + c_i h, y + h Σ_{j<i} a_ij k_j)``,  ``y ↦ y + h Σ_i b_i k_i``.

:meth:`ButcherTableau.increment` evaluates the stages through a function of the stage's
displacement ``w_i = h Σ_j a_ij k_j`` and time, and returns ``h Σ_i b_i k_i``; the caller
decides what a displacement means: ``y + w`` in ``R^d``
(:class:`~genmatch.solvers.AbstractRungeKutta`), ``exp_x(w)`` in normal coordinates at ``x`` on
a manifold (:class:`~genmatch.solvers.AbstractRiemannianSolver`). So each method's
coefficients are written once, here, for both.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import final

from torch import Tensor

from genmatch.solvers.base import shift_time

#: A stage ``(w, s) ↦ k``: the velocity at the point displaced by ``w`` from the step's start,
#: at time ``s``; ``w = None`` is the step's start itself (no displacement).
StageFn = Callable[[Tensor | None, Tensor], Tensor]
#: ``h Σ_j q_j k_j`` planned as ``(d, ((n, (j, …)), …))``: ``(h/d) Σ_runs n Σ_{j ∈ run} k_j``.
_Plan = tuple[int, tuple[tuple[int, tuple[int, ...]], ...]]


@final
@dataclass(frozen=True)
class ButcherTableau:
    """An explicit Runge–Kutta method with exact rational coefficients (module docstring).

    Attributes:
        a: the rows ``(a_i1, …, a_i,i−1)`` of the strictly lower triangle, ``a_1 = ()``.
        b: the weights, summing to 1.
        c: the nodes, ``c_i = Σ_j a_ij`` (so ``c_1 = 0``).
        order: the classical order of the method (its order conditions are checked in the
            tests).

    Example:
        >>> from fractions import Fraction
        >>> half = Fraction(1, 2)
        >>> heun = ButcherTableau(a=((), (1,)), b=(half, half), c=(0, 1), order=2)
        >>> heun.stages
        2
    """

    a: tuple[tuple[Fraction | int, ...], ...]
    b: tuple[Fraction | int, ...]
    c: tuple[Fraction | int, ...]
    order: int
    _rows: tuple[_Plan, ...] = field(init=False, repr=False, compare=False)
    _weights: _Plan = field(init=False, repr=False, compare=False)
    _nodes: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        stages = len(self.b)
        if stages < 1 or len(self.a) != stages or len(self.c) != stages:
            raise ValueError("a, b and c must have one entry per stage")
        if any(len(row) != i for i, row in enumerate(self.a)):
            raise ValueError("row i of a must have i entries (an explicit method)")
        if sum(self.b) != 1:
            raise ValueError(f"the weights b must sum to 1, got {sum(self.b)}")
        if any(sum(row) != c for row, c in zip(self.a, self.c, strict=True)):
            raise ValueError("the nodes must be the row sums of a: c_i = Σ_j a_ij")
        if not (isinstance(self.order, int) and 1 <= self.order <= stages):
            raise ValueError(f"order must be an integer in [1, {stages}], got {self.order}")
        object.__setattr__(self, "_rows", tuple(_plan(row) for row in self.a))
        object.__setattr__(self, "_weights", _plan(self.b))
        object.__setattr__(self, "_nodes", tuple(float(c) for c in self.c))

    @property
    def stages(self) -> int:
        """The number of stages (field evaluations per step)."""
        return len(self.b)

    def increment(self, stage: StageFn, t: Tensor, h: float) -> Tensor:
        """``h Σ_i b_i k_i`` with ``k_i = stage(h Σ_{j<i} a_ij k_j, t + c_i h)``.

        The first stage is ``stage(None, t)`` with the very ``t`` passed in, so a caller that
        evaluates the field at the step's start gets exactly its ``(x, t)``. Stage times keep a
        shared time expanded (:func:`~genmatch.solvers.base.shift_time`); stages with equal
        nodes share one time tensor.

        Shapes:
            t: ``(batch,)``; returns what ``stage`` returns.
        """
        ks = [stage(None, t)]  # c_1 = 0 and a_1 = (): the step's start itself
        times = {0.0: t}
        for plan, c in zip(self._rows[1:], self._nodes[1:], strict=True):
            if c not in times:
                times[c] = shift_time(t, c * h)
            ks.append(stage(_combine(plan, ks, h), times[c]))
        total = _combine(self._weights, ks, h)
        assert total is not None  # the weights sum to 1: one is non-zero
        return total


def _plan(coefficients: Sequence[Fraction | int]) -> _Plan:
    """``h Σ_j q_j k_j`` as ``(h/d) Σ_j n_j k_j``: ``d`` the common denominator, ``n_j = d q_j``
    integers, zero terms dropped and runs of equal ``n_j`` summed before they are scaled. This
    gives the classical forms of the methods exactly, e.g. ``(h/6)(k₁ + 2(k₂ + k₃) + k₄)`` for
    RK4 and ``(h/2)(k₁ + k₂)`` for Heun."""
    d = math.lcm(*(Fraction(q).denominator for q in coefficients))
    runs: list[tuple[int, list[int]]] = []
    for j, q in enumerate(coefficients):
        if q == 0:
            continue
        n = int(q * d)
        if runs and runs[-1][0] == n:
            runs[-1][1].append(j)
        else:
            runs.append((n, [j]))
    return d, tuple((n, tuple(js)) for n, js in runs)


def _combine(plan: _Plan, ks: Sequence[Tensor], h: float) -> Tensor | None:
    """``h Σ_j q_j k_j`` by its :func:`_plan`; ``None`` if every ``q_j`` is 0."""
    d, runs = plan
    total: Tensor | None = None
    for n, js in runs:
        run = ks[js[0]]
        for j in js[1:]:
            run = run + ks[j]
        term = run if n == 1 else n * run
        total = term if total is None else total + term
    return None if total is None else (h / d) * total


_HALF = Fraction(1, 2)
_SIXTH, _THIRD = Fraction(1, 6), Fraction(1, 3)

#: Explicit Euler: ``k₁ = f(s, y)``, ``y + h k₁``.
EULER_TABLEAU = ButcherTableau(a=((),), b=(1,), c=(0,), order=1)
#: Explicit midpoint: ``k₂ = f(s + h/2, y + (h/2) k₁)``, ``y + h k₂``.
MIDPOINT_TABLEAU = ButcherTableau(a=((), (_HALF,)), b=(0, 1), c=(0, _HALF), order=2)
#: Heun (explicit trapezoid): ``k₂ = f(s + h, y + h k₁)``, ``y + (h/2)(k₁ + k₂)``.
HEUN_TABLEAU = ButcherTableau(a=((), (1,)), b=(_HALF, _HALF), c=(0, 1), order=2)
#: Classical RK4.
RK4_TABLEAU = ButcherTableau(
    a=((), (_HALF,), (0, _HALF), (0, 0, 1)),
    b=(_SIXTH, _THIRD, _THIRD, _SIXTH),
    c=(0, _HALF, _HALF, 1),
    order=4,
)
