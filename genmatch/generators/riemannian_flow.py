"""Flows on Riemannian manifolds: ``L_t f(x) = ⟨∇f(x), u_t(x)⟩_g`` (GM eq. 9.10)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import final

import torch
from torch import Tensor

from genmatch.divergences.base import AbstractBregmanDivergence
from genmatch.divergences.riemannian import RiemannianSquaredNorm
from genmatch.generators.base import (
    AbstractGenerator,
    AbstractLinearParametrization,
    TestFunction,
    check_step,
)
from genmatch.guidance.base import AbstractGuidableParametrization, extrapolate
from genmatch.paths.base import AbstractConditionalPath, AbstractInterpolantPath, PathSample
from genmatch.solvers.riemannian_base import AbstractRiemannianSolver
from genmatch.solvers.riemannian_euler import RiemannianEuler
from genmatch.spaces.base import AbstractStateSpace
from genmatch.spaces.manifold import ManifoldSpace, TangentVector
from genmatch.types import Field, HeadShapes, RawHeads


@final
@dataclass(frozen=True, eq=False)
class TangentVelocityParametrization(
    AbstractLinearParametrization, AbstractGuidableParametrization
):
    """Riemannian flows: ``Ω_x = V_x = T_xM``, ``K f = ∇_g f`` (the Riemannian gradient) and
    the metric ``⟨·,·⟩_{g(x)}`` (GM eq. 9.10).

    One raw head ``"velocity"`` in ambient coordinates, mapped into ``T_xM`` by the orthogonal
    projection (:meth:`constrain`). Values are :class:`~genmatch.spaces.TangentVector`.
    """

    space: ManifoldSpace

    def head_shapes(self, space: AbstractStateSpace) -> HeadShapes:
        return {"velocity": self.space.event_shape}

    def constrain(self, raw: RawHeads, x_t: Tensor, t: Tensor) -> TangentVector:
        return TangentVector(x_t, self.space.proju(x_t, raw["velocity"]))

    def test_operator(self, f: TestFunction, x_t: Tensor) -> Tensor:
        with torch.enable_grad():
            x = x_t.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(f(x).sum(), x, create_graph=True)
        return self.space.riemannian_gradient(x_t, grad)

    def inner(self, a: Tensor, b: TangentVector, x_t: Tensor) -> Tensor:
        return self.space.inner(x_t, a, b.v)

    def scale(self, value: TangentVector, factor: Tensor) -> TangentVector:
        return TangentVector(value.x, factor.reshape(-1, *[1] * (value.v.dim() - 1)) * value.v)

    def guide(
        self, conditional: TangentVector, unconditional: TangentVector, weight: Tensor, x_t: Tensor
    ) -> TangentVector:
        """``(1 + w) u(x|c) − w u(x)`` in ``T_xM`` (a linear combination of tangent vectors at
        the same base point is tangent)."""
        return TangentVector(conditional.x, extrapolate(conditional.v, unconditional.v, weight))

    def posterior_mean(self, values: TangentVector, weights: Tensor) -> TangentVector:
        # all latents share the base point x; the mean is taken in T_xM
        shape = (*weights.shape, *values.v.shape[1:])
        v = values.v.reshape(shape)
        w = weights.reshape(weights.shape + (1,) * (v.dim() - 2))
        return TangentVector(values.x.reshape(shape)[:, 0], (w * v).sum(1))


@final
@dataclass(frozen=True, eq=False)
class RiemannianFlowGenerator(AbstractGenerator):
    """The flow ``dX_t = u_t(X_t) dt`` with ``u_t(x) ∈ T_xM`` on a Riemannian manifold (GM
    eq. 9.10).

    Conditional target: the path's conditional velocity (e.g.
    :class:`~genmatch.paths.GeodesicPath`), as a :class:`~genmatch.spaces.TangentVector`.
    Default divergence: the metric norm
    :class:`~genmatch.divergences.riemannian.RiemannianSquaredNorm` (pass
    :class:`~genmatch.divergences.riemannian.AmbientSquaredNorm` for the plain MSE).
    Simulation: a Riemannian solver stepping through the exponential map (geodesic Euler by
    default). Every exponential map is re-projected onto ``M``
    (:meth:`~genmatch.spaces.ManifoldSpace.expmap`), so rounding does not accumulate over long
    float32 runs; with value checks on, a step whose input or result is off the manifold, or
    whose linear algebra fails there (``eigh`` on SPD), raises ``FloatingPointError`` naming
    the time and step size (two host syncs a step, switchable by ``set_value_checks``).

    Args:
        space: the manifold.
        solver: :class:`~genmatch.solvers.RiemannianEuler` (default),
            :class:`~genmatch.solvers.RiemannianMidpoint` or
            :class:`~genmatch.solvers.RiemannianRK4` on the same space.
        divergence: the Bregman divergence of the loss.

    Example:
        >>> import torch
        >>> from genmatch.manifolds import FlatTorus
        >>> from genmatch.paths import GeodesicPath
        >>> space = ManifoldSpace(FlatTorus(1), (1,))
        >>> flow, path = RiemannianFlowGenerator(space), GeodesicPath(space)
        >>> s = path.sample(torch.tensor([[3.0]]), torch.tensor([0.5]), x_0=torch.tensor([[-3.0]]))
        >>> s.x_t, flow.conditional_target(path, s).v  # the short way round, across ±π
        (tensor([[-3.1416]]), tensor([[-0.2832]]))
    """

    space: ManifoldSpace
    solver: AbstractRiemannianSolver | None = None
    divergence: AbstractBregmanDivergence | None = None  # type: ignore[assignment]
    parametrization: TangentVelocityParametrization = field(init=False)

    def __post_init__(self) -> None:
        if not isinstance(self.space, ManifoldSpace):
            raise TypeError(f"space must be a ManifoldSpace, got {type(self.space).__name__}")
        if self.solver is None:
            object.__setattr__(self, "solver", RiemannianEuler(self.space))
        elif self.solver.space is not self.space:
            raise ValueError("the solver must be built on the generator's space")
        if self.divergence is None:
            object.__setattr__(self, "divergence", RiemannianSquaredNorm(self.space))
        object.__setattr__(self, "parametrization", TangentVelocityParametrization(self.space))

    @property
    def nfe_per_step(self) -> int:  # type: ignore[override]
        assert self.solver is not None
        return self.solver.stages

    def conditional_target(
        self, path: AbstractConditionalPath, sample: PathSample
    ) -> TangentVector:
        if not isinstance(path, AbstractInterpolantPath):
            raise self.unsupported(path, "AbstractInterpolantPath.conditional_velocity")
        return TangentVector(sample.x_t, path.conditional_velocity(sample))

    def step(
        self,
        field: Field,
        x: Tensor,
        t: Tensor,
        h: float,
        *,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        assert self.solver is not None
        check_step(x, t, h)
        self.space.check(x, "x")  # off-manifold points (a value check: one sync per step)
        try:
            y = self.solver.step(field, x, t, h)
        except RuntimeError as e:  # torch.linalg.LinAlgError, or geoopt's eigh in TorchScript
            if "linalg" not in str(e) and not isinstance(e, torch.linalg.LinAlgError):
                raise
            raise FloatingPointError(_left_manifold(self.space, t, h, str(e).strip())) from e
        try:
            self.space.check(y, "the step's result")
        except ValueError as e:
            raise FloatingPointError(_left_manifold(self.space, t, h, str(e))) from e
        return y


def _left_manifold(space: ManifoldSpace, t: Tensor, h: float, reason: str) -> str:
    """The message of a step that left the manifold (or whose linear algebra failed there)."""
    last = reason.splitlines()[-1] if reason else ""
    return (
        f"a {type(space.manifold).__name__} step from t={float(t.reshape(-1)[0]):.6g} with "
        f"h={h:.3g} left the manifold ({last}). The velocity field is probably unbounded in the "
        "metric there (an exact flow can reach the boundary of SPD or infinity on hyperbolic "
        "space in finite time), or float32 rounding built up: use float64, smaller steps, or "
        "a field of bounded Riemannian norm"
    )
