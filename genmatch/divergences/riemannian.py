"""Bregman divergences on tangent spaces: the Riemannian metric norm and the ambient MSE."""

from __future__ import annotations

from dataclasses import dataclass
from typing import final

import torch
from torch import Tensor

from genmatch.divergences.base import AbstractBregmanDivergence
from genmatch.spaces.manifold import ManifoldSpace, TangentVector


def _generic(div: AbstractBregmanDivergence, a: TangentVector, b: TangentVector) -> Tensor:
    """``Φ(a) − Φ(b) − ⟨a − b, ∇Φ(b)⟩`` with ``∇_v Φ`` by autograd at fixed base points."""
    with torch.enable_grad():
        v = b.v if b.v.requires_grad else b.v.detach().requires_grad_(True)
        phi_b = div.phi(TangentVector(b.x, v))  # type: ignore[arg-type]
        (grad,) = torch.autograd.grad(phi_b.sum(), v, create_graph=True)
    lin = ((a.v - v) * grad).reshape(v.shape[0], -1).sum(1)
    return div.phi(a) - phi_b - lin  # type: ignore[arg-type]


def _check_pair(a: object, b: object) -> None:
    if not isinstance(a, TangentVector) or not isinstance(b, TangentVector):
        raise TypeError(
            "Riemannian divergences compare TangentVector values (base point and vector), "
            f"got {type(a).__name__} and {type(b).__name__}"
        )


@final
@dataclass(frozen=True, eq=False)
class RiemannianSquaredNorm(AbstractBregmanDivergence):
    """``D_x(a, b) = |a − b|²_{g(x)}``, the Bregman divergence of ``Φ_x(a) = |a|²_{g(x)}`` on
    ``Ω_x = T_xM`` (GM eq. 9.10, 9.15): the metric-aware flow-matching loss.

    Compared with :class:`AmbientSquaredNorm` (the plain MSE of ambient coordinates): both are
    Bregman divergences on ``T_xM``, so both give the marginal velocity as minimiser (GM
    Thm. 20); they weight errors differently where the metric is not the ambient one. On the
    sphere, the flat torus and ``SO(3)`` (metric induced by the ambient space) they coincide on
    tangent vectors; on the Poincaré ball the metric norm is ``λ_x²`` times the MSE, on SPD
    matrices it is ``|P^{-1/2}(a − b)P^{-1/2}|_F²``.

    Shapes:
        a, b: :class:`TangentVector` with ``(batch, *event)`` tensors; returns ``(batch,)``.

    Example:
        >>> import geoopt, torch
        >>> space = ManifoldSpace(geoopt.PoincareBall(), (2,))
        >>> x = torch.tensor([[0.5, 0.0]])
        >>> a, b = TangentVector(x, torch.tensor([[1.0, 0.0]])), TangentVector(x, torch.zeros(1, 2))
        >>> RiemannianSquaredNorm(space)(a, b)  # λ_x² = (2 / (1 − 0.25))²
        tensor([7.1111])
    """

    space: ManifoldSpace

    def phi(self, a: TangentVector) -> Tensor:  # type: ignore[override]
        return self.space.inner(a.x, a.v)

    def __call__(self, a: TangentVector, b: TangentVector) -> Tensor:  # type: ignore[override]
        _check_pair(a, b)
        return self.space.inner(a.x, a.v - b.v)

    def generic(self, a: TangentVector, b: TangentVector) -> Tensor:  # type: ignore[override]
        _check_pair(a, b)
        return _generic(self, a, b)


@final
@dataclass(frozen=True)
class AmbientSquaredNorm(AbstractBregmanDivergence):
    """``D(a, b) = |a − b|²`` in ambient coordinates (the plain MSE), ignoring the metric.

    See :class:`RiemannianSquaredNorm` for when the two differ.

    Example:
        >>> import torch
        >>> x = torch.zeros(1, 2)
        >>> AmbientSquaredNorm()(TangentVector(x, torch.ones(1, 2)), TangentVector(x, x))
        tensor([2.])
    """

    def phi(self, a: TangentVector) -> Tensor:  # type: ignore[override]
        return (a.v**2).reshape(a.v.shape[0], -1).sum(1)

    def __call__(self, a: TangentVector, b: TangentVector) -> Tensor:  # type: ignore[override]
        _check_pair(a, b)
        return ((a.v - b.v) ** 2).reshape(a.v.shape[0], -1).sum(1)

    def generic(self, a: TangentVector, b: TangentVector) -> Tensor:  # type: ignore[override]
        _check_pair(a, b)
        return _generic(self, a, b)
