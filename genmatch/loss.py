"""The conditional generator-matching loss (GM eq. 9.17)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import final

import torch
from torch import Tensor
from torch.utils import _pytree as pytree

from genmatch._checks import (
    check_finite,
    check_instance,
    check_like,
    check_same_shapes,
    time_dtype,
)
from genmatch.couplings import AbstractCoupling, IndependentCoupling
from genmatch.divergences.base import AbstractBregmanDivergence
from genmatch.generators.base import AbstractGenerator
from genmatch.guidance.condition import as_condition
from genmatch.paths.base import AbstractConditionalPath, PathSample
from genmatch.sources import AbstractSource
from genmatch.spaces.base import TENSORS, AbstractStateSpace
from genmatch.time import AbstractTimeSampler, UniformTime
from genmatch.types import Network, ParamValue, State, Times


@final
@dataclass(frozen=True)
class LossTerms:
    """The pieces of one evaluation of the loss.

    Attributes:
        per_sample: ``w(t_i) D(F_t(x_i|z_i), F^θ_t(x_i))`` for each sample, ``(batch,)``.
        sample: the path sample the loss was evaluated on.
        target: ``F_t(x_t|z)``, the conditional target.
        prediction: ``F^θ_t(x_t)``, the constrained network output.
        parts: the named terms ``per_sample`` is the sum of, each ``(batch,)``, when the
            divergence splits (one per factor of a product, :meth:`ProductDivergence.terms
            <genmatch.compose.ProductDivergence.terms>`); empty otherwise.
    """

    per_sample: Tensor
    sample: PathSample
    target: ParamValue
    prediction: ParamValue
    parts: dict[str, Tensor] = field(default_factory=dict)

    @property
    def loss(self) -> Tensor:
        """The batch mean, a scalar."""
        return self.per_sample.mean()


@final
@dataclass(frozen=True)
class GeneratorMatchingLoss:
    """``L_CGM(θ) = E_{t, Z, X_t ~ p_{t|Z}} w(t) D(F_t(X_t|Z), F^θ_t(X_t))`` (GM eq. 9.17).

    Its gradient equals that of the intractable marginal loss (eq. 9.16, GM Thm. 20) for any
    Bregman divergence ``D``.

    Args:
        path: the conditional path ``p_{t|Z}``.
        generator: the generator whose parametrization the network outputs.
        time_sampler: the distribution of ``t`` (uniform by default, eq. 9.16).
        weighting: optional ``w(t)``, ``(batch,) → (batch,)``, non-negative.
        coupling: how source and data samples are paired (independent by default).
        source: the source ``p``; when ``None`` and no ``x_0`` is passed, the path draws ``x_0``.
        divergence: overrides the generator's default Bregman divergence.
        space: the state space of the data; needed for batches that are neither tensors nor
            dicts/tuples of tensors, and used to validate ``x_1`` and times. On a
            :class:`~genmatch.spaces.ProductSpace` times are per factor: a plain
            ``time_sampler`` gives tied times, :class:`~genmatch.time.IndependentTimes` and
            :class:`~genmatch.time.PinnedTimes` per-factor ones, and ``weighting`` receives the
            dict of times.

    Example:
        >>> import torch
        >>> from genmatch import AffineGaussianPath, CondOT, FlowGenerator, EuclideanSpace, MLP
        >>> flow = FlowGenerator()
        >>> net = MLP(EuclideanSpace(2), flow.head_shapes(EuclideanSpace(2)), hidden=16)
        >>> loss_fn = GeneratorMatchingLoss(AffineGaussianPath(CondOT()), flow)
        >>> loss = loss_fn(net, torch.randn(8, 2), generator=torch.Generator().manual_seed(0))
        >>> loss.shape
        torch.Size([])
    """

    path: AbstractConditionalPath
    generator: AbstractGenerator
    time_sampler: AbstractTimeSampler = field(default_factory=UniformTime)
    weighting: Callable[[Tensor], Tensor] | None = None
    coupling: AbstractCoupling = field(default_factory=IndependentCoupling)
    source: AbstractSource | None = None
    divergence: AbstractBregmanDivergence | None = None
    space: AbstractStateSpace | None = None
    p_uncond: float = 0.0
    condition_space: AbstractStateSpace | None = None

    def __post_init__(self) -> None:
        if isinstance(self.p_uncond, bool) or not isinstance(self.p_uncond, (int, float)):
            raise TypeError(f"p_uncond must be a float in [0, 1], got {self.p_uncond!r}")
        if not 0.0 <= self.p_uncond <= 1.0:
            raise ValueError(f"p_uncond must be in [0, 1], got {self.p_uncond}")
        check_instance(self.condition_space, AbstractStateSpace, "condition_space", optional=True)
        check_instance(self.path, AbstractConditionalPath, "path")
        check_instance(self.generator, AbstractGenerator, "generator")
        check_instance(self.time_sampler, AbstractTimeSampler, "time_sampler")
        check_instance(self.coupling, AbstractCoupling, "coupling")
        check_instance(self.source, AbstractSource, "source", optional=True)
        check_instance(self.divergence, AbstractBregmanDivergence, "divergence", optional=True)
        check_instance(self.space, AbstractStateSpace, "space", optional=True)

    def terms(
        self,
        net: Network,
        x_1: State,
        *,
        x_0: State | None = None,
        t: Tensor | float | None = None,
        c: State | None = None,
        generator: torch.Generator | None = None,
    ) -> LossTerms:
        """Evaluate the loss and return its pieces.

        Args:
            net: ``(x_t, t) ↦`` raw heads (see :meth:`AbstractGenerator.head_shapes`).
            x_1: a data batch (the latents ``Z = X_1``), ``(batch, *event)``.
            x_0: a source batch ``(batch, *event)``; drawn from ``source`` (or the path) if
                ``None``.
            t: times ``(batch,)`` (or a scalar; per factor on a product); drawn from
                ``time_sampler`` if ``None``.
            c: conditions of the data, a batch of ``batch`` points of ``condition_space`` (e.g.
                labels ``(batch,)``), or a :class:`~genmatch.guidance.Condition`; the network is
                then called as ``net(x_t, t, c)`` with each row dropped to the null condition
                with probability ``p_uncond`` (classifier-free guidance training).
            generator: random number generator for every draw.
        """
        return self._evaluate(net, x_1, x_0, t, c, generator)

    def _evaluate(
        self,
        net: Network,
        x_1: State,
        x_0: State | None,
        t: Tensor | float | None,
        c: State | None,
        generator: torch.Generator | None,
    ) -> LossTerms:
        space = TENSORS if self.space is None else self.space
        if self.space is None and isinstance(x_1, Tensor) and x_1.dim() < 1:
            raise ValueError(f"x_1 must be a non-empty batch, got shape {tuple(x_1.shape)}")
        space.check(x_1, "x_1")
        if self.space is None:  # the real space checks values; tensors are checked finite here
            _check_finite_leaves(x_1, "x_1")
        n = space.batch_size(x_1)
        if n == 0:
            raise ValueError("x_1 must be a non-empty batch, got 0 points")
        ref = space.reference(x_1)
        condition = as_condition(c, n, self.condition_space)
        if condition is not None:
            if not isinstance(self.coupling, IndependentCoupling):
                raise ValueError(
                    f"conditions need IndependentCoupling: {type(self.coupling).__name__} "
                    "re-orders x_1 and would separate data from their conditions"
                )
            condition = condition.dropped(self.p_uncond, generator, ref.device)
        elif self.p_uncond > 0:
            raise ValueError("p_uncond > 0 drops conditions, but no conditions c were given")
        if x_0 is None and self.source is not None:
            x_0 = self.source.sample(n, generator=generator, dtype=ref.dtype, device=ref.device)
        if x_0 is not None:
            _check_pair(space, x_0, x_1)
            pair = self.coupling.pair(x_0, x_1, generator=generator)
            x_0, x_1 = pair.x_0, pair.x_1
        elif not isinstance(self.coupling, IndependentCoupling):
            raise ValueError(
                f"{type(self.coupling).__name__} needs x_0 or a source to pair with x_1"
            )
        if t is None:
            t = self.time_sampler.sample(
                n, dtype=time_dtype(ref), device=ref.device, generator=generator
            )
        times: Times = space.times(t, n, ref)
        sample = self.path.sample(x_1, times, x_0=x_0, generator=generator)
        target = self.generator.conditional_target(self.path, sample)
        if condition is None:
            raw = net(sample.x_t, sample.t)
        else:
            raw = net(sample.x_t, sample.t, condition)  # type: ignore[call-arg]
        prediction = self.generator.constrain(raw, sample.x_t, sample.t)
        check_same_shapes(prediction, target, "the prediction", "the target F_t(x|z)")
        divergence = self.divergence if self.divergence is not None else self.generator.divergence
        parts = divergence.terms(target, prediction)
        per_sample = (
            torch.stack(list(parts.values())).sum(0) if parts else divergence(target, prediction)
        )
        if self.weighting is not None:
            weight = self.weighting(sample.t)
            if not isinstance(weight, Tensor) or weight.shape != per_sample.shape:
                raise ValueError(
                    f"weighting(t) must return a ({n},) tensor, got "
                    f"{tuple(weight.shape) if isinstance(weight, Tensor) else type(weight)}"
                )
            per_sample = weight * per_sample
            parts = {k: weight * v for k, v in parts.items()}
        return LossTerms(per_sample, sample, target, prediction, parts)

    def __call__(
        self,
        net: Network,
        x_1: State,
        *,
        x_0: State | None = None,
        t: Tensor | float | None = None,
        c: State | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """The scalar loss (batch mean); see :meth:`terms` for the arguments."""
        return self._evaluate(net, x_1, x_0, t, c, generator).per_sample.mean()


def _check_finite_leaves(x: State, name: str) -> None:
    for leaf in pytree.tree_leaves(x):
        if isinstance(leaf, Tensor) and leaf.is_floating_point():
            check_finite(leaf, name)


def _check_pair(space: AbstractStateSpace, x_0: State, x_1: State) -> None:
    """``x_0`` must be a batch like ``x_1``: tensors of equal shape, dtype and device."""
    if isinstance(x_0, Tensor) and isinstance(x_1, Tensor):
        if x_0.shape != x_1.shape:
            raise ValueError(
                "x_0 and x_1 must have the same shape, "
                f"got {tuple(x_0.shape)} and {tuple(x_1.shape)}"
            )
        check_like(x_0, x_1, "x_0", "x_1")
        _check_finite_leaves(x_0, "x_0")
        return
    space.check(x_0, "x_0")
    if space.batch_size(x_0) != space.batch_size(x_1):
        raise ValueError(
            f"x_0 has {space.batch_size(x_0)} points but x_1 has {space.batch_size(x_1)}"
        )
