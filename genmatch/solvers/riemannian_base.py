"""Fixed-step ODE methods on Riemannian manifolds, stepping through the exponential map.

Each step solves ``dx/dt = u_t(x)`` in normal coordinates at the current point ``x``: with
``y = log_x(x(s))`` the ODE reads ``dy/ds = (d log_x)_{x(s)} u_s(x(s))``, a smooth ODE on the
vector space ``T_xM`` to which a classical Runge–Kutta method applies with its full order;
the step ends with ``x_{t+h} = exp_x(y_{t+h})``. Stage points are ``exp_x(y)``, stage
velocities are projected onto the tangent space and pulled back to ``T_xM`` by the
differential of ``log_x`` (closed form on the sphere, the torus and ``SO(3)``, factor by factor
on products, ``torch.func.jvp`` otherwise; exact either way). Geodesic Euler needs no pull-back.
The coefficients are the Euclidean methods' Butcher tableaux
(:mod:`genmatch.solvers.tableau`), stepped by the same routine.
"""

from __future__ import annotations

from typing import ClassVar

import geoopt
import torch
from torch import Tensor

from genmatch.manifolds.base import AbstractCompactManifold
from genmatch.solvers.base import AbstractODESolver, VelocityFn
from genmatch.solvers.tableau import ButcherTableau
from genmatch.spaces.manifold import ManifoldSpace, TangentVector


class AbstractRiemannianSolver(AbstractODESolver):
    """A Riemannian fixed-step method on ``space`` (see the module docstring).

    A step runs the explicit Runge–Kutta method ``tableau`` in normal coordinates at ``x``:
    ``k₁ = P_x u_t(x)``, stage points ``exp_x(h Σ_j a_ij k_j)`` whose velocities are pulled
    back to ``T_xM`` (:meth:`stage`), and ``x_{t+h} = exp_x(h Σ_i b_i k_i)``. The velocity may
    return tensors or :class:`~genmatch.spaces.TangentVector` values; they are projected onto
    the tangent space before use, so a field need not be tangent: its normal component is
    discarded (a network's output is rarely exactly tangent) and the step is that of its
    tangent part ``P_x u``. ``order`` is the classical order of the Runge–Kutta method,
    kept on the manifold.
    """

    space: ManifoldSpace
    tableau: ClassVar[ButcherTableau]

    def step(self, velocity: VelocityFn, x: Tensor, t: Tensor, h: float) -> Tensor:
        def stage(w: Tensor | None, s: Tensor) -> Tensor:
            if w is None:
                return self.tangent(velocity, x, s)
            return self.stage(velocity, x, w, s)

        return self.space.expmap(x, self.tableau.increment(stage, t, h))

    def tangent(self, velocity: VelocityFn, y: Tensor, s: Tensor) -> Tensor:
        """``P_y u_s(y)``: the velocity at ``y`` projected onto ``T_yM``."""
        v = velocity(y, s)
        return self.space.proju(y, v.v if isinstance(v, TangentVector) else v)

    def pull_back(self, x: Tensor, y: Tensor, k: Tensor) -> Tensor:
        """``(d log_x)_y [k]`` for ``k ∈ T_yM``: a stage velocity in normal coordinates at x."""
        return _pull_back(self.space, x, y, k)

    def stage(self, velocity: VelocityFn, x: Tensor, w: Tensor, s: Tensor) -> Tensor:
        """The pulled-back velocity at the stage point ``exp_x(w)`` and time ``s``."""
        y = self.space.expmap(x, w)
        return self.pull_back(x, y, self.tangent(velocity, y, s))


def _pull_back(space: ManifoldSpace, x: Tensor, y: Tensor, k: Tensor) -> Tensor:
    """``(d log_x)_y [k]``: closed forms where known, factor by factor on products (``log`` of
    a product is the product of the factors' ``log``), ``torch.func.jvp`` otherwise."""
    manifold = space.manifold
    if isinstance(manifold, AbstractCompactManifold):
        return manifold.dlogmap(x, y, k)
    if isinstance(manifold, geoopt.ProductManifold):
        parts = zip(space.factors, space.split(x), space.split(y), space.split(k), strict=True)
        return space.join([_pull_back(f, x_i, y_i, k_i) for f, x_i, y_i, k_i in parts])
    return torch.func.jvp(lambda p: manifold.logmap(x, p), (y,), (k,))[1]
