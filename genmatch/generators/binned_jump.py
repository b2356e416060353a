"""Per-coordinate jumps on ``R^d`` with a binned jump distribution (GM eq. 9.7, 9.27–9.31)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import final

import torch
from torch import Tensor
from torch.nn import functional as F

from genmatch._checks import check_nonsingular, check_positive_int
from genmatch.divergences.base import AbstractBregmanDivergence
from genmatch.divergences.generalized_kl import GeneralizedKL
from genmatch.generators.base import AbstractLinearParametrization, TestFunction
from genmatch.generators.jump_base import (
    AbstractJumpGenerator,
    JumpProposal,
    jump_probability,
    normalize,
)
from genmatch.guidance.base import AbstractGuidableParametrization, geometric
from genmatch.paths.base import AbstractConditionalPath, AbstractGaussianPath, PathSample
from genmatch.spaces.base import AbstractStateSpace
from genmatch.types import HeadShapes, RawHeads


@final
@dataclass(frozen=True)
class Bins:
    """``num`` equal bins over ``[low, high]`` for each coordinate.

    A jump lands uniformly inside the chosen bin, so the jump distribution of a coordinate is
    a piecewise-constant density with ``num`` pieces: a resolution of ``(high − low)/num``.
    Jump mass that the exact target puts outside ``[low, high]`` is dropped (the distribution is
    renormalised over the bins), so the range must cover the data.
    """

    low: float = -5.0
    high: float = 5.0
    num: int = 64

    def __post_init__(self) -> None:
        check_positive_int(self.num, "num")
        if not (self.high > self.low and isinstance(self.num, int) and self.num >= 2):
            raise ValueError(
                f"need high > low and num >= 2, got {self.low}, {self.high}, {self.num}"
            )

    @property
    def width(self) -> float:
        return (self.high - self.low) / self.num

    def edges(self, like: Tensor) -> Tensor:
        """``(num + 1,)`` bin edges with ``like``'s dtype and device."""
        return torch.linspace(
            self.low, self.high, self.num + 1, dtype=like.dtype, device=like.device
        )


@final
@dataclass(frozen=True)
class BinnedJumpParametrization(AbstractLinearParametrization, AbstractGuidableParametrization):
    """Per-coordinate jump measures ``Q_t(k, x)_i = λ_i(x) J_i(k | x)`` on bins (GM eq. 9.7).

    ``V_x = R^{d × K}``, ``Ω_x = [0, ∞)^{d × K}``, ``⟨a, b⟩ = Σ a b``, and
    ``K f(x)_{ik} = mean_{y ∈ bin k} f(x with x_i ← y) − f(x)`` (midpoint rule with
    ``quadrature`` points per bin). The value is the non-negative measure ``Q`` itself: it is
    linear in the generator, so posterior averages (eq. 9.14) are plain averages of ``Q``.

    Heads: ``"jump_intensity"`` (softplus → ``λ``) and ``"jump_logits"`` (softmax → ``J``).
    """

    bins: Bins
    quadrature: int = 4

    def head_shapes(self, space: AbstractStateSpace) -> HeadShapes:
        event = getattr(space, "event_shape", None)
        if event is None:
            raise TypeError(f"BinnedJumpParametrization needs a Euclidean space, got {space}")
        return {"jump_intensity": tuple(event), "jump_logits": (*event, self.bins.num)}

    def constrain(self, raw: RawHeads, x_t: Tensor, t: Tensor) -> Tensor:
        return F.softplus(raw["jump_intensity"]).unsqueeze(-1) * torch.softmax(
            raw["jump_logits"], -1
        )

    def test_operator(self, f: TestFunction, x_t: Tensor) -> Tensor:
        b, d, k, m = x_t.shape[0], x_t[0].numel(), self.bins.num, self.quadrature
        edges = self.bins.edges(x_t)
        offsets = (torch.arange(m, dtype=x_t.dtype, device=x_t.device) + 0.5) / m * self.bins.width
        y = (edges[:-1, None] + offsets).reshape(-1)  # (k * m,)
        flat = x_t.reshape(b, d)
        moved = flat[:, None, None, :].expand(b, d, k * m, d).clone()
        idx = torch.arange(d, device=x_t.device)
        moved[:, idx, :, idx] = y
        f_y = f(moved.reshape(-1, *x_t.shape[1:])).reshape(b, d, k, m).mean(-1)
        return (f_y - f(x_t)[:, None, None]).reshape(*x_t.shape, k)

    def inner(self, a: Tensor, b: Tensor, x_t: Tensor) -> Tensor:
        return (a * b).reshape(a.shape[0], -1).sum(1)

    def guide(
        self, conditional: Tensor, unconditional: Tensor, weight: Tensor, x_t: Tensor
    ) -> Tensor:
        """Jump measures ``Q_c^{1+w} Q^{−w}`` bin by bin: non-negative for ``w ≥ −1``."""
        return geometric(conditional, unconditional, weight)


def _normal_pdf(u: Tensor) -> Tensor:
    return torch.exp(-0.5 * u**2) / math.sqrt(2 * math.pi)


@final
@dataclass(frozen=True)
class BinnedJumpGenerator(AbstractJumpGenerator):
    """Jumps on ``R^d``, one coordinate at a time, with a binned jump distribution.

    Generator: ``L_t f(x) = Σ_i λ_i(x) Σ_k J_i(k|x) (E_{y ∈ bin k} f(x_{i ← y}) − f(x))``.

    Conditional target for any :class:`~genmatch.paths.AbstractGaussianPath` (its coordinates are
    independent given ``z``, so a sum of 1-D jump generators solves the joint KFE): the minimal
    jump model of a path with a density (GM eq. 9.27–9.31), per coordinate,

    - ``λ_i = [−∂_t log p_t(x_i|z_i)]_+``,
    - ``J_i(k) ∝ ∫_{bin k} [∂_t p_t(y|z_i)]_+ dy``.

    The bin integrals are exact: ``∂_t p = −∂_y(p v)`` with ``v`` the conditional velocity, so
    ``∫_a^b ∂_t p = p(a)v(a) − p(b)v(b)``, restricted to the interval where ``∂_t p > 0``
    (between the roots of a quadratic in ``(y − α_t z)/σ_t`` where ``σ_t`` shrinks, outside
    them where it grows). For CondOT in 1-D,
    ``∂_t log p = −k_t/(1 − t)³`` with ``k_t = x² − (1 + t)xz − (1 − t)² + tz²``.

    Divergence: the generalized KL on the measure ``Q = λ J`` (one Bregman divergence on the
    linear parametrization, GM eq. 9.15). It splits as ``GKL(λ, λ̂) + λ KL(J ‖ Ĵ)``: the
    distribution term is weighted by the target intensity, which is what makes its minimiser
    the marginal ``J = E[λ J | x] / E[λ | x]`` (Thm. 20); an unweighted KL on ``J`` would not be.

    Simulation: coordinate ``i`` jumps over ``[t, t + h]`` with probability
    ``1 − exp(−h λ_i)`` (never NaN, 1 for infinite intensities) to a uniform point of a bin
    drawn from ``J_i``.

    Args:
        bins: the binning of every coordinate.
        quadrature: midpoint points per bin for ``K f`` in KFE checks.
        divergence: Bregman divergence on ``Q``.
    """

    bins: Bins = field(default_factory=Bins)
    quadrature: int = 4
    divergence: AbstractBregmanDivergence = field(default_factory=GeneralizedKL)
    parametrization: BinnedJumpParametrization = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "parametrization", BinnedJumpParametrization(self.bins, self.quadrature)
        )

    def conditional_target(self, path: AbstractConditionalPath, sample: PathSample) -> Tensor:
        if not isinstance(path, AbstractGaussianPath):
            raise self.unsupported(path, "AbstractGaussianPath")
        lam, bin_mass = self._target_parts(path, sample.x_t, sample.t, sample.z)
        return lam.unsqueeze(-1) * bin_mass

    def _coefficients(
        self, path: AbstractGaussianPath, t: Tensor, like: Tensor
    ) -> tuple[Tensor, ...]:
        s = path.coefficients(t)
        shape = (-1,) + (1,) * (like.dim() - 1)
        return tuple(c.reshape(shape) for c in (s.alpha_t, s.sigma_t, s.d_alpha_t, s.d_sigma_t))

    def _target_parts(
        self, path: AbstractGaussianPath, x: Tensor, t: Tensor, z: Tensor
    ) -> tuple[Tensor, Tensor]:
        """``λ`` ``(batch, *event)`` and the normalised bin distribution ``(batch, *event, K)``."""
        a, sig, da, dsig = self._coefficients(path, t, x)
        check_nonsingular(sig, "the binned jump target")
        return self._intensity(x, z, a, sig, da, dsig), self._bin_distribution(z, a, sig, da, dsig)

    @staticmethod
    def _intensity(
        x: Tensor, z: Tensor, a: Tensor, sig: Tensor, da: Tensor, dsig: Tensor
    ) -> Tensor:
        u = (x - a * z) / sig
        d_log_p = (dsig / sig) * (u**2 - 1) + (da * z / sig) * u
        return torch.relu(-d_log_p)

    def _bin_distribution(
        self, z: Tensor, a: Tensor, sig: Tensor, da: Tensor, dsig: Tensor
    ) -> Tensor:
        edges = self.bins.edges(z)
        # ∂_t p > 0 where c2 u² + c1 u − c2 > 0, u = (y − a z)/σ, c2 = σ̇/σ, c1 = α̇ z/σ.
        c2 = (dsig / sig).expand_as(z)
        c1 = da * z / sig
        disc = torch.sqrt(c1**2 + 4 * c2**2)
        quadratic = c2.abs() > 1e-12 * (c1.abs() + 1)
        shrinks, grows = quadratic & (c2 < 0), quadratic & (c2 > 0)
        safe_c2 = torch.where(quadratic, c2, -torch.ones_like(c2))
        r1, r2 = (-c1 + disc) / (2 * safe_c2), (-c1 - disc) / (2 * safe_c2)
        r_lo, r_hi = torch.minimum(r1, r2), torch.maximum(r1, r2)
        # ∂_t p > 0 on (lo, hi) ∪ (lo_2, ∞): between the roots where σ shrinks (c2 < 0),
        # outside them where σ grows (c2 > 0), on one side of 0 where ∂_t p is linear in u.
        inf = torch.full_like(c1, math.inf)
        zero = torch.zeros_like(c1)
        lo = torch.where(shrinks, r_lo, torch.where(~grows & (c1 > 0), zero, -inf))
        linear_hi = torch.where(c1 > 0, inf, torch.where(c1 < 0, zero, -inf))  # -inf: ∂_t p ≡ 0
        hi = torch.where(shrinks, r_hi, torch.where(grows, r_lo, linear_hi))
        lo_2 = torch.where(grows, r_hi, inf)
        u_edges = (edges - (a * z).unsqueeze(-1)) / sig.unsqueeze(-1)  # (..., K + 1)

        def flux(u: Tensor) -> Tensor:  # p(y) v(y) dy/du in standard-normal units, finite at ±inf
            finite = torch.isfinite(u)
            u0 = torch.where(finite, u, torch.zeros_like(u))
            val = _normal_pdf(u0) * (c2.unsqueeze(-1) * u0 + c1.unsqueeze(-1))
            return torch.where(finite, val, torch.zeros_like(val))

        def piece(lo: Tensor, hi: Tensor) -> Tensor:  # ∫ ∂_t p over each bin ∩ (lo, hi)
            u_a = torch.maximum(u_edges[..., :-1], lo.unsqueeze(-1))
            u_b = torch.minimum(u_edges[..., 1:], hi.unsqueeze(-1))
            return torch.where(u_b > u_a, flux(u_a) - flux(u_b), torch.zeros_like(u_a))

        mass = (piece(lo, hi) + piece(lo_2, inf)).clamp_min(0)
        return normalize(mass)

    def marginal_target(
        self,
        path: AbstractConditionalPath,
        x: Tensor,
        t: Tensor,
        data: Tensor,
        posterior: Tensor,
    ) -> Tensor:
        """Exact marginal ``Q(x)_{ik} = Σ_n w_n λ_i(x|z_n) J_i(k|z_n)`` by one contraction.

        ``J`` depends on ``(z, t)`` only, so for a batch sharing one time (a simulation step:
        ``t`` is an expanded scalar) it is computed once per datum, not per pair.
        """
        if not isinstance(path, AbstractGaussianPath) or x.shape[0] == 0 or t.stride(0) != 0:
            return super().marginal_target(path, x, t, data, posterior)
        b, n = posterior.shape
        t_n = t[:1].expand(n)
        a, sig, da, dsig = self._coefficients(path, t_n, data)
        bins = self._bin_distribution(data, a, sig, da, dsig).reshape(n, -1, self.bins.num)
        a1, s1, da1, ds1 = (c[:1] for c in (a, sig, da, dsig))
        lam = self._intensity(x.unsqueeze(1), data.unsqueeze(0), a1, s1, da1, ds1)  # (b, n, *event)
        weighted = posterior.reshape(b, n, 1) * lam.reshape(b, n, -1)
        q = torch.einsum("bni,nik->bik", weighted, bins)
        return q.reshape(*x.shape, self.bins.num)

    def propose(
        self,
        value: Tensor,
        x: Tensor,
        t: Tensor,
        h: float,
        *,
        generator: torch.Generator | None = None,
    ) -> JumpProposal:
        intensity = value.sum(-1)
        p_jump = jump_probability(intensity, h)
        mask = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device) < p_jump
        probs = value.reshape(-1, self.bins.num)
        probs = torch.where(probs.sum(-1, keepdim=True) > 0, probs, torch.ones_like(probs))
        k = torch.multinomial(probs, 1, generator=generator).reshape(x.shape)
        u = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        destination = self.bins.low + (k.to(x.dtype) + u) * self.bins.width
        return JumpProposal(mask=mask, destination=destination)
