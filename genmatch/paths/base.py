"""Abstract conditional probability paths ``p_{t|Z}(dx|z)`` (GM §9.2)."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import final

import torch
from torch import Tensor

from genmatch.types import State


@final
@dataclass(frozen=True)
class PathSample:
    """A draw ``X_t ~ p_{t|Z}(·|z)`` with what produced it.

    Attributes:
        x_t: the points, ``(batch, *event)``.
        t: the times, ``(batch,)``.
        z: the conditioning variable (a data point ``x_1`` for the paths shipped),
            ``(batch, *event)``.
        x_0: the source sample the point was built from, when the path has one and it is
            known. When present, targets are conditioned on the pair ``Z = (X_0, X_1)``
            (a coupling, GM §9.1); when ``None`` they are conditioned on ``Z = X_1`` alone and
            must be computed from ``x_t`` (e.g. when evaluating ``F_t(x|z)`` at arbitrary ``x``).
    """

    x_t: State
    t: Tensor
    z: State
    x_0: State | None = None


class AbstractConditionalPath(abc.ABC):
    """A family of probability paths ``p_{t|Z}(dx|z)`` indexed by a latent ``z``.

    The marginal path is ``p_t = E_{Z ~ p_Z} p_{t|Z}(·|Z)`` with ``p_0 = p`` (source) and
    ``p_1 = q`` (data). The one abstract method draws ``X_t``.
    """

    @abc.abstractmethod
    def sample(
        self,
        z: State,
        t: Tensor,
        *,
        x_0: State | None = None,
        generator: torch.Generator | None = None,
    ) -> PathSample:
        """Draw ``X_t ~ p_{t|Z}(·|z)`` for each ``(t[i], z[i])``.

        Args:
            z: conditioning variables, ``(batch, *event)``.
            t: times in ``[0, 1]``, ``(batch,)``.
            x_0: source samples, ``(batch, *event)``, e.g. from a coupling. Drawn from the
                path's source with ``generator`` when ``None``.
            generator: random number generator for any draw.

        Returns:
            The sample with its ingredients.
        """


class AbstractDensityPath(AbstractConditionalPath):
    """A conditional path with a density ``p_{t|Z}(x|z)`` w.r.t. the space's reference measure.

    Needed by the exact marginal (posterior weights, GM eq. 9.13–9.14), by KFE checks in
    strong form (eq. 9.21), and by jump targets built from the density (eq. 9.27–9.31).
    """

    @abc.abstractmethod
    def log_prob(self, x: State, t: Tensor, z: State) -> Tensor:
        """``log p_{t|Z}(x|z)``.

        Shapes:
            x, z: ``(batch, *event)``; t: ``(batch,)``; returns ``(batch,)``.
        """

    def d_log_prob_dt(self, x: State, t: Tensor, z: State) -> Tensor:
        """``∂_t log p_{t|Z}(x|z)`` at fixed ``x``; autodiff default, override by closed form.

        Shapes:
            x, z: ``(batch, *event)``; t: ``(batch,)``; returns ``(batch,)``.
        """
        out = torch.func.jvp(lambda s: self.log_prob(x, s, z), (t,), (torch.ones_like(t),))
        return out[1]


class AbstractInterpolantPath(AbstractConditionalPath):
    """A path whose samples are a differentiable interpolant ``X_t = ψ_t(X_0 | z)``.

    Such a path has a conditional velocity field, the target of flow generators (eq. 9.5).
    """

    @abc.abstractmethod
    def conditional_velocity(self, sample: PathSample) -> Tensor:
        """``u_t(x_t|z)``, the velocity that transports ``p_{t|Z}(·|z)``.

        Uses ``sample.x_0`` when present (target conditioned on ``(X_0, X_1)``), otherwise
        ``sample.x_t`` (target conditioned on ``X_1``).

        Shapes:
            returns ``(batch, *event)``.
        """
