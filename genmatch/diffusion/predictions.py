"""The four predictions of affine Gaussian paths and their exact conversions (seed 003 §5.2).

For ``X_t = α_t Z + σ_t ε`` (``Z`` data, ``ε ~ N(0, I)``, GM eq. 9.1) a network may predict

- ``DATA``: ``x̂ = E[Z | X_t = x]`` (called x₀-prediction in diffusion time),
- ``EPSILON``: ``ε̂ = E[ε | X_t = x]``,
- ``SCORE``: ``s = ∇ log p_t(x) = −ε̂/σ_t``,
- ``VELOCITY``: ``u = α̇_t x̂ + σ̇_t ε̂`` (the marginal flow velocity).

Given ``x`` and ``t`` each one determines the others, because ``x = α_t x̂ + σ_t ε̂``:

- ``ε̂ = (x − α x̂)/σ`` and ``x̂ = (x − σ ε̂)/α``;
- ``x̂ = (σ̇ x − σ u)/(α σ̇ − σ α̇)``, ``ε̂ = (α u − α̇ x)/(α σ̇ − σ α̇)``.

Singularities: converting to ``DATA`` from ``EPSILON``/``SCORE`` divides by ``α_t`` (``t = 0``
for the schedules with ``α_0 = 0``); converting ``DATA`` to ``EPSILON``/``SCORE``/``VELOCITY``
divides by ``σ_t`` (``t = 1``); ``SCORE`` ↔ ``EPSILON`` multiply/divide by ``σ_t``. The
velocity conversions divide by ``α σ̇ − σ α̇`` (``−1`` for CondOT, never 0 for the shipped
schedules). Where a denominator is exactly 0, :func:`convert` raises ``ValueError`` (with value
checks on) rather than returning Inf; close to it the conversion is ill-conditioned, which is
why diffusion models prefer ε- or velocity-prediction near ``t = 0``.

Every conversion is affine in the prediction, with a per-time slope :func:`slope`; training
the ``a``-prediction with squared error weighted by ``slope(a, b)²`` is training the
``b``-prediction with plain squared error (the "equivalent loss weights").
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import final

import torch
from torch import Tensor, nn

from genmatch._checks import value_checks_enabled
from genmatch.paths.schedules import AbstractSchedule


class Prediction(enum.Enum):
    """What a network head predicts; see the module docstring."""

    DATA = "data"
    EPSILON = "epsilon"
    SCORE = "score"
    VELOCITY = "velocity"


def _col(c: Tensor, like: Tensor) -> Tensor:
    return c.reshape(c.shape + (1,) * (like.dim() - c.dim()))


def _nonzero(denominator: Tensor, what: str) -> Tensor:
    if value_checks_enabled() and bool((denominator == 0).any()):
        raise ValueError(f"conversion is singular here: {what} = 0 at some times")
    return denominator


def _coefficients(
    schedule: AbstractSchedule, t: Tensor, like: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``α, σ, α̇, σ̇`` at ``t``, shaped to broadcast against ``like``.

    A shared time (stride-0 ``t``, as :func:`genmatch.simulate` passes) is evaluated once.
    """
    shared = t.dim() == 1 and t.shape[0] > 1 and t.stride(0) == 0
    c = schedule(t[:1] if shared else t)
    return tuple(  # type: ignore[return-value]
        _col(v, like) for v in (c.alpha_t, c.sigma_t, c.d_alpha_t, c.d_sigma_t)
    )


def _data_and_eps(
    value: Tensor, kind: Prediction, x: Tensor, coeffs: tuple[Tensor, Tensor, Tensor, Tensor]
) -> tuple[Tensor, Tensor]:
    a, sig, da, ds = coeffs
    if kind is Prediction.DATA:
        return value, (x - a * value) / _nonzero(sig, "σ_t")
    if kind is Prediction.EPSILON:
        return (x - sig * value) / _nonzero(a, "α_t"), value
    if kind is Prediction.SCORE:
        eps = -sig * value
        return (x - sig * eps) / _nonzero(a, "α_t"), eps
    det = _nonzero(a * ds - sig * da, "α σ̇ − σ α̇")
    return (ds * x - sig * value) / det, (a * value - da * x) / det


def to_data_and_epsilon(
    value: Tensor, kind: Prediction, x: Tensor, t: Tensor, s: AbstractSchedule
) -> tuple[Tensor, Tensor]:
    """``(x̂, ε̂)``, the data and noise predictions that ``value`` (a ``kind`` prediction) fixes.

    Shapes:
        value, x: ``(batch, *event)``; t: ``(batch,)``; returns two ``(batch, *event)``.
    """
    return _data_and_eps(value, kind, x, _coefficients(s, t, x))


def convert(
    value: Tensor,
    source: Prediction,
    target: Prediction,
    x_t: Tensor,
    t: Tensor,
    schedule: AbstractSchedule,
) -> Tensor:
    """Convert a ``source`` prediction at ``(x_t, t)`` into the ``target`` one (exact).

    Shapes:
        value, x_t: ``(batch, *event)``; t: ``(batch,)``; returns ``(batch, *event)``.

    Example:
        >>> import torch
        >>> from genmatch.paths import CondOT
        >>> x, t = torch.tensor([[0.5]]), torch.tensor([0.5])
        >>> convert(torch.tensor([[1.0]]), Prediction.DATA, Prediction.VELOCITY, x, t, CondOT())
        tensor([[1.]])
    """
    if source is target:
        return value
    coeffs = _coefficients(schedule, t, x_t)
    a, sig, da, ds = coeffs
    if source is Prediction.DATA and target is Prediction.VELOCITY:
        return (da - ds * a / _nonzero(sig, "σ_t")) * value + (ds / sig) * x_t
    data, eps = _data_and_eps(value, source, x_t, coeffs)
    if target is Prediction.DATA:
        return data
    if target is Prediction.EPSILON:
        return eps
    if target is Prediction.SCORE:
        return -eps / _nonzero(sig, "σ_t")
    return da * data + ds * eps


def slope(source: Prediction, target: Prediction, t: Tensor, schedule: AbstractSchedule) -> Tensor:
    """``∂(target)/∂(source)`` at fixed ``x_t`` (a scalar per time): ``(batch,) → (batch,)``.

    ``slope²`` is the loss weight that makes squared error on ``source`` equal squared error on
    ``target``.
    """
    one = torch.ones(t.shape[0], 1, dtype=t.dtype, device=t.device)
    zero = torch.zeros_like(one)
    return (
        convert(one, source, target, zero, t, schedule)
        - convert(zero, source, target, zero, t, schedule)
    )[:, 0]


@final
@dataclass(frozen=True)
class PredictionModel:
    """Wrap a trained network that predicts ``source`` into any other prediction.

    Args:
        net: ``(x_t, t) ↦ {head: prediction}``.
        head: the name of the head holding the prediction.
        source: what the head predicts.
        schedule: the affine path's schedule.

    Calling ``model(x_t, t, target)`` returns the ``target`` prediction; ``model.velocity(x_t, t)``
    is a field for :func:`genmatch.simulate` with a :class:`~genmatch.FlowGenerator`
    (the probability-flow ODE).
    """

    net: Callable[[Tensor, Tensor], dict[str, Tensor]]
    head: str
    source: Prediction
    schedule: AbstractSchedule

    def __call__(self, x_t: Tensor, t: Tensor, target: Prediction) -> Tensor:
        return convert(self.net(x_t, t)[self.head], self.source, target, x_t, t, self.schedule)

    def velocity(self, x_t: Tensor, t: Tensor) -> Tensor:
        return self(x_t, t, Prediction.VELOCITY)


def mse_weight(prediction: Prediction, schedule: AbstractSchedule) -> Callable[[Tensor], Tensor]:
    """``w(t) = slope(prediction → velocity)⁻²`` for :class:`~genmatch.GeneratorMatchingLoss`.

    With a :class:`VelocityFromPrediction` network, the flow-matching loss weighted by ``w``
    *is* plain squared error on ``prediction``: for ``EPSILON`` the denoising loss
    ``|ε̂ − ε|²`` of diffusion models, for ``DATA`` the x₀-regression loss (seed 003 §5.2;
    GM §10.3). ``w`` vanishes where the slope is infinite (``t = 1`` for VP schedules).
    """

    def weight(t: Tensor) -> Tensor:
        return slope(prediction, Prediction.VELOCITY, t, schedule) ** -2

    return weight


class VelocityFromPrediction(nn.Module):
    """A network predicting ``prediction`` seen as a velocity network (head ``"velocity"``).

    It makes any head trainable and sampleable through the flow machinery:
    :class:`~genmatch.GeneratorMatchingLoss` with :class:`~genmatch.FlowGenerator` (and
    :func:`mse_weight` to recover the head's own squared error), :func:`genmatch.simulate`
    for the probability-flow ODE, :class:`~genmatch.compose.Langevin` or
    :class:`~genmatch.diffusion.DDIM` for stochastic sampling.

    Args:
        net: ``(x_t, t) ↦ {head: prediction}``, an ``nn.Module``.
        head: the name of the head.
        prediction: what the head predicts.
        schedule: the affine path's schedule.

    Shapes:
        x_t: ``(batch, *event)``; t: ``(batch,)``; returns ``{"velocity": (batch, *event)}``.
    """

    def __init__(
        self, net: nn.Module, head: str, prediction: Prediction, schedule: AbstractSchedule
    ) -> None:
        super().__init__()
        self.net = net
        self.head = head
        self.prediction = prediction
        self.schedule = schedule

    def forward(self, x_t: Tensor, t: Tensor) -> dict[str, Tensor]:
        value = self.net(x_t, t)[self.head]
        return {
            "velocity": convert(value, self.prediction, Prediction.VELOCITY, x_t, t, self.schedule)
        }
