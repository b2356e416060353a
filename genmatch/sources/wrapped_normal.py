"""The wrapped normal source, for manifolds without a uniform distribution (GM §9.1)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import final

import geoopt
import torch
from torch import Tensor

from genmatch._checks import check_positive_int
from genmatch.sources.base import AbstractSource
from genmatch.spaces.manifold import ManifoldSpace


@final
@dataclass(frozen=True, eq=False)
class WrappedNormalSource(AbstractSource):
    """``X = exp_μ(σ P_μ ε)``, ``ε ~ N(0, I)`` in ambient coordinates, ``P_μ`` the projection
    onto ``T_μM``: a normal distribution wrapped by the exponential map at ``μ``.

    For manifolds without a uniform distribution (hyperbolic space, SPD matrices). The
    tangent noise is isotropic for the ambient inner product; for ``σ`` small it is close to
    isotropic for the metric at ``μ`` only when the two agree up to a scale at ``μ`` (true
    everywhere on the Poincaré ball, which is conformal, at the origin of the Lorentz model,
    and at the identity of SPD).

    :meth:`log_prob` (density w.r.t. the Riemannian volume, for
    :func:`~genmatch.likelihood.manifold_log_likelihood`) is exact on the two
    hyperbolic models, where ``exp_μ`` is a diffeomorphism with volume distortion
    ``(sinh(√K r)/(√K r))^{n−1}`` at distance ``r`` (curvature ``−K``).

    Args:
        space: the manifold space.
        mean: the centre ``μ``, one point ``(*event_shape)``.
        std: ``σ > 0``.

    Example:
        >>> import geoopt, torch
        >>> space = ManifoldSpace(geoopt.PoincareBall(), (2,))
        >>> src = WrappedNormalSource(space, torch.zeros(2), 0.5)
        >>> space.check(src.sample(5, generator=torch.Generator().manual_seed(0)))
    """

    space: ManifoldSpace
    mean: Tensor
    std: float = 1.0

    def __post_init__(self) -> None:
        if not self.std > 0:
            raise ValueError(f"std must be > 0, got {self.std}")
        if tuple(self.mean.shape) != self.space.event_shape:
            raise ValueError(
                f"mean must have shape {self.space.event_shape}, got {tuple(self.mean.shape)}"
            )
        self.space.check(self.mean[None], "mean")

    def sample(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> Tensor:
        n = check_positive_int(n, "n")
        mu = self.mean.to(dtype=dtype, device=device).expand(n, *self.space.event_shape)
        eps = torch.randn(mu.shape, generator=generator, dtype=dtype, device=device)
        return self.space.expmap(mu, self.std * self.space.proju(mu, eps))

    def log_prob(self, x: Tensor) -> Tensor:
        """``log p(x)`` w.r.t. the Riemannian volume: ``(batch, *event) → (batch,)``.

        With ``w = log_μ x`` written in a metric-orthonormal basis of ``T_μM`` as ``a`` (law
        ``N(0, σ² M)``, ``M`` the Gram matrix of the basis in ambient coordinates) and
        ``r = ‖w‖_μ = d(μ, x)``: ``log p(x) = log N(a; 0, σ² M) − (n−1) log(sinh(√K r)/(√K r))``.
        On the Poincaré ball (curvature ``−c``, metric ``λ_x² I``) ``M = λ_μ^{−2} I``; on the
        Lorentz model (``⟨x, x⟩_L = −k``, curvature ``−1/k``) the basis is the boost of the
        standard one at the origin.

        Raises:
            TypeError: on other manifolds (the wrapped normal's density there needs the
                Jacobian of ``exp_μ`` summed over its preimages, which is not implemented).
        """
        manifold = self.space.manifold
        self.space.check(x, "x")
        if self.space.power != 1:
            raise ValueError(
                "WrappedNormalSource.log_prob supports one point per state, got event_shape "
                f"{self.space.event_shape} (a power of {type(manifold).__name__})"
            )
        n = self.space.event_shape[-1]
        mu = self.mean.to(dtype=x.dtype, device=x.device)
        w = self.space.logmap(mu.expand_as(x), x)
        var = self.std**2
        if isinstance(manifold, geoopt.PoincareBall):
            sqrt_curv = manifold.c.to(x.dtype).sqrt()
            lam = 2 / (1 - manifold.c.to(x.dtype) * (mu * mu).sum())
            sq = (w * w).sum(-1)  # ambient |w|², a = λ_μ w, M = λ_μ^{−2} I
            log_normal = -0.5 * n * math.log(2 * math.pi * var) - sq / (2 * var)
            log_normal = log_normal - n * torch.log(lam)
            r = lam * sq.sqrt()
        elif isinstance(manifold, geoopt.Lorentz):
            k = manifold.k.to(x.dtype)
            sqrt_k = k.sqrt()
            sqrt_curv = 1 / sqrt_k
            n = n - 1
            bar = mu[1:]
            eye = torch.eye(n, dtype=x.dtype, device=x.device)
            basis = torch.cat(  # (n+1, n): columns Λ e_i of the boost Λ o = μ
                [bar[None] / sqrt_k, eye + torch.outer(bar, bar) / (sqrt_k * (mu[0] + sqrt_k))]
            )
            a = torch.cat([-w[:, :1], w[:, 1:]], 1) @ basis  # ⟨B_i, w⟩_L
            chol = torch.linalg.cholesky(basis.T @ basis)
            white = torch.linalg.solve_triangular(chol, a.T, upper=False).T
            log_normal = (
                -0.5 * n * math.log(2 * math.pi * var)
                - chol.diagonal().log().sum()
                - (white * white).sum(-1) / (2 * var)
            )
            r = (a * a).sum(-1).sqrt()
        else:
            raise TypeError(
                "WrappedNormalSource.log_prob supports geoopt's PoincareBall and Lorentz, got "
                f"{type(manifold).__name__}"
            )
        return log_normal - (n - 1) * _log_sinhc(sqrt_curv * r)


def _log_sinhc(r: Tensor) -> Tensor:
    """``log(sinh(r)/r)`` for ``r ≥ 0``, stable at ``0`` and for large ``r``."""
    small = r < 1e-3
    safe = torch.where(small, torch.ones_like(r), r)
    large = safe + torch.log(-torch.expm1(-2 * safe) / (2 * safe))
    return torch.where(small, r * r / 6, large)
