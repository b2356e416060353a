"""Fixed-step ODE methods on Riemannian manifolds, stepping through the exponential map.

Each step solves ``dx/dt = u_t(x)`` in normal coordinates at the current point ``x``: with
``y = log_x(x(s))`` the ODE reads ``dy/ds = (d log_x)_{x(s)} u_s(x(s))``, a smooth ODE on the
vector space ``T_xM`` to which a classical Runge–Kutta method applies with its full order;
the step ends with ``x_{t+h} = exp_x(y_{t+h})``. Stage points are ``exp_x(y)``, stage
velocities are projected onto the tangent space and pulled back to ``T_xM`` by the
differential of ``log_x`` (closed form on the sphere and the torus, ``torch.func.jvp``
otherwise; exact either way). Geodesic Euler needs no pull-back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, final

import torch
from torch import Tensor

from genmatch.manifolds.base import AbstractCompactManifold
from genmatch.solvers.base import AbstractODESolver, VelocityFn, shift_time
from genmatch.spaces.manifold import ManifoldSpace, TangentVector


class AbstractRiemannianSolver(AbstractODESolver):
    """A Riemannian fixed-step method on ``space`` (see the module docstring).

    The velocity may return tensors or :class:`~genmatch.spaces.TangentVector` values; they
    are projected onto the tangent space before use. ``order`` is the classical order of the
    Runge–Kutta method, kept on the manifold.
    """

    space: ManifoldSpace

    def tangent(self, velocity: VelocityFn, y: Tensor, s: Tensor) -> Tensor:
        """``P_y u_s(y)``: the velocity at ``y`` projected onto ``T_yM``."""
        v = velocity(y, s)
        return self.space.proju(y, v.v if isinstance(v, TangentVector) else v)

    def pull_back(self, x: Tensor, y: Tensor, k: Tensor) -> Tensor:
        """``(d log_x)_y [k]`` for ``k ∈ T_yM``: a stage velocity in normal coordinates at x."""
        manifold = self.space.manifold
        if isinstance(manifold, AbstractCompactManifold):  # closed forms where known
            return manifold.dlogmap(x, y, k)
        return torch.func.jvp(lambda p: manifold.logmap(x, p), (y,), (k,))[1]

    def stage(self, velocity: VelocityFn, x: Tensor, w: Tensor, s: Tensor) -> Tensor:
        """The pulled-back velocity at the stage point ``exp_x(w)`` and time ``s``."""
        y = self.space.expmap(x, w)
        return self.pull_back(x, y, self.tangent(velocity, y, s))


@final
@dataclass(frozen=True, eq=False)
class RiemannianEuler(AbstractRiemannianSolver):
    """Geodesic Euler ``x_{t+h} = exp_x(h P_x u_t(x))``. Order 1, 1 evaluation per step.

    Example:
        >>> import math, torch
        >>> from genmatch.manifolds import Hypersphere
        >>> solver = RiemannianEuler(ManifoldSpace(Hypersphere(3), (3,)))
        >>> east = lambda x, t: torch.tensor([[0.0, 1.0, 0.0]])  # along the equator
        >>> x = solver.step(east, torch.tensor([[1.0, 0.0, 0.0]]), torch.zeros(1), math.pi / 2)
        >>> x.round(decimals=4).abs()  # a quarter of the equator
        tensor([[0., 1., 0.]])
    """

    space: ManifoldSpace
    order: ClassVar[int] = 1
    stages: ClassVar[int] = 1

    def step(self, velocity: VelocityFn, x: Tensor, t: Tensor, h: float) -> Tensor:
        return self.space.expmap(x, h * self.tangent(velocity, x, t))


@final
@dataclass(frozen=True, eq=False)
class RiemannianMidpoint(AbstractRiemannianSolver):
    """Midpoint in normal coordinates at ``x``: ``k₁ = P_x u_t(x)``,
    ``k₂ = (d log_x)[u_{t+h/2}(exp_x(h k₁/2))]``, ``x_{t+h} = exp_x(h k₂)``. Order 2, 2
    evaluations per step."""

    space: ManifoldSpace
    order: ClassVar[int] = 2
    stages: ClassVar[int] = 2

    def step(self, velocity: VelocityFn, x: Tensor, t: Tensor, h: float) -> Tensor:
        k1 = self.tangent(velocity, x, t)
        k2 = self.stage(velocity, x, (0.5 * h) * k1, shift_time(t, 0.5 * h))
        return self.space.expmap(x, h * k2)


@final
@dataclass(frozen=True, eq=False)
class RiemannianRK4(AbstractRiemannianSolver):
    """Classical RK4 in normal coordinates at ``x`` (stages at ``exp_x(·)``, velocities pulled
    back to ``T_xM``), ``x_{t+h} = exp_x(h (k₁ + 2k₂ + 2k₃ + k₄)/6)``. Order 4, 4 evaluations
    per step."""

    space: ManifoldSpace
    order: ClassVar[int] = 4
    stages: ClassVar[int] = 4

    def step(self, velocity: VelocityFn, x: Tensor, t: Tensor, h: float) -> Tensor:
        half = 0.5 * h
        t_half = shift_time(t, half)
        k1 = self.tangent(velocity, x, t)
        k2 = self.stage(velocity, x, half * k1, t_half)
        k3 = self.stage(velocity, x, half * k2, t_half)
        k4 = self.stage(velocity, x, h * k3, shift_time(t, h))
        return self.space.expmap(x, (h / 6.0) * (k1 + 2 * (k2 + k3) + k4))
