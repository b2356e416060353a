"""Diffusions on ``R^d``: ``dX = b_t(X) dt + σ_t(X) dW`` (GM eq. 9.6).

Convention, used everywhere in genmatch: the *diffusion coefficient* ``Σ_t(x) = σ_t σ_tᵀ``
enters the generator with a ½,

``L_t f(x) = b_t(x)·∇f(x) + ½ tr(Σ_t(x) ∇²f(x))``,

so Brownian motion ``dX = dW`` has ``Σ = I`` and ``L f = ½ Δf``. (The chapter's eq. 9.6 writes
``∇²f · σ_t²``, i.e. it absorbs the ½ into ``σ_t²``.) The linear parametrization is the pair
``F = (b, Σ)`` with ``K f = (∇f, ½ ∇²f)`` and the sum of the Euclidean and Frobenius inner
products; a drift-free diffusion is the special case ``b = 0``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import final

import torch
from torch import Tensor
from torch.nn import functional as F

from genmatch._checks import (
    check_enum,
    check_instance,
    check_nonsingular,
    value_checks_enabled,
)
from genmatch.divergences.base import AbstractBregmanDivergence
from genmatch.generators.base import (
    AbstractGenerator,
    AbstractLinearParametrization,
    TestFunction,
    check_step,
)
from genmatch.guidance.base import AbstractGuidableParametrization, extrapolate
from genmatch.paths.base import AbstractConditionalPath, AbstractGaussianPath, PathSample
from genmatch.spaces.base import AbstractStateSpace
from genmatch.types import Field, HeadShapes, RawHeads


class DiffusionStructure(enum.Enum):
    """How the diffusion coefficient ``Σ_t(x)`` is represented.

    - ``SCALAR``: ``Σ = s I``, value ``(batch,)``, head ``()`` through softplus;
    - ``DIAGONAL``: ``Σ = diag(s)``, value ``(batch, d)``, head ``(d,)`` through softplus;
    - ``FULL``: ``Σ = L Lᵀ`` (PSD), value ``(batch, d, d)``, head ``(d, d)`` whose lower
      triangle is ``L`` (diagonal through softplus).
    """

    SCALAR = "scalar"
    DIAGONAL = "diagonal"
    FULL = "full"


@final
@dataclass(frozen=True)
class DriftDiffusion:
    """``F = (b, Σ)``: drift ``(batch, d)`` and diffusion coefficient.

    The coefficient's shape follows :class:`DiffusionStructure`.
    """

    drift: Tensor
    diffusion: Tensor


def _as_matrix(diffusion: Tensor, d: int) -> Tensor:
    if diffusion.dim() == 1:
        return diffusion[:, None, None] * torch.eye(
            d, dtype=diffusion.dtype, device=diffusion.device
        )
    if diffusion.dim() == 2:
        return torch.diag_embed(diffusion)
    return diffusion


@final
@dataclass(frozen=True)
class DriftDiffusionParametrization(AbstractLinearParametrization, AbstractGuidableParametrization):
    """``L f = ⟨(∇f, ½∇²f), (b, Σ)⟩``; ``Ω_x = R^d × PSD`` (GM eq. 9.5 + 9.6).

    Heads ``"drift"`` ``(d,)`` and ``"diffusion"`` (shape by ``structure``). Points are flat
    vectors ``(batch, d)``.
    """

    structure: DiffusionStructure = DiffusionStructure.SCALAR

    def head_shapes(self, space: AbstractStateSpace) -> HeadShapes:
        event = getattr(space, "event_shape", None)
        if event is None or len(event) != 1:
            raise TypeError(f"diffusions need a Euclidean space of vectors (d,), got {space}")
        (d,) = event
        shape = {DiffusionStructure.SCALAR: (), DiffusionStructure.DIAGONAL: (d,)}.get(
            self.structure, (d, d)
        )
        return {"drift": (d,), "diffusion": shape}

    def constrain(self, raw: RawHeads, x_t: Tensor, t: Tensor) -> DriftDiffusion:
        r = raw["diffusion"]
        if self.structure is DiffusionStructure.FULL:
            lower = torch.tril(r, -1) + torch.diag_embed(
                F.softplus(torch.diagonal(r, dim1=-2, dim2=-1))
            )
            diffusion = lower @ lower.transpose(-1, -2)
        else:
            diffusion = F.softplus(r)
        return DriftDiffusion(raw["drift"], diffusion)

    def test_operator(self, f: TestFunction, x_t: Tensor) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        with torch.enable_grad():
            x = x_t.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(f(x).sum(), x, create_graph=True)
            rows = [
                torch.autograd.grad(grad[:, i].sum(), x, retain_graph=True)[0]
                for i in range(x.shape[1])
            ]
        return grad.detach(), torch.stack(rows, 1).detach()

    def inner(self, a: tuple[Tensor, Tensor], b: DriftDiffusion, x_t: Tensor) -> Tensor:  # type: ignore[override]
        grad, hessian = a
        sigma = _as_matrix(b.diffusion, x_t.shape[1])
        return (grad * b.drift).sum(1) + 0.5 * (hessian * sigma).sum((1, 2))

    def guide(
        self,
        conditional: DriftDiffusion,
        unconditional: DriftDiffusion,
        weight: Tensor,
        x_t: Tensor,
    ) -> DriftDiffusion:
        """Drifts ``(1 + w) b(x|c) − w b(x)``; the diffusion coefficient is the conditional
        model's (guidance moves the drift, not the noise level; both models share it when the
        path fixes ``g_t``)."""
        drift = extrapolate(conditional.drift, unconditional.drift, weight)
        return DriftDiffusion(drift, conditional.diffusion)

    def scale(self, value: DriftDiffusion, factor: Tensor) -> DriftDiffusion:
        c = factor.reshape(-1, *([1] * (value.diffusion.dim() - 1)))
        return DriftDiffusion(factor[:, None] * value.drift, c * value.diffusion)

    def posterior_mean(self, values: DriftDiffusion, weights: Tensor) -> DriftDiffusion:
        b, n = weights.shape

        def mean(v: Tensor) -> Tensor:
            v = v.reshape(b, n, *v.shape[1:])
            return (weights.reshape(b, n, *([1] * (v.dim() - 2))) * v).sum(1)

        return DriftDiffusion(mean(values.drift), mean(values.diffusion))


@final
@dataclass(frozen=True)
class DriftDiffusionMSE(AbstractBregmanDivergence):
    """``D = |b − b̂|² + ‖Σ − Σ̂‖²_F``: the Bregman divergence of ``Φ(b, Σ) = |b|² + ‖Σ‖²_F``."""

    def phi(self, a: DriftDiffusion) -> Tensor:  # type: ignore[override]
        return (a.drift**2).sum(1) + (a.diffusion**2).reshape(a.drift.shape[0], -1).sum(1)

    def __call__(self, a: DriftDiffusion, b: DriftDiffusion) -> Tensor:  # type: ignore[override]
        n = a.drift.shape[0]
        return ((a.drift - b.drift) ** 2).sum(1) + ((a.diffusion - b.diffusion) ** 2).reshape(
            n, -1
        ).sum(1)

    def generic(self, a: DriftDiffusion, b: DriftDiffusion) -> Tensor:  # type: ignore[override]
        from genmatch.divergences.base import bregman_from_potential

        def phi(v: Tensor) -> Tensor:
            return (v**2).sum(1)

        n = a.drift.shape[0]
        return bregman_from_potential(phi, a.drift, b.drift) + bregman_from_potential(
            phi, a.diffusion.reshape(n, -1), b.diffusion.reshape(n, -1)
        )


#: A conditional diffusion coefficient ``g²_t(x|z)``:
#: ``(x (batch, d), t (batch,), z (batch, d)) ↦ (batch,)``.
CoefficientFn = Callable[[Tensor, Tensor, Tensor], Tensor]


@final
@dataclass(frozen=True)
class DiffusionGenerator(AbstractGenerator):
    """The SDE ``dX = b dt + σ dW`` with learned drift and diffusion coefficient ``Σ = σσᵀ``.

    Conditional target for any :class:`~genmatch.paths.AbstractGaussianPath` (e.g.
    :class:`~genmatch.paths.AffineGaussianPath`) and a chosen scalar
    conditional coefficient ``g²_t(x|z) ≥ 0`` (``coefficient``; may depend on ``x`` and ``z``):
    ``Σ(x|z) = g² I`` and, from the Fokker–Planck equation
    ``∂_t p = −∇·(b p) + ½ Δ(g² p)`` of the conditional path,

    ``b(x|z) = u_t(x|z) + ½ g² ∇ log p_t(x|z) + ½ ∇g²``

    (``u`` the conditional velocity, ``∇ log p = −(x − α_t z)/σ_t²``; ``∇g²`` by autograd).
    The CGM loss then learns the marginal drift ``E[b|x]`` and the marginal coefficient
    ``E[g²(x|Z)|x]`` (GM eq. 9.19). Default divergence :class:`DriftDiffusionMSE`. Simulation:
    Euler–Maruyama, ``x + h b + sqrt(h) σ ε`` with ``σ`` the (Cholesky) square root of ``Σ``.

    Args:
        coefficient: ``g²_t(x|z)``; defaults to the constant 1.
        structure: representation of the learned ``Σ``.
    """

    coefficient: CoefficientFn | None = None
    structure: DiffusionStructure = DiffusionStructure.SCALAR
    divergence: AbstractBregmanDivergence = field(default_factory=DriftDiffusionMSE)
    parametrization: DriftDiffusionParametrization = field(init=False)

    def __post_init__(self) -> None:
        if self.coefficient is not None and not callable(self.coefficient):
            raise TypeError(
                "coefficient must be a function (x, t, z) ↦ g² of shape (batch,), or None "
                f"for g² = 1; got {type(self.coefficient).__name__}"
            )
        check_enum(self.structure, DiffusionStructure, "structure")
        check_instance(self.divergence, AbstractBregmanDivergence, "divergence")
        object.__setattr__(self, "parametrization", DriftDiffusionParametrization(self.structure))

    def _g2(self, x: Tensor, t: Tensor, z: Tensor) -> Tensor:
        if self.coefficient is None:
            return torch.ones_like(t)
        return self.coefficient(x, t, z)

    def conditional_target(
        self, path: AbstractConditionalPath, sample: PathSample
    ) -> DriftDiffusion:
        if not isinstance(path, AbstractGaussianPath):
            raise self.unsupported(path, "AbstractGaussianPath")
        x, t, z = sample.x_t, sample.t, sample.z
        if x.dim() != 2:
            raise ValueError(f"diffusions act on flat vectors (batch, d), got {tuple(x.shape)}")
        s = path.coefficients(t)
        check_nonsingular(s.sigma_t, "the diffusion's conditional drift (it has the score)")
        score = -(x - s.alpha_t[:, None] * z) / (s.sigma_t**2)[:, None]
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            g2 = self._g2(xg, t, z)
            if not isinstance(g2, Tensor) or g2.shape != t.shape:
                raise ValueError(
                    f"coefficient(x, t, z) must return g² as a tensor of shape "
                    f"{tuple(t.shape)}, got "
                    f"{tuple(g2.shape) if isinstance(g2, Tensor) else type(g2).__name__}"
                )
            grad_g2 = (
                torch.autograd.grad(g2.sum(), xg, allow_unused=True)[0]
                if g2.requires_grad
                else None
            )
        g2 = g2.detach()
        if value_checks_enabled() and not bool((g2 >= 0).all()):
            raise ValueError(
                f"the coefficient g² must be >= 0 (it is a variance rate), got minimum "
                f"{float(g2.min()):.3g}"
            )
        grad_g2 = torch.zeros_like(x) if grad_g2 is None else grad_g2
        u = path.conditional_velocity(PathSample(x_t=x, t=t, z=z))
        drift = u + 0.5 * g2[:, None] * score + 0.5 * grad_g2
        d = x.shape[1]
        if self.structure is DiffusionStructure.SCALAR:
            diffusion = g2
        elif self.structure is DiffusionStructure.DIAGONAL:
            diffusion = g2[:, None].expand(-1, d)
        else:
            diffusion = g2[:, None, None] * torch.eye(d, dtype=x.dtype, device=x.device)
        return DriftDiffusion(drift, diffusion)

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
        value = field(x, t)
        if value.drift.shape != x.shape:
            raise ValueError(
                f"the field returned a drift of shape {tuple(value.drift.shape)} for points of "
                f"shape {tuple(x.shape)}; it must have the shape of the points"
            )
        shapes = {1: x.shape[:1], 2: x.shape, 3: (*x.shape, x.shape[1])}
        if value.diffusion.shape != shapes.get(value.diffusion.dim()):
            raise ValueError(
                f"the field returned a diffusion coefficient of shape "
                f"{tuple(value.diffusion.shape)}; for points {tuple(x.shape)} it must be "
                "(batch,), (batch, d) or (batch, d, d)"
            )
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        return x + h * value.drift + (h**0.5) * diffusion_kick(value.diffusion, noise)


def diffusion_kick(diffusion: Tensor, noise: Tensor) -> Tensor:
    """``σ ξ`` with ``σσᵀ = Σ``: a draw of ``N(0, Σ)`` from standard normal ``noise``.

    ``Σ`` is a scalar ``(batch,)``, diagonal ``(batch, d)`` or full ``(batch, d, d)``
    coefficient; the full one uses its Cholesky factor, or its symmetric square root where
    it is only positive semi-definite. With value checks on (the default) a coefficient that
    is not PSD (negative entries, negative eigenvalues) raises ``ValueError``; with them off it
    is used as is (negative scalars are clamped to 0).

    Shapes:
        noise: ``(batch, d)``; returns ``(batch, d)``.
    """
    checks = value_checks_enabled()
    if diffusion.dim() == 3:
        root, info = torch.linalg.cholesky_ex(diffusion)
        if checks and bool((info != 0).any()):
            eigenvalues, vectors = torch.linalg.eigh(diffusion)
            scale = eigenvalues.abs().amax(-1, keepdim=True).clamp_min(1.0)
            if bool((eigenvalues < -1e-6 * scale).any()):
                raise ValueError(
                    "diffusion coefficient Σ is not positive semi-definite: smallest "
                    f"eigenvalue {float(eigenvalues.min()):.3g}"
                )
            root = vectors @ torch.diag_embed(eigenvalues.clamp_min(0).sqrt())
        return (root @ noise.unsqueeze(-1)).squeeze(-1)
    if checks and bool((diffusion < 0).any()):
        raise ValueError(
            f"diffusion coefficient must be >= 0, got minimum {float(diffusion.min()):.3g}"
        )
    return diffusion.clamp_min(0).sqrt().reshape(noise.shape[0], -1) * noise
