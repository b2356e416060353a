"""A Gaussian mixture with its component labels: a product toy with exact conditionals."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import final

import torch
from torch import Tensor

from genmatch._checks import check_positive_int
from genmatch.generators.base import AbstractGenerator
from genmatch.spaces.product import ProductSpace
from genmatch.types import Field


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


@final
@dataclass(frozen=True)
class ConditionalScores:
    """How well a model of :class:`LabelledMixture` reproduces its joint and conditionals.

    Each measured accuracy comes with the exact value it should match (``*_exact``).

    Attributes:
        label_given_x: accuracy of labels sampled from the model's ``p(label | x)`` on fresh
            ``x``; exact: ``E_x Σ_k p(k|x)²`` (sampling from the true posterior).
        label_given_x_argmax: accuracy of the model's most likely label; exact: the Bayes rate.
        label_given_x_tv: mean total variation between the model's and the exact ``p(·|x)``.
        x_given_label: fraction of points sampled from ``p(x | k)`` that the Bayes classifier
            assigns to ``k``; exact: the Bayes rate.
        x_given_label_energy: energy distance of those points to true ``p(x | k)`` samples,
            one per class; ``x_given_label_floor``: the same between two true sample sets.
        joint_agreement: fraction of joint samples ``(x, k)`` whose Bayes label is ``k``;
            exact: ``E_x Σ_k p(k|x)²``.
        joint_energy: energy distance of the joint samples' ``x`` to fresh data.
        bayes_rate, sampling_rate: the two exact references.
    """

    label_given_x: float
    label_given_x_argmax: float
    label_given_x_tv: float
    x_given_label: float
    x_given_label_energy: tuple[float, ...]
    x_given_label_floor: tuple[float, ...]
    joint_agreement: float
    joint_energy: float
    bayes_rate: float
    sampling_rate: float


def conditional_scores(
    toy: LabelledMixture,
    generator: AbstractGenerator,
    field: Field,
    space: ProductSpace,
    *,
    n: int = 2000,
    steps: int = 32,
    rng: torch.Generator | None = None,
) -> ConditionalScores:
    """Sample the joint and both conditionals from one model and score them against the exact
    ones (:class:`ConditionalScores`).

    The model is a product generator on ``space = {"x": R², "label": one token}`` with a masked
    label source (mask token ``K``); conditionals hold the other factor at its data value
    (:class:`~genmatch.time.FactorGrids` with ``None``) at ``t = 1``.

    Args:
        toy: the mixture.
        generator: the product generator.
        field: its field, e.g. ``generator.field(net)`` or an oracle.
        space: the product space.
        n: samples per task (a multiple of ``K`` is best).
        steps: grid steps of the moving factor.
        rng: random number generator for data and sampling.
    """
    from genmatch.metrics.euclidean import energy_distance
    from genmatch.simulate import simulate
    from genmatch.time import FactorGrids, TimeGrid

    k = toy.num_modes
    test = toy.sample(n, generator=rng)
    exact = toy.posterior(test["x"])
    truth = test["label"][:, 0]
    bayes = float((exact.argmax(1) == truth).float().mean())
    sampling = float((exact**2).sum(1).mean())
    masked = torch.full((n, 1), k, dtype=torch.long)
    with torch.no_grad():
        held_x = {"x": test["x"], "label": masked}
        value = field(held_x, {"x": torch.ones(n), "label": torch.zeros(n)})
        probs = value["label"].probs[:, 0, :k]
        grid = TimeGrid.uniform(steps)
        labels = simulate(
            generator, field, held_x, FactorGrids({"x": None, "label": grid}), rng=rng, space=space
        ).x["label"][:, 0]
        label = torch.arange(k).repeat_interleave(-(-n // k))[:n]
        held_label = {"x": torch.randn(n, 2, generator=rng), "label": label[:, None]}
        x = simulate(
            generator,
            field,
            held_label,
            FactorGrids({"x": grid, "label": None}),
            rng=rng,
            space=space,
        ).x["x"]
        reference, second = toy.sample_x(label, generator=rng), toy.sample_x(label, generator=rng)
        noise = {"x": torch.randn(n, 2, generator=rng), "label": masked}
        joint = simulate(generator, field, noise, steps, rng=rng, space=space).x
    return ConditionalScores(
        label_given_x=float((labels == truth).float().mean()),
        label_given_x_argmax=float((probs.argmax(1) == truth).float().mean()),
        label_given_x_tv=float(0.5 * (probs - exact).abs().sum(1).mean()),
        x_given_label=float((toy.posterior(x).argmax(1) == label).float().mean()),
        x_given_label_energy=tuple(
            float(energy_distance(x[label == c], reference[label == c])) for c in range(k)
        ),
        x_given_label_floor=tuple(
            float(energy_distance(second[label == c], reference[label == c])) for c in range(k)
        ),
        joint_agreement=float(
            (toy.posterior(joint["x"]).argmax(1) == joint["label"][:, 0]).float().mean()
        ),
        joint_energy=float(energy_distance(joint["x"], toy.sample(n, generator=rng)["x"])),
        bayes_rate=bayes,
        sampling_rate=sampling,
    )
