"""The rotation group ``SO(3)`` as 3×3 matrices with the Frobenius (bi-invariant) metric."""

from __future__ import annotations

import math
from typing import final

import torch
from torch import Tensor

from genmatch.manifolds.base import AbstractCompactManifold, one_minus_cos_sq, sinc_sq


def hat(omega: Tensor) -> Tensor:
    """``ω ∈ R³ ↦ [ω]_×``, the skew matrix with ``[ω]_× v = ω × v``: ``(..., 3) → (..., 3, 3)``."""
    x, y, z = omega.unbind(-1)
    o = torch.zeros_like(x)
    return torch.stack([o, -z, y, z, o, -x, -y, x, o], -1).reshape(*omega.shape[:-1], 3, 3)


def vee(m: Tensor) -> Tensor:
    """Inverse of :func:`hat` on the skew part: ``(..., 3, 3) → (..., 3)``."""
    return 0.5 * torch.stack(
        [m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]], -1
    )


def so3_exp(omega: Tensor) -> Tensor:
    """Rodrigues: ``exp([ω]_×) = I + (sin θ/θ) [ω]_× + ((1 − cos θ)/θ²) [ω]_×²``, ``θ = |ω|``."""
    sq = (omega * omega).sum(-1)[..., None, None]
    w = hat(omega)
    eye = torch.eye(3, dtype=omega.dtype, device=omega.device)
    return eye + sinc_sq(sq) * w + one_minus_cos_sq(sq) * (w @ w)


def so3_log(r: Tensor) -> Tensor:
    """``ω`` with ``exp([ω]_×) = R`` and ``|ω| = θ ∈ [0, π]``: ``(..., 3, 3) → (..., 3)``.

    ``θ = atan2(|vee(R − Rᵀ)|, (tr R − 1)/2)`` is accurate for small angles; for ``θ`` near
    ``π`` (the cut locus of the identity, where ``R − Rᵀ → 0``) the axis is read from the
    symmetric part ``(R + Rᵀ)/2 − cos θ I = (1 − cos θ) n nᵀ`` instead.
    """
    s = vee(r)  # = sin θ · n
    cos = 0.5 * (r.diagonal(dim1=-2, dim2=-1).sum(-1) - 1)
    sin = s.norm(dim=-1)
    theta = torch.atan2(sin, cos)
    # generic branch: ω = θ / sin θ · s
    small = sin < 1e-4
    safe_sin = torch.where(small, torch.ones_like(sin), sin)
    ratio = torch.where(theta < 1e-4, 1 + theta**2 / 6, theta / safe_sin)
    generic = ratio[..., None] * s
    # near π: n n^T = (sym − cos I) / (1 − cos); column of largest diagonal
    sym = 0.5 * (r + r.transpose(-1, -2)) - cos[..., None, None] * torch.eye(
        3, dtype=r.dtype, device=r.device
    )
    sym = sym / (1 - cos).clamp_min(1e-12)[..., None, None]
    idx = sym.diagonal(dim1=-2, dim2=-1).argmax(-1)
    col = torch.gather(sym, -1, idx[..., None, None].expand(*sym.shape[:-1], 1)).squeeze(-1)
    axis = col / col.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    sign = torch.where((axis * s).sum(-1) < 0, -1.0, 1.0).to(r.dtype)
    near_pi = sign[..., None] * theta[..., None] * axis
    use_pi = (theta > math.pi - 1e-2)[..., None]
    return torch.where(use_pi, near_pi, generic)


@final
class SO3(AbstractCompactManifold):
    """``SO(3) = {R ∈ R^{3×3}: RᵀR = I, det R = 1}``, metric ``⟨U, V⟩ = tr(UᵀV)``.

    Tangent vectors at ``R`` are ``R [ξ]_×``; with the Frobenius metric
    ``|R [ξ]_×| = √2 |ξ|``, so the geodesic distance is ``√2 θ`` for a relative rotation of
    angle ``θ``. ``exp_R(V) = R exp(RᵀV)`` (Rodrigues), ``log_R(S) = R [log(RᵀS)]_×``. The cut
    locus of ``R`` is the set of ``S`` with relative angle ``π``; there the two axis signs give
    the same rotation and ``log`` picks the one aligned with the (vanishing) skew part.

    Example:
        >>> import math, torch
        >>> so3 = SO3()
        >>> r = so3_exp(torch.tensor([[0.0, 0.0, 0.5]]))
        >>> round(float(so3.dist(torch.eye(3)[None], r)) / math.sqrt(2), 5)  # rotation angle
        0.5
    """

    ndim = 2
    name = "SO3"

    @property
    def intrinsic_dim(self) -> int:
        return 3

    @property
    def point_shape(self) -> tuple[int, ...]:
        return (3, 3)

    def volume(self) -> float:
        # 8π² with the angle metric; each of the 3 dimensions scaled by √2
        return 8 * math.pi**2 * 2**1.5

    def inner(
        self, x: Tensor, u: Tensor, v: Tensor | None = None, *, keepdim: bool = False
    ) -> Tensor:
        v = u if v is None else v
        out = (u * v).sum((-1, -2))
        return out[..., None, None] if keepdim else out

    def project_drift(self, x: Tensor) -> Tensor:
        """One Newton step towards the polar factor, ``X (3I − XᵀX) / 2``: quadratic in the
        drift ``XᵀX − I`` and differentiable at rotations, where the SVD of :meth:`projx` has
        equal singular values and a NaN gradient."""
        eye = torch.eye(3, dtype=x.dtype, device=x.device)
        return 0.5 * x @ (3 * eye - x.transpose(-1, -2) @ x)

    def projx(self, x: Tensor) -> Tensor:
        u, _, vh = torch.linalg.svd(x)
        d = torch.det(u @ vh)
        fix = torch.ones(*d.shape, 3, dtype=x.dtype, device=x.device)
        fix[..., 2] = d
        return (u * fix[..., None, :]) @ vh

    def proju(self, x: Tensor, u: Tensor) -> Tensor:
        a = x.transpose(-1, -2) @ u
        return x @ (0.5 * (a - a.transpose(-1, -2)))

    def expmap(self, x: Tensor, u: Tensor) -> Tensor:
        return x @ so3_exp(vee(x.transpose(-1, -2) @ u))

    def logmap(self, x: Tensor, y: Tensor) -> Tensor:
        return x @ hat(so3_log(x.transpose(-1, -2) @ y))

    def dlogmap(self, x: Tensor, y: Tensor, k: Tensor) -> Tensor:
        """``(d log_x)_y [k]`` in closed form: with ``R = xᵀy = exp([ω]_×)`` and
        ``k = y [ξ]_×``, ``d ω = J_r⁻¹(ω) ξ``, where the inverse right Jacobian is
        ``J_r⁻¹ = I + ½ W + (1/θ² − cot(θ/2)/(2θ)) W²`` (``W = [ω]_×``, ``θ = |ω|``; the
        coefficient is ``1/12 + θ²/720`` near ``0`` and finite up to the cut locus ``θ = π``)."""
        r = x.transpose(-1, -2) @ y
        omega = so3_log(r)
        xi = vee(r.transpose(-1, -2) @ (x.transpose(-1, -2) @ k))[..., None]
        theta_sq = (omega * omega).sum(-1)
        small = theta_sq < 1e-4
        safe = torch.where(small, torch.ones_like(theta_sq), theta_sq).sqrt()
        coef = torch.where(
            small, 1 / 12 + theta_sq / 720, 1 / safe**2 - 1 / (2 * safe * torch.tan(safe / 2))
        )
        w = hat(omega)
        w_xi = w @ xi
        d_omega = xi + 0.5 * w_xi + coef[..., None, None] * (w @ w_xi)
        return x @ hat(d_omega.squeeze(-1))

    def dist(self, x: Tensor, y: Tensor, *, keepdim: bool = False) -> Tensor:
        d = math.sqrt(2) * so3_log(x.transpose(-1, -2) @ y).norm(dim=-1)
        return d[..., None, None] if keepdim else d

    def random_uniform_points(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> Tensor:
        # a uniform unit quaternion (w, v) gives a Haar-distributed rotation
        q = torch.randn(n, 4, generator=generator, dtype=dtype, device=device)
        w, v = q[:, 0], q[:, 1:]
        norm_sq = (q * q).sum(-1)
        vv = v[:, :, None] * v[:, None, :]
        eye = torch.eye(3, dtype=dtype, device=device)
        r = (w * w - (v * v).sum(-1))[:, None, None] * eye + 2 * vv + 2 * w[:, None, None] * hat(v)
        return r / norm_sq[:, None, None]

    def log_exp_jacobian(self, z: Tensor, w: Tensor) -> Tensor:
        # θ = (sin(ω/2) / (ω/2))², ω the rotation angle = |w|_F / √2
        sq = 0.25 * (w * w).sum((-1, -2)) / 2
        return 2 * torch.log(sinc_sq(sq).clamp_min(torch.finfo(w.dtype).tiny))

    def injectivity_excess(self, z: Tensor, w: Tensor) -> Tensor:
        return w.norm(dim=(-1, -2)) - math.sqrt(2) * math.pi

    def _check_point_on_manifold(
        self, x: Tensor, *, atol: float = 1e-5, rtol: float = 1e-5
    ) -> tuple[bool, str | None]:
        eye = torch.eye(3, dtype=x.dtype, device=x.device)
        err = (x.transpose(-1, -2) @ x - eye).abs().max()
        if not bool(err <= atol):
            return False, f"RᵀR != I (max deviation {float(err):.2e}, atol={atol})"
        if not bool((torch.det(x) > 0).all()):
            return False, "det R must be +1 (a reflection was given)"
        return True, None

    def _check_vector_on_tangent(
        self, x: Tensor, u: Tensor, *, atol: float = 1e-5, rtol: float = 1e-5
    ) -> tuple[bool, str | None]:
        a = x.transpose(-1, -2) @ u
        err = (a + a.transpose(-1, -2)).abs().max()
        if not bool(err <= atol * (1 + u.abs().max())):
            return False, f"RᵀU must be skew (max |RᵀU + UᵀR| {float(err):.2e}, atol={atol})"
        return True, None
