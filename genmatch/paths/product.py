"""Factorised conditional paths on product spaces (GM §9.8)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import final

import torch
from torch import Tensor

from genmatch.paths.base import AbstractConditionalPath, AbstractDensityPath, PathSample
from genmatch.spaces.product import ProductSpace, factor_times, per_factor
from genmatch.types import State


def factor_sample(sample: PathSample, name: str) -> PathSample:
    """Factor ``name`` of a product path sample."""
    t = sample.t[name] if isinstance(sample.t, Mapping) else sample.t
    return PathSample(
        x_t=sample.x_t[name],
        t=t,
        z=sample.z[name],
        x_0=None if sample.x_0 is None else sample.x_0[name],
    )


@final
@dataclass(frozen=True, eq=False, init=False)
class ProductPath(AbstractDensityPath):
    """``p_{t|Z}(dx|z) = Π_k p^k_{t_k|Z_k}(dx_k|z_k)``: independent factor paths, each on its
    own clock ``t_k`` (GM §9.8, factorised conditional path).

    The latent ``z`` is a point of the product (a data point ``x_1`` for the shipped paths),
    and so are ``x_t`` and ``x_0``; times are per factor (a dict of ``(batch,)`` tensors) or
    one tensor shared by every factor. Its conditional generator is the sum of the factors'
    conditional generators (:class:`~genmatch.compose.ProductGenerator`).

    Density: ``log p_{t|Z}(x|z) = Σ_k log p^k_{t_k}(x_k|z_k)`` when every factor has one
    (w.r.t. the product of the factors' reference measures); ``∂_t`` of it
    (:meth:`d_log_prob_dt`) is the derivative along tied time, ``Σ_k ∂_{t_k} log p^k``.

    Args:
        space: the product space.
        paths: one conditional path per factor of ``space``.

    Example:
        >>> import torch
        >>> from genmatch.paths import AffineGaussianPath, CondOT, FactorizedMixturePath
        >>> from genmatch.paths import LinearKappa
        >>> from genmatch.sources import CategoricalSource
        >>> from genmatch.spaces import DiscreteSpace, EuclideanSpace, ProductSpace
        >>> tokens = DiscreteSpace(1, 3, mask=True)
        >>> space = ProductSpace({"x": EuclideanSpace(2), "label": tokens})
        >>> path = ProductPath(space, {
        ...     "x": AffineGaussianPath(CondOT()),
        ...     "label": FactorizedMixturePath(
        ...         tokens, CategoricalSource.masked(tokens), LinearKappa()),
        ... })
        >>> z = {"x": torch.ones(2, 2), "label": torch.tensor([[1], [2]])}
        >>> s = path.sample(z, {"x": torch.full((2,), 0.5), "label": torch.ones(2)})
        >>> s.x_t["label"]  # the label factor is at t = 1: the data
        tensor([[1],
                [2]])
    """

    space: ProductSpace
    paths: dict[str, AbstractConditionalPath]

    def __init__(self, space: ProductSpace, paths: Mapping[str, AbstractConditionalPath]) -> None:
        paths = per_factor(space, paths, AbstractConditionalPath, "paths")
        object.__setattr__(self, "space", space)
        object.__setattr__(self, "paths", paths)

    @property
    def names(self) -> tuple[str, ...]:
        """The factor names, in order."""
        return self.space.names

    def sample(
        self,
        z: State,
        t: Tensor | Mapping[str, Tensor],
        *,
        x_0: State | None = None,
        generator: torch.Generator | None = None,
    ) -> PathSample:
        """Draw every factor independently, ``X^k_{t_k} ~ p^k_{t_k|Z_k}(·|z_k)``.

        Args:
            z: latents, a dict of factor batches.
            t: per-factor times ``{name: (batch,)}`` or one ``(batch,)`` tensor for all.
            x_0: source samples (a dict of factor batches) or ``None`` (each factor path draws
                its own).
            generator: random number generator for every draw.

        Returns:
            A sample whose ``x_t``, ``z``, ``x_0`` are dicts and ``t`` a dict of times.
        """
        z = self.space._parts(z, "z")
        times = factor_times(t, self.names)
        x0 = None if x_0 is None else self.space._parts(x_0, "x_0")
        parts = {
            k: p.sample(z[k], times[k], x_0=None if x0 is None else x0[k], generator=generator)
            for k, p in self.paths.items()
        }
        return PathSample(
            x_t={k: s.x_t for k, s in parts.items()},
            t={k: s.t for k, s in parts.items()},
            z=z,
            x_0={k: s.x_0 for k, s in parts.items()},
        )

    def _densities(self) -> dict[str, AbstractDensityPath]:
        missing = [k for k, p in self.paths.items() if not isinstance(p, AbstractDensityPath)]
        if missing:
            raise TypeError(
                f"the factor paths {missing} have no density, so the product path has none"
            )
        return self.paths  # type: ignore[return-value]

    def log_prob(self, x: State, t: Tensor | Mapping[str, Tensor], z: State) -> Tensor:
        """``Σ_k log p^k_{t_k}(x_k|z_k)``, ``(batch,)``."""
        times = factor_times(t, self.names)
        terms = [p.log_prob(x[k], times[k], z[k]) for k, p in self._densities().items()]
        return torch.stack(terms).sum(0)

    def d_log_prob_dt(self, x: State, t: Tensor | Mapping[str, Tensor], z: State) -> Tensor:
        """``Σ_k ∂_{t_k} log p^k_{t_k}(x_k|z_k)``: the derivative along tied time, ``(batch,)``."""
        times = factor_times(t, self.names)
        terms = [p.d_log_prob_dt(x[k], times[k], z[k]) for k, p in self._densities().items()]
        return torch.stack(terms).sum(0)
