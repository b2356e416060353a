"""The harmonic chain source: a centred Gaussian random walk on ``R^{L×d}`` (GM §9.1)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import final

import torch
from torch import Tensor

from genmatch._checks import value_checks_enabled
from genmatch.sources.base import AbstractSource
from genmatch.spaces.euclidean import EuclideanSpace


@final
@dataclass(frozen=True)
class HarmonicChainSource(AbstractSource):
    """Chains of ``L`` points in ``R^d`` whose bonds ``b_l = x_{l+1} − x_l`` are i.i.d.
    ``N(0, s² I_d)``, centred (``Σ_l x_l = 0``), with ``s = bond / √d`` so that
    ``E ‖b_l‖² = bond²``.

    This is the Gaussian ``p(x) ∝ exp(−xᵀ(Λ ⊗ I_d)x / 2s²)`` of the path graph's Laplacian
    ``Λ`` (``xᵀΛx = Σ_l ‖x_{l+1} − x_l‖²``) on the centred subspace: a source for polymer
    coordinates (protein C-alpha traces) whose draws already have the right bond scale, so
    that a flow from it only has to learn the shape. With
    :class:`~genmatch.paths.AffineGaussianPath` and :class:`~genmatch.generators.FlowGenerator`
    pass it to the loss as ``source=`` (the path's own draw is ``N(0, I)``): the CondOT target
    ``x_1 − x_0`` holds for any source with an independent coupling.

    Sampling: cumulative sums of the bonds, minus their mean over the chain. The density
    (:meth:`log_prob`) is with respect to Lebesgue measure on the centred subspace
    (dimension ``(L − 1) d``): the covariance there is ``s² Λ⁺``, the pseudo-determinant of
    ``Λ`` is ``L`` (matrix-tree theorem), so

    ``log p(x) = −Σ_l ‖b_l‖² / 2s² − ((L − 1) d / 2) log(2π s²) + (d / 2) log L``.

    Args:
        space: a Euclidean space of event shape ``(L, d)``, ``L ≥ 2``.
        bond: the root-mean-square bond length ``√E‖b_l‖²`` (> 0), in the units of the data.

    Example:
        >>> import torch
        >>> from genmatch.spaces import EuclideanSpace
        >>> source = HarmonicChainSource(EuclideanSpace((16, 3)), bond=0.38)
        >>> x = source.sample(4096, generator=torch.Generator().manual_seed(0))
        >>> x.shape, bool(x.sum(1).abs().max() < 1e-5)
        (torch.Size([4096, 16, 3]), True)
        >>> round(float((x[:, 1:] - x[:, :-1]).pow(2).sum(-1).mean().sqrt()), 2)
        0.38
    """

    space: EuclideanSpace
    bond: float

    def __post_init__(self) -> None:
        if not isinstance(self.space, EuclideanSpace):
            raise TypeError(f"space must be a EuclideanSpace, got {type(self.space).__name__}")
        shape = self.space.event_shape
        if len(shape) != 2 or shape[0] < 2:
            raise ValueError(
                f"space must have event shape (L, d) with L >= 2 points, got {tuple(shape)}"
            )
        if isinstance(self.bond, bool) or not isinstance(self.bond, (int, float)):
            raise TypeError(f"bond must be a float, got {type(self.bond).__name__}")
        if not (math.isfinite(self.bond) and self.bond > 0):
            raise ValueError(f"bond must be finite and > 0, got {self.bond}")

    @property
    def step_std(self) -> float:
        """``s = bond / √d``, the standard deviation of each bond coordinate."""
        return self.bond / math.sqrt(self.space.event_shape[1])

    def sample(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> Tensor:
        """Draw ``n`` centred chains ``(n, L, d)``."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        length, d = self.space.event_shape
        bonds = torch.randn((n, length - 1, d), generator=generator, dtype=dtype, device=device)
        x = torch.cat([bonds.new_zeros(n, 1, d), bonds.cumsum(1)], 1)
        return self.step_std * (x - x.mean(1, keepdim=True))

    def log_prob(self, x: Tensor) -> Tensor:
        """``log p(x)`` on the centred subspace: ``(batch, L, d) → (batch,)``.

        Raises:
            ValueError: if ``x`` has the wrong shape, is not finite, or is not centred
                (``|Σ_l x_l|`` above ``1e-4 L (1 + max |x|)``): such a point is off the
                source's support. The centring check is skipped under
                ``set_value_checks(False)``.
        """
        self.space.check(x, "x")
        length, d = self.space.event_shape
        if value_checks_enabled() and x.numel():
            offset = x.detach().sum(1).abs().amax(-1)  # (batch,)
            scale = 1.0 + x.detach().abs().flatten(1).amax(1)
            if bool((offset > 1e-4 * length * scale).any()):
                raise ValueError(
                    "x must be centred chains (sum over the L points = 0): the largest "
                    f"|sum| is {float(offset.max()):.3g}"
                )
        s2 = self.step_std**2
        sq = (x[:, 1:] - x[:, :-1]).pow(2).flatten(1).sum(1)
        const = -0.5 * (length - 1) * d * math.log(2 * math.pi * s2) + 0.5 * d * math.log(length)
        return -0.5 * sq / s2 + const
