"""The unit sphere ``S^{d−1} ⊂ R^d`` with the induced (round) metric."""

from __future__ import annotations

import math
from typing import final

import torch
from torch import Tensor

from genmatch.manifolds.base import (
    AbstractCompactManifold,
    dtheta_over_sin,
    one_minus_cos_sq,
    sinc_sq,
    theta_over_sin,
)


@final
class Hypersphere(AbstractCompactManifold):
    """``S^{d−1} = {x ∈ R^d : |x| = 1}`` with closed-form, accurate ``exp`` and ``log``.

    ``log_x(y) = θ/sin θ · (y − cos θ · x)`` with ``θ = atan2(|y − ⟨x,y⟩x|, ⟨x,y⟩)``, which is
    accurate down to coincident points (geoopt's ``Sphere`` takes ``θ = acos`` of a clamped
    inner product, which loses distances below ``1e-2`` in float32). The cut locus of ``x`` is
    its antipode ``−x``, where ``log_x`` is undefined (every direction is a minimising
    geodesic); near it ``log_x`` is ill-conditioned and its value is the limit along the
    component of ``y`` orthogonal to ``x``.

    Args:
        dim: the ambient dimension ``d`` (``3`` for ``S²``).

    Example:
        >>> import torch
        >>> s2 = Hypersphere(3)
        >>> x, y = torch.tensor([[1.0, 0.0, 0.0]]), torch.tensor([[0.0, 1.0, 0.0]])
        >>> s2.logmap(x, y)  # length π/2 towards y
        tensor([[0.0000, 1.5708, 0.0000]])
        >>> torch.allclose(s2.expmap(x, s2.logmap(x, y)), y, atol=1e-6)
        True
    """

    ndim = 1
    name = "Hypersphere"

    def __init__(self, dim: int) -> None:
        super().__init__()
        if not isinstance(dim, int) or dim < 2:
            raise ValueError(f"Hypersphere needs an ambient dimension >= 2, got {dim!r}")
        self.dim = dim

    @property
    def intrinsic_dim(self) -> int:
        return self.dim - 1

    @property
    def point_shape(self) -> tuple[int, ...]:
        return (self.dim,)

    def volume(self) -> float:
        return 2 * math.pi ** (self.dim / 2) / math.gamma(self.dim / 2)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"

    def inner(
        self, x: Tensor, u: Tensor, v: Tensor | None = None, *, keepdim: bool = False
    ) -> Tensor:
        v = u if v is None else v
        return (u * v).sum(-1, keepdim=keepdim)

    def projx(self, x: Tensor) -> Tensor:
        return x / x.norm(dim=-1, keepdim=True)

    def proju(self, x: Tensor, u: Tensor) -> Tensor:
        return u - (x * u).sum(-1, keepdim=True) * x

    def expmap(self, x: Tensor, u: Tensor) -> Tensor:
        sq = (u * u).sum(-1, keepdim=True)
        y = (1 - sq * one_minus_cos_sq(sq)) * x + sinc_sq(sq) * u  # cos|u| x + sin|u| û
        return self.projx(y)

    def logmap(self, x: Tensor, y: Tensor) -> Tensor:
        cos = (x * y).sum(-1, keepdim=True)
        perp = y - cos * x
        theta = torch.atan2(perp.norm(dim=-1, keepdim=True), cos)
        return theta_over_sin(theta) * perp

    def dlogmap(self, x: Tensor, y: Tensor, k: Tensor) -> Tensor:
        # log_x(y) = f(θ)(y − cos θ x), f = θ/sin θ, d cos θ = ⟨x, k⟩, dθ = −⟨x, k⟩/sin θ
        cos = (x * y).sum(-1, keepdim=True)
        perp = y - cos * x
        theta = torch.atan2(perp.norm(dim=-1, keepdim=True), cos)
        xk = (x * k).sum(-1, keepdim=True)
        return theta_over_sin(theta) * (k - xk * x) - xk * dtheta_over_sin(theta) * perp

    def dist(self, x: Tensor, y: Tensor, *, keepdim: bool = False) -> Tensor:
        cos = (x * y).sum(-1, keepdim=True)
        theta = torch.atan2((y - cos * x).norm(dim=-1, keepdim=True), cos)
        return theta if keepdim else theta.squeeze(-1)

    def random_uniform_points(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> Tensor:
        g = torch.randn(n, self.dim, generator=generator, dtype=dtype, device=device)
        return self.projx(g)

    def log_exp_jacobian(self, z: Tensor, w: Tensor) -> Tensor:
        # θ(w) = (sin r / r)^{n−1}, r = |w|
        sq = (w * w).sum(-1)
        return (self.dim - 2) * torch.log(sinc_sq(sq).clamp_min(torch.finfo(w.dtype).tiny))

    def injectivity_excess(self, z: Tensor, w: Tensor) -> Tensor:
        return w.norm(dim=-1) - math.pi

    def _check_point_on_manifold(
        self, x: Tensor, *, atol: float = 1e-5, rtol: float = 1e-5
    ) -> tuple[bool, str | None]:
        err = (x.norm(dim=-1) - 1).abs().max()
        if not bool(err <= atol):
            return False, f"|x| != 1 (max deviation {float(err):.2e}, atol={atol})"
        return True, None

    def _check_vector_on_tangent(
        self, x: Tensor, u: Tensor, *, atol: float = 1e-5, rtol: float = 1e-5
    ) -> tuple[bool, str | None]:
        err = (x * u).sum(-1).abs().max()
        if not bool(err <= atol * (1 + u.norm(dim=-1).max())):
            return False, f"<x, u> != 0 (max |<x, u>| {float(err):.2e}, atol={atol})"
        return True, None
