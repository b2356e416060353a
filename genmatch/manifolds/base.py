"""Compact manifolds with closed-form geometry, as geoopt ``Manifold`` subclasses.

geoopt supplies the manifold protocol (``projx``, ``proju``, ``expmap``, ``logmap``, ``inner``,
``dist``, point and tangent checks). The manifolds of this subpackage add what generative
modelling on a compact manifold needs and geoopt does not carry: the intrinsic dimension,
the Riemannian volume, uniform sampling with an explicit ``torch.Generator``, and the volume
distortion of the exponential map in normal coordinates, which gives the density of geodesic
conditional paths (:class:`genmatch.paths.GeodesicPath`).
"""

from __future__ import annotations

import abc

import geoopt
import torch
from torch import Tensor


class AbstractCompactManifold(geoopt.Manifold):
    """A compact Riemannian manifold ``M`` of intrinsic dimension ``n`` with closed forms.

    Subclasses implement geoopt's protocol plus the methods below. Points are tensors
    ``(..., *point_shape)`` with ``len(point_shape) == ndim``.
    """

    reversible = False

    @property
    @abc.abstractmethod
    def intrinsic_dim(self) -> int:
        """The dimension ``n`` of ``M`` (2 for ``S²``, 3 for ``SO(3)``)."""

    @property
    @abc.abstractmethod
    def point_shape(self) -> tuple[int, ...]:
        """The shape of one point in its ambient coordinates."""

    @abc.abstractmethod
    def volume(self) -> float:
        """``vol(M)`` under the Riemannian volume measure (the reference measure)."""

    @abc.abstractmethod
    def random_uniform_points(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> Tensor:
        """``n`` points from the normalised Riemannian volume, ``(n, *point_shape)``."""

    @abc.abstractmethod
    def log_exp_jacobian(self, z: Tensor, w: Tensor) -> Tensor:
        """``log θ_z(w)``: ``exp_z`` maps the volume ``dw`` of ``T_zM`` to ``θ_z(w) dw``.

        Shapes:
            z, w: ``(batch, *point_shape)``; returns ``(batch,)``.
        """

    @abc.abstractmethod
    def injectivity_excess(self, z: Tensor, w: Tensor) -> Tensor:
        """How far ``w ∈ T_zM`` lies beyond the domain where ``exp_z`` is injective (the open
        ball or cube bounded by the cut locus), in metric units: ``< 0`` strictly inside.

        Shapes:
            z, w: ``(batch, *point_shape)``; returns ``(batch,)``.
        """

    def project_drift(self, x: Tensor) -> Tensor:
        """Points a rounding error away from ``M`` put back on it, differentiably.

        Used after every exponential map; the default is :meth:`projx`. Override it where
        ``projx`` has no usable gradient at points of ``M`` (``SO(3)``: an SVD with equal
        singular values).
        """
        return self.projx(x)

    def dlogmap(self, x: Tensor, y: Tensor, k: Tensor) -> Tensor:
        """``(d log_x)_y [k]``: the derivative of ``y ↦ log_x(y)`` along ``k ∈ T_yM``.

        The default differentiates :meth:`logmap` with ``torch.func.jvp``; manifolds override
        it with a closed form (used by the Riemannian solvers).
        """
        return torch.func.jvp(lambda p: self.logmap(x, p), (y,), (k,))[1]

    def retr(self, x: Tensor, u: Tensor) -> Tensor:
        return self.expmap(x, u)

    def egrad2rgrad(self, x: Tensor, u: Tensor) -> Tensor:
        return self.proju(x, u)

    def transp(self, x: Tensor, y: Tensor, v: Tensor) -> Tensor:
        return self.proju(y, v)


def sinc_sq(theta_sq: Tensor) -> Tensor:
    """``sin θ / θ`` as a smooth function of ``θ²`` (Taylor series near 0)."""
    small = theta_sq < 1e-6
    theta = torch.where(small, torch.ones_like(theta_sq), theta_sq).sqrt()
    return torch.where(small, 1 - theta_sq / 6 + theta_sq**2 / 120, torch.sin(theta) / theta)


def one_minus_cos_sq(theta_sq: Tensor) -> Tensor:
    """``(1 − cos θ) / θ²`` as a smooth function of ``θ²`` (Taylor series near 0)."""
    small = theta_sq < 1e-6
    safe = torch.where(small, torch.ones_like(theta_sq), theta_sq)
    return torch.where(
        small, 0.5 - theta_sq / 24 + theta_sq**2 / 720, (1 - torch.cos(safe.sqrt())) / safe
    )


def dtheta_over_sin(theta: Tensor) -> Tensor:
    """``(sin θ − θ cos θ) / sin³ θ`` for ``θ ∈ [0, π)``, smooth at 0 (Taylor series)."""
    small = theta < 1e-3
    safe = torch.where(small, torch.ones_like(theta), theta)
    exact = (torch.sin(safe) - safe * torch.cos(safe)) / torch.sin(safe) ** 3
    return torch.where(small, 1 / 3 + 2 * theta**2 / 15, exact)


def theta_over_sin(theta: Tensor) -> Tensor:
    """``θ / sin θ`` for ``θ ∈ [0, π)``, smooth at 0 (Taylor series)."""
    small = theta < 1e-4
    safe = torch.where(small, torch.ones_like(theta), theta)
    return torch.where(small, 1 + theta**2 / 6, safe / torch.sin(safe))
