"""Geodesic conditional paths on Riemannian manifolds (GM §9.2; flow matching on manifolds)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import final

import geoopt
import torch
from torch import Tensor

from genmatch._checks import as_time, check_like
from genmatch.manifolds.base import AbstractCompactManifold
from genmatch.paths.base import AbstractDensityPath, AbstractInterpolantPath, PathSample
from genmatch.paths.kappa import AbstractKappaSchedule, LinearKappa
from genmatch.sources.base import AbstractSource
from genmatch.sources.manifold_product import ProductSource
from genmatch.sources.uniform import UniformSource
from genmatch.spaces.manifold import ManifoldSpace


def _compact(space: ManifoldSpace) -> bool:
    """A compact manifold of :mod:`genmatch.manifolds`, or a product of them."""
    if isinstance(space.manifold, geoopt.ProductManifold):
        return all(_compact(f) for f in space.factors)
    return isinstance(space.manifold, AbstractCompactManifold)


def _bcast(a: Tensor, like: Tensor) -> Tensor:
    return a.reshape(a.shape + (1,) * (like.dim() - 1))


@final
@dataclass(frozen=True, eq=False)
class GeodesicPath(AbstractInterpolantPath, AbstractDensityPath):
    """``X_t = exp_{x_1}((1 − κ_t) log_{x_1}(x_0))``, ``X_0 ~ p``: the geodesic from ``x_0`` to
    ``x_1`` traversed with the schedule ``κ_t`` (``κ_0 = 0``, ``κ_1 = 1``).

    Conditional velocity (a field on ``M`` conditioned on ``Z = x_1``, defined off the cut
    locus of ``x_1``):

    ``u_t(x|x_1) = κ̇_t / (1 − κ_t) · log_x(x_1)``.

    On the geodesic it equals ``−κ̇_t/κ_t · log_{x_t}(x_0)``; with ``x_0`` known the second form
    is used for ``κ_t ≥ 1/2``, so neither form divides by a vanishing factor. The autodiff
    default :meth:`autodiff_velocity` differentiates ``t ↦ X_t`` with ``torch.func.jvp``.

    Cut locus: ``log_{x_1}(x_0)`` is undefined when ``x_0`` lies on the cut locus of ``x_1``
    (the antipode on a sphere, a relative angle ``π`` on ``SO(3)``, a coordinate difference
    ``±π`` on a torus). This is a null set for a source with a density; there the manifold's
    ``logmap`` returns one of the minimising directions (see each manifold), and near it the
    velocity is ill-conditioned but finite.

    Density (compact manifolds of :mod:`genmatch.manifolds` with :class:`UniformSource`):
    ``X_t`` is the image of ``X_0`` under the radial contraction ``w ↦ c w`` in normal
    coordinates at ``z``, ``c = 1 − κ_t``, so with ``w = log_z(x)``

    ``p_t(x|z) = p(exp_z(w/c)) · θ_z(w/c) / (c^n θ_z(w))`` if ``w/c`` lies inside the
    injectivity domain, else ``0``,

    with ``θ_z`` the volume distortion of ``exp_z`` and ``n = dim M``. The density is
    compactly supported (the geodesic ball or cube of radius ``c·π`` around ``z``) and, like
    the Dirac at ``t = 1``, singular at ``κ_t = 1``.

    Exact marginal on a finite data set: the posterior ``p(z_i|x) ∝ p_t(x|z_i)``
    (:class:`~genmatch.marginal.ExactMarginal`) is undefined at a point outside every
    support. The exact marginal flow never leaves the union of the supports, but a
    discretised one does (the supports shrink to the data as ``t → 1``). With ``bandwidth``
    set, ``log_prob`` outside the support is relaxed to
    ``log p(·) − n log c − ½ (c·e / bandwidth)²``, ``e`` the distance of ``w/c`` beyond the
    injectivity domain, so a stray point is attributed to the nearest supports; inside the
    supports (where the exact flow lives) the density is exact. ``None`` (default): ``−inf``.

    Args:
        space: the manifold.
        source: the source ``p`` (drawn when ``x_0`` is not given); uniform by default on
            compact manifolds and on products of them (a
            :class:`~genmatch.sources.ProductSource`). Densities need a
            :class:`UniformSource`, or a ``ProductSource`` of them (the density of a product
            path is the product of its factors' densities).
        kappa: the schedule ``κ_t`` (:class:`~genmatch.paths.LinearKappa` by default).
        bandwidth: relaxation of the support boundary for posteriors (see above), e.g.
            ``1e-2``; ``None`` for the exact density.

    Example:
        >>> import torch
        >>> from genmatch.manifolds import Hypersphere
        >>> from genmatch.spaces import ManifoldSpace
        >>> path = GeodesicPath(ManifoldSpace(Hypersphere(3), (3,)))
        >>> x_0, x_1 = torch.tensor([[1.0, 0.0, 0.0]]), torch.tensor([[0.0, 1.0, 0.0]])
        >>> s = path.sample(x_1, torch.tensor([0.5]), x_0=x_0)
        >>> s.x_t  # halfway along the quarter circle
        tensor([[0.7071, 0.7071, 0.0000]])
        >>> path.conditional_velocity(s).norm(dim=1)  # speed π/2
        tensor([1.5708])
    """

    space: ManifoldSpace
    source: AbstractSource | None = None
    kappa: AbstractKappaSchedule = field(default_factory=LinearKappa)
    bandwidth: float | None = None

    def __post_init__(self) -> None:
        if self.bandwidth is not None and not self.bandwidth > 0:
            raise ValueError(f"bandwidth must be > 0 or None, got {self.bandwidth}")
        if not isinstance(self.space, ManifoldSpace):
            raise TypeError(f"GeodesicPath needs a ManifoldSpace, got {type(self.space).__name__}")
        if self.source is None and _compact(self.space):
            source = (
                UniformSource(self.space)
                if isinstance(self.space.manifold, AbstractCompactManifold)
                else ProductSource(self.space)
            )
            object.__setattr__(self, "source", source)

    def interpolate(self, x_0: Tensor, x_1: Tensor, t: Tensor) -> Tensor:
        """``exp_{x_1}((1 − κ_t) log_{x_1}(x_0))`` (the space's exponential map, with its drift
        correction), differentiable in ``t``.

        Shapes:
            x_0, x_1: ``(batch, *event)``; t: ``(batch,)``; returns ``(batch, *event)``.
        """
        c = _bcast(1 - self.kappa.kappa(t), x_1)
        return self.space.expmap(x_1, c * self.space.logmap(x_1, x_0))

    def sample(
        self,
        z: Tensor,
        t: Tensor,
        *,
        x_0: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> PathSample:
        self.space.check(z, "z")
        t = as_time(t, z.shape[0], z)
        if x_0 is not None:
            self.space.check(x_0, "x_0")
            check_like(x_0, z, "x_0", "z")
        if x_0 is None:
            if self.source is None:
                raise ValueError("GeodesicPath without a source needs x_0")
            x_0 = self.source.sample(
                z.shape[0], generator=generator, dtype=z.dtype, device=z.device
            )
        if x_0.shape != z.shape or t.shape != z.shape[:1]:
            raise ValueError(
                f"x_0 {tuple(x_0.shape)}, z {tuple(z.shape)} and t {tuple(t.shape)} must be "
                "(batch, *event), (batch, *event), (batch,)"
            )
        # the exponential map of the space corrects rounding drift differentiably (an SVD
        # projection would have a NaN derivative in t at rotations)
        return PathSample(x_t=self.interpolate(x_0, z, t), t=t, z=z, x_0=x_0)

    def conditional_velocity(self, sample: PathSample) -> Tensor:
        x_t, t, z = sample.x_t, sample.t, sample.z
        kappa_t, d_kappa_t = self.kappa.kappa(t), self.kappa.d_kappa(t)
        if sample.x_0 is None:
            return self.space.logmap(x_t, z) * _bcast(d_kappa_t / (1 - kappa_t), x_t)
        # with x_0 known: the x_1 form for κ < 1/2, the x_0 form after (no vanishing divisor)
        late = kappa_t >= 0.5
        toward_z = self.space.logmap(x_t, z) * _bcast(
            d_kappa_t / torch.where(late, torch.ones_like(kappa_t), 1 - kappa_t), x_t
        )
        from_x0 = self.space.logmap(x_t, sample.x_0) * _bcast(
            -d_kappa_t / torch.where(late, kappa_t, torch.ones_like(kappa_t)), x_t
        )
        return torch.where(_bcast(late, x_t), from_x0, toward_z)

    def autodiff_velocity(self, x_0: Tensor, x_1: Tensor, t: Tensor) -> Tensor:
        """``d/dt X_t`` by ``torch.func.jvp`` of :meth:`interpolate` (no closed form used)."""
        out = torch.func.jvp(lambda s: self.interpolate(x_0, x_1, s), (t,), (torch.ones_like(t),))
        return out[1]

    def log_prob(self, x: Tensor, t: Tensor, z: Tensor) -> Tensor:
        manifold = self.space.manifold
        if isinstance(manifold, geoopt.ProductManifold) and isinstance(self.source, ProductSource):
            # geodesics of a product are products of geodesics with the same κ_t, and the
            # source is independent across factors: the density factorises
            assert self.source.sources is not None
            total = torch.zeros_like(t)
            for factor, source, x_i, z_i in zip(
                self.space.factors,
                self.source.sources,
                self.space.split(x),
                self.space.split(z),
                strict=True,
            ):
                path = GeodesicPath(factor, source, self.kappa, self.bandwidth)
                total = total + path.log_prob(x_i, t, z_i)
            return total
        if not isinstance(manifold, AbstractCompactManifold) or not isinstance(
            self.source, UniformSource
        ):
            raise TypeError(
                "GeodesicPath.log_prob needs a compact manifold from genmatch.manifolds and a "
                "UniformSource (or a product of them with a ProductSource), got "
                f"{type(manifold).__name__} and {type(self.source).__name__}"
            )
        if self.space.power != 1:
            # M^N: the geodesic and the uniform source act on each element independently
            element = ManifoldSpace(manifold, self.space.point_shape, atol=self.space.atol)
            path = GeodesicPath(element, UniformSource(element), self.kappa, self.bandwidth)
            batch, power = x.shape[0], self.space.power
            per_element = path.log_prob(
                x.reshape(batch * power, *element.event_shape),
                t.repeat_interleave(power),
                z.reshape(batch * power, *element.event_shape),
            )
            return per_element.reshape(batch, power).sum(1)
        c = 1 - self.kappa.kappa(t)
        w = self.space.logmap(z, x)
        w_0 = w / _bcast(c, w)
        base = self.source.log_prob(x) - manifold.intrinsic_dim * torch.log(c)
        log_p = base + manifold.log_exp_jacobian(z, w_0) - manifold.log_exp_jacobian(z, w)
        excess = manifold.injectivity_excess(z, w_0)
        if self.bandwidth is None:
            outside = torch.full_like(log_p, -torch.inf)
        else:
            outside = base - 0.5 * (c * excess / self.bandwidth) ** 2
        return torch.where(excess < 0, log_p, outside)
