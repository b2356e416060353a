"""Abstract conditional probability paths ``p_{t|Z}(dx|z)`` (GM §9.2) and the capabilities
that generators dispatch on: a density, an interpolant, a Gaussian form, a mixture form."""

from __future__ import annotations

import abc
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import final

import torch
from torch import Tensor
from torch.nn import functional as F

from genmatch._checks import check_nonsingular, check_times_range
from genmatch.paths.kappa import AbstractKappaSchedule
from genmatch.paths.schedules import ScheduleOutput
from genmatch.sources.categorical import CategoricalSource
from genmatch.spaces.discrete import DiscreteSpace
from genmatch.types import State, Times


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
    t: Times
    z: State
    x_0: State | None = None

    def __post_init__(self) -> None:
        # every conditional target receives a PathSample: its times are checked once here
        for name, t in self.t.items() if isinstance(self.t, Mapping) else (("", self.t),):
            if isinstance(t, Tensor):
                check_times_range(t, f"t{f'[{name!r}]' if name else ''}")


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
            t: times in ``[0, 1]``, ``(batch,)``, or one time for all (a float or 0-d
                tensor) in the dtype of ``z`` (float tokens: torch's default dtype).
            x_0: source samples, ``(batch, *event)``, e.g. from a coupling. Drawn from the
                path's source with ``generator`` when ``None``.

        Raises:
            TypeError: for points or times of the wrong dtype or device, or half precision.
            ValueError: for mismatched shapes, times outside ``[0, 1]`` and (value checks on,
                :func:`~genmatch.set_value_checks`) non-finite or off-space points.
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


def _bcast(coeff: Tensor, like: Tensor) -> Tensor:
    return coeff.reshape(coeff.shape + (1,) * (like.dim() - coeff.dim()))


class AbstractGaussianPath(AbstractDensityPath, AbstractInterpolantPath):
    """``X_t = α_t z + σ_t X_0`` with ``X_0 ~ N(0, I)``: ``p_{t|Z}(x|z) = N(x; α_t z, σ_t² I)``
    (GM eq. 9.1).

    The capability of generators whose targets are built from a Gaussian conditional density
    (:class:`~genmatch.generators.DiffusionGenerator`,
    :class:`~genmatch.generators.BinnedJumpGenerator`). Subclasses give :meth:`coefficients`
    and :meth:`sample`; the density, its time derivative and the conditional velocity follow
    in closed form.
    """

    @abc.abstractmethod
    def coefficients(self, t: Tensor) -> ScheduleOutput:
        """``α_t, σ_t, α̇_t, σ̇_t`` at ``t``, each shaped like ``t`` (``(batch,)``)."""

    def conditional_velocity(self, sample: PathSample) -> Tensor:
        """``u_t(x|z) = α̇_t z + (σ̇_t/σ_t)(x − α_t z)``, which equals ``α̇_t z + σ̇_t x_0`` on a
        sample.

        The second form is used whenever ``x_0`` is known: it has no ``1/σ_t`` and is exact up
        to ``t = 1``. The first form (for arbitrary ``x``) is singular at ``σ_t = 0``, where
        the path is a Dirac.
        """
        z, s = sample.z, self.coefficients(sample.t)
        if sample.x_0 is not None:
            return _bcast(s.d_alpha_t, z) * z + _bcast(s.d_sigma_t, z) * sample.x_0
        check_nonsingular(s.sigma_t, "the conditional velocity at arbitrary x (no x_0)")
        ratio = s.d_sigma_t / s.sigma_t
        return _bcast(s.d_alpha_t, z) * z + _bcast(ratio, z) * (
            sample.x_t - _bcast(s.alpha_t, z) * z
        )

    def log_prob(self, x: Tensor, t: Tensor, z: Tensor) -> Tensor:
        """``log N(x; α_t z, σ_t² I)``, ``(batch,)``."""
        s = self.coefficients(t)
        d = z[0].numel()
        mean = _bcast(s.alpha_t, z) * z
        sq = ((x - mean) ** 2).flatten(1).sum(1)
        return -0.5 * sq / s.sigma_t**2 - d * torch.log(s.sigma_t) - 0.5 * d * math.log(2 * math.pi)

    def d_log_prob_dt(self, x: Tensor, t: Tensor, z: Tensor) -> Tensor:
        """Closed form of ``∂_t log N(x; α_t z, σ_t² I)``.

        ``= −d σ̇/σ + |x − α z|² σ̇/σ³ + ⟨x − α z, α̇ z⟩/σ²``.
        """
        s = self.coefficients(t)
        d = z[0].numel()
        r = x - _bcast(s.alpha_t, z) * z
        sq = (r**2).flatten(1).sum(1)
        proj = (r * z).flatten(1).sum(1)
        sig = s.sigma_t
        return -d * s.d_sigma_t / sig + sq * s.d_sigma_t / sig**3 + proj * s.d_alpha_t / sig**2


class AbstractMixturePath(AbstractConditionalPath):
    """``p_{t|Z}(dx|z) = κ_t δ_z(dx) + (1 − κ_t) p(dx)`` on any state space (GM eq. 9.25).

    The capability of :class:`~genmatch.generators.JumpGenerator`, whose conditional target
    (jump straight to ``z`` at intensity ``κ̇_t/(1 − κ_t)``) needs the schedule alone.
    Subclasses set the attribute ``kappa`` and implement :meth:`sample`.
    """

    #: The mixing schedule ``κ_t``.
    kappa: AbstractKappaSchedule


class AbstractFactorizedMixturePath(AbstractDensityPath):
    """``p_{t|Z}(x|z) = Π_i [κ_t δ_{z_i}(x_i) + (1 − κ_t) q_i(x_i)]`` on token sequences
    (GM eq. 9.25, per position).

    The capability of :class:`~genmatch.generators.CTMCGenerator` and of the CTMC likelihoods
    (:mod:`genmatch.likelihood`). Subclasses set the attributes ``space``, ``source`` and
    ``kappa`` and implement :meth:`sample`; :meth:`probs` and :meth:`log_prob` follow.
    """

    #: The discrete space of the sequences.
    space: DiscreteSpace
    #: The factorized source ``q``.
    source: CategoricalSource
    #: The mixing schedule ``κ_t`` (``κ_0 = 0``, ``κ_1 = 1``).
    kappa: AbstractKappaSchedule

    def probs(self, z: Tensor, t: Tensor) -> Tensor:
        """``p_{t|Z}(·|z)`` per position, ``(batch, L, S)``, in ``t``'s dtype."""
        kappa = self.kappa.kappa(t)[:, None, None]
        one_hot = F.one_hot(z, self.space.num_states).to(t.dtype)
        q = self.source.position_probs(t.dtype, z.device)
        return kappa * one_hot + (1 - kappa) * q

    def log_prob(self, x: Tensor, t: Tensor, z: Tensor) -> Tensor:
        """``log p_{t|Z}(x|z) = Σ_i log[κ_t δ_{z_i}(x_i) + (1 − κ_t) q_i(x_i)]``, ``(batch,)``."""
        kappa = self.kappa.kappa(t)[:, None]
        q = self.source.position_probs(t.dtype, x.device)  # (L, S)
        q_x = q.gather(1, x.T).T  # q_i(x_i), (batch, L), no (batch, L, S) one-hot
        p = kappa * (x == z).to(t.dtype) + (1 - kappa) * q_x
        return torch.log(p).sum(1)
