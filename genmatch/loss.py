"""The conditional generator-matching loss (GM eq. 9.17)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import final

import torch
from torch import Tensor

from genmatch._checks import as_time, check_like, time_dtype
from genmatch.couplings import AbstractCoupling, IndependentCoupling
from genmatch.divergences.base import AbstractBregmanDivergence
from genmatch.generators.base import AbstractGenerator
from genmatch.paths.base import AbstractConditionalPath, PathSample
from genmatch.sources import AbstractSource
from genmatch.time import AbstractTimeSampler, UniformTime
from genmatch.types import Network, ParamValue, State


@final
@dataclass(frozen=True)
class LossTerms:
    """The pieces of one evaluation of the loss.

    Attributes:
        per_sample: ``w(t_i) D(F_t(x_i|z_i), F^θ_t(x_i))`` for each sample, ``(batch,)``.
        sample: the path sample the loss was evaluated on.
        target: ``F_t(x_t|z)``, the conditional target.
        prediction: ``F^θ_t(x_t)``, the constrained network output.
    """

    per_sample: Tensor
    sample: PathSample
    target: ParamValue
    prediction: ParamValue

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

    def terms(
        self,
        net: Network,
        x_1: State,
        *,
        x_0: State | None = None,
        t: Tensor | float | None = None,
        generator: torch.Generator | None = None,
    ) -> LossTerms:
        """Evaluate the loss and return its pieces.

        Args:
            net: ``(x_t, t) ↦`` raw heads (see :meth:`AbstractGenerator.head_shapes`).
            x_1: a data batch (the latents ``Z = X_1``), ``(batch, *event)``.
            x_0: a source batch ``(batch, *event)``; drawn from ``source`` (or the path) if
                ``None``.
            t: times ``(batch,)`` (or a scalar); drawn from ``time_sampler`` if ``None``.
            generator: random number generator for every draw.
        """
        per_sample, sample, target, prediction = self._evaluate(net, x_1, x_0, t, generator)
        return LossTerms(per_sample=per_sample, sample=sample, target=target, prediction=prediction)

    def _evaluate(
        self,
        net: Network,
        x_1: State,
        x_0: State | None,
        t: Tensor | float | None,
        generator: torch.Generator | None,
    ) -> tuple[Tensor, PathSample, ParamValue, ParamValue]:
        if not isinstance(x_1, Tensor):
            raise TypeError(f"x_1 must be a tensor, got {type(x_1).__name__}")
        if x_1.dim() < 1 or x_1.shape[0] == 0:
            raise ValueError(f"x_1 must be a non-empty batch, got shape {tuple(x_1.shape)}")
        n = x_1.shape[0]
        if x_0 is None and self.source is not None:
            x_0 = self.source.sample(n, generator=generator, dtype=x_1.dtype, device=x_1.device)
        if x_0 is not None:
            if x_0.shape != x_1.shape:
                raise ValueError(
                    "x_0 and x_1 must have the same shape, "
                    f"got {tuple(x_0.shape)} and {tuple(x_1.shape)}"
                )
            check_like(x_0, x_1, "x_0", "x_1")
            pair = self.coupling.pair(x_0, x_1, generator=generator)
            x_0, x_1 = pair.x_0, pair.x_1
        elif not isinstance(self.coupling, IndependentCoupling):
            raise ValueError(
                f"{type(self.coupling).__name__} needs x_0 or a source to pair with x_1"
            )
        if t is None:
            t = self.time_sampler.sample(
                n, dtype=time_dtype(x_1), device=x_1.device, generator=generator
            )
        else:
            t = as_time(t, n, x_1)
        sample = self.path.sample(x_1, t, x_0=x_0, generator=generator)
        target = self.generator.conditional_target(self.path, sample)
        prediction = self.generator.constrain(net(sample.x_t, t), sample.x_t, t)
        divergence = self.divergence if self.divergence is not None else self.generator.divergence
        per_sample = divergence(target, prediction)
        if self.weighting is not None:
            per_sample = self.weighting(t) * per_sample
        return per_sample, sample, target, prediction

    def __call__(
        self,
        net: Network,
        x_1: State,
        *,
        x_0: State | None = None,
        t: Tensor | float | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """The scalar loss (batch mean); see :meth:`terms` for the arguments."""
        return self._evaluate(net, x_1, x_0, t, generator)[0].mean()
