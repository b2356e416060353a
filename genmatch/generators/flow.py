"""Flows on ``R^d``: ``L_t f = ∇f^T u_t`` (GM eq. 9.5)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import final

import torch
from torch import Tensor

from genmatch._checks import check_instance
from genmatch.divergences.base import AbstractBregmanDivergence
from genmatch.divergences.squared_euclidean import SquaredEuclidean
from genmatch.generators.base import (
    AbstractGenerator,
    AbstractLinearParametrization,
    TestFunction,
    check_step,
    same_shape_field,
)
from genmatch.guidance.base import (
    AbstractGuidableParametrization,
    AbstractTiltableParametrization,
    extrapolate,
    per_point,
)
from genmatch.guidance.bound import BoundLikelihood
from genmatch.paths.base import (
    AbstractConditionalPath,
    AbstractGaussianPath,
    AbstractInterpolantPath,
    PathSample,
)
from genmatch.solvers.base import AbstractODESolver
from genmatch.solvers.euler import Euler
from genmatch.spaces.base import AbstractStateSpace
from genmatch.types import Field, HeadShapes, RawHeads


@final
@dataclass(frozen=True)
class VelocityParametrization(
    AbstractLinearParametrization, AbstractGuidableParametrization, AbstractTiltableParametrization
):
    """Flows: ``Ω_x = V_x = R^d``, ``K f = ∇f``, Euclidean inner product (GM eq. 9.5).

    One raw head ``"velocity"`` shaped like a point, used as is.
    """

    def head_shapes(self, space: AbstractStateSpace) -> HeadShapes:
        event_shape = getattr(space, "event_shape", None)
        if event_shape is None:
            raise TypeError(
                f"VelocityParametrization needs a space with an event_shape, got {space}"
            )
        return {"velocity": tuple(event_shape)}

    def constrain(self, raw: RawHeads, x_t: Tensor, t: Tensor) -> Tensor:
        return raw["velocity"]

    def test_operator(self, f: TestFunction, x_t: Tensor) -> Tensor:
        with torch.enable_grad():
            x = x_t.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(f(x).sum(), x, create_graph=True)
        return grad

    def inner(self, a: Tensor, b: Tensor, x_t: Tensor) -> Tensor:
        return (a * b).reshape(a.shape[0], -1).sum(1)

    def guide(
        self, conditional: Tensor, unconditional: Tensor, weight: Tensor, x_t: Tensor
    ) -> Tensor:
        """``(1 + w) u(x|c) − w u(x)``."""
        return extrapolate(conditional, unconditional, weight)

    def tilt(
        self,
        value: Tensor,
        x_t: Tensor,
        t: Tensor,
        log_likelihood: BoundLikelihood,
        weight: Tensor,
        path: AbstractConditionalPath,
    ) -> Tensor:
        """``u_t(x) + w b_t ∇ log p_t(c|x)``, ``b_t = σ_t (α̇_t σ_t/α_t − σ̇_t)`` on an affine
        Gaussian path (0 where ``α_t = 0``: there ``x_t`` carries no information on ``c``)."""
        if not isinstance(path, AbstractGaussianPath):
            raise TypeError(
                f"predictor guidance of a flow needs an AbstractGaussianPath, got "
                f"{type(path).__name__}"
            )
        s = path.coefficients(t)
        ok = s.alpha_t > 0
        b = torch.where(
            ok,
            s.sigma_t * (s.d_alpha_t * s.sigma_t / torch.where(ok, s.alpha_t, 1.0) - s.d_sigma_t),
            0.0,
        )
        with torch.enable_grad():
            x = x_t.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(log_likelihood(x).sum(), x)
        return value + per_point(weight * b, value) * grad


@final
@dataclass(frozen=True)
class FlowGenerator(AbstractGenerator):
    """The deterministic flow ``dX_t = u_t(X_t) dt`` on ``R^d`` (GM eq. 9.5).

    Conditional target: the path's conditional velocity ``u_t(x|z)`` (any
    :class:`~genmatch.paths.AbstractInterpolantPath`). Default divergence: squared Euclidean
    (the flow-matching loss). Simulation: the ODE method ``solver``.

    Args:
        solver: the ODE method used by :meth:`step` (``Euler()``, ``Midpoint()``, ``Heun()``,
            ``RK4()``); swap it with ``dataclasses.replace(flow, solver=RK4())``.
        divergence: the Bregman divergence of the loss.

    Example:
        >>> import torch
        >>> from genmatch.paths import AffineGaussianPath, CondOT
        >>> flow = FlowGenerator()
        >>> path = AffineGaussianPath(CondOT())
        >>> s = path.sample(torch.ones(2, 2), torch.full((2,), 0.3), x_0=torch.zeros(2, 2))
        >>> flow.conditional_target(path, s)
        tensor([[1., 1.],
                [1., 1.]])
    """

    solver: AbstractODESolver = field(default_factory=Euler)
    divergence: AbstractBregmanDivergence = field(default_factory=SquaredEuclidean)
    parametrization: VelocityParametrization = field(
        default_factory=VelocityParametrization, init=False
    )

    def __post_init__(self) -> None:
        check_instance(self.solver, AbstractODESolver, "solver")
        check_instance(self.divergence, AbstractBregmanDivergence, "divergence")

    @property
    def nfe_per_step(self) -> int:  # type: ignore[override]
        return self.solver.stages

    def conditional_target(self, path: AbstractConditionalPath, sample: PathSample) -> Tensor:
        if not isinstance(path, AbstractInterpolantPath):
            raise self.unsupported(path, "AbstractInterpolantPath.conditional_velocity")
        return path.conditional_velocity(sample)

    def step(
        self,
        field: Field,
        x: Tensor,
        t: Tensor,
        h: float,
        *,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        check_step(x, t, h)
        return self.solver.step(same_shape_field(field), x, t, h)
