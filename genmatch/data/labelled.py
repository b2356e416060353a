"""A Gaussian mixture with its component labels: a product toy with exact conditionals."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import final

import torch
from torch import Tensor

from genmatch._checks import check_positive_int


@final
@dataclass(frozen=True)
class LabelledMixture:
    """``K`` isotropic Gaussians on a circle, each point paired with its component's label.

    The joint is ``p(x, k) = N(x; c_k, s² I) / K`` with ``c_k = R (cos 2πk/K, sin 2πk/K)``, so
    both conditionals are known exactly: ``p(x | k) = N(c_k, s² I)`` and ``p(k | x)`` by Bayes'
    rule (:meth:`posterior`). The Bayes classifier ``argmax_k p(k|x)`` has the best accuracy any
    model of ``p(k | x)`` can reach (:meth:`bayes_rate`). A state is
    ``{"x": (n, 2) float, "label": (n, 1) int64}``, a point of
    ``ProductSpace({"x": EuclideanSpace(2), "label": DiscreteSpace(1, K)})``.

    Args:
        num_modes: ``K``.
        radius: ``R``.
        std: ``s``.

    Example:
        >>> toy = LabelledMixture()
        >>> batch = toy.sample(5, generator=torch.Generator().manual_seed(0))
        >>> batch["x"].shape, batch["label"].shape
        (torch.Size([5, 2]), torch.Size([5, 1]))
        >>> round(toy.bayes_rate(generator=torch.Generator().manual_seed(0)), 2)
        0.87
    """

    num_modes: int = 8
    radius: float = 2.0
    std: float = 0.5

    def __post_init__(self) -> None:
        check_positive_int(self.num_modes, "num_modes")
        if not (self.radius > 0 and self.std > 0):
            raise ValueError(f"radius and std must be > 0, got {self.radius}, {self.std}")

    def centres(self, dtype: torch.dtype = torch.float32) -> Tensor:
        """``c_k``, ``(K, 2)``."""
        angle = torch.arange(self.num_modes, dtype=torch.float64) * (2 * math.pi / self.num_modes)
        return (self.radius * torch.stack([angle.cos(), angle.sin()], 1)).to(dtype)

    def sample_x(
        self,
        label: Tensor,
        *,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> Tensor:
        """Points of the given components, ``x ~ p(x | k)``: ``label (n,) → (n, 2)``."""
        eps = torch.randn(label.shape[0], 2, generator=generator, dtype=torch.float64)
        return (self.centres(torch.float64)[label] + self.std * eps).to(dtype)

    def sample(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> dict[str, Tensor]:
        """``n`` draws of ``(x, k)``: ``{"x": (n, 2), "label": (n, 1)}``."""
        n = check_positive_int(n, "n")
        label = torch.randint(self.num_modes, (n,), generator=generator)
        return {
            "x": self.sample_x(label, generator=generator, dtype=dtype),
            "label": label[:, None],
        }

    def posterior(self, x: Tensor) -> Tensor:
        """``p(k | x)``, ``(n, 2) → (n, K)``."""
        c = self.centres(x.dtype).to(x.device)
        log_lik = -((x[:, None, :] - c[None]) ** 2).sum(-1) / (2 * self.std**2)
        return torch.softmax(log_lik, dim=1)

    def bayes_rate(self, n: int = 100_000, *, generator: torch.Generator | None = None) -> float:
        """The accuracy of the Bayes classifier ``argmax_k p(k|x)``, by Monte Carlo on ``n``
        draws (standard error ≤ ``0.5/√n``)."""
        batch = self.sample(n, generator=generator, dtype=torch.float64)
        guess = self.posterior(batch["x"]).argmax(1)
        return float((guess == batch["label"][:, 0]).double().mean())
