"""The exact marginal generator of a finite data set (GM eq. 9.13–9.14)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import final

import torch
from torch import Tensor

from genmatch._checks import check_float_tensor, check_like
from genmatch._pairs import pair_up
from genmatch.generators.base import AbstractGenerator
from genmatch.paths.base import AbstractDensityPath
from genmatch.types import ParamValue


@final
@dataclass(frozen=True)
class ExactMarginal:
    """``F_t(x) = E_{Z ~ p_{Z|t}(·|x)}[F_t(x|Z)]`` for data ``q = (1/N) Σ_i δ_{z_i}``.

    The posterior is ``p_{Z|t}(z_i|x) = softmax_i(log p_{t|Z}(x|z_i))`` (computed with
    log-sum-exp, so it is stable for tiny ``σ_t``), and the expectation is taken in the
    parametrization's vector space (:meth:`AbstractLinearParametrization.posterior_mean`).
    With no network involved it is the oracle that tests, examples and benchmarks compare
    trained models against: called as ``(x, t) ↦ F_t(x)`` it is a field for
    :func:`genmatch.simulate`.

    For paths that collapse to Diracs at ``t = 1`` (``σ_1 = 0``) the marginal of a finite
    data set is singular there: ``u_t(x) = (E[Z|x] − x)/(1 − t)`` for CondOT. Times above
    ``t_max`` are evaluated at ``t_max`` (documented clipping). On ``[t_max, 1]`` the flow
    then relaxes towards the posterior mean at rate ``1/(1 − t_max)``, leaving a residual of
    order ``σ_{t_max} |x_0 − z|`` (a few hundredths for CondOT, the default and data of unit
    scale), and solvers that evaluate at ``t = 1`` (Heun, RK4) stay stable for step sizes up
    to several times ``1 − t_max``.

    Args:
        path: a conditional path with a density.
        generator: the generator whose conditional targets are averaged.
        data: the data set ``(N, *event)``.
        t_max: the largest time evaluated.
        max_pairs: memory bound: at most this many (point, datum) pairs per chunk.

    Example:
        >>> import torch
        >>> from genmatch import AffineGaussianPath, CondOT, FlowGenerator
        >>> oracle = ExactMarginal(AffineGaussianPath(CondOT()), FlowGenerator(), torch.ones(1, 2))
        >>> oracle(torch.zeros(1, 2), torch.tensor([0.5]))  # (z − x)/(1 − t) for one datum
        tensor([[2., 2.]])
    """

    path: AbstractDensityPath
    generator: AbstractGenerator
    data: Tensor
    t_max: float = 0.99
    max_pairs: int = 1 << 21

    def __post_init__(self) -> None:
        if not isinstance(self.path, AbstractDensityPath):
            raise TypeError(
                f"ExactMarginal needs a path with a density, got {type(self.path).__name__}"
            )
        _check_points(self.data, "data")
        if self.data.dim() < 2 or self.data.shape[0] == 0:
            raise ValueError(f"data must be (N, *event) with N >= 1, got {tuple(self.data.shape)}")
        if not 0.0 < self.t_max <= 1.0:
            raise ValueError(f"t_max must be in (0, 1], got {self.t_max}")

    def posterior(self, x: Tensor, t: Tensor) -> Tensor:
        """``p_{Z|t}(z_i|x)``: ``x (batch, *event)``, ``t (batch,)`` → ``(batch, N)``."""
        x_rep, t_rep, z_rep = pair_up(x, t.clamp(max=self.t_max), self.data)
        log_p = self.path.log_prob(x_rep, t_rep, z_rep).reshape(x.shape[0], -1)
        # a point no datum can reach (possible after a discretised step, e.g. two positions of
        # a sequence jumping towards different data) gets uniform weights rather than NaN
        impossible = torch.isneginf(log_p).all(1, keepdim=True)
        return torch.softmax(torch.where(impossible, 0.0, log_p), dim=1)

    def __call__(self, x: Tensor, t: Tensor) -> ParamValue:
        """``F_t(x)`` for a batch: ``x (batch, *event)``, ``t (batch,)``."""
        _check_points(x, "x")
        check_like(x, self.data, "x", "data")
        if tuple(x.shape[1:]) != tuple(self.data.shape[1:]):
            raise ValueError(
                f"x has event shape {tuple(x.shape[1:])}, data {tuple(self.data.shape[1:])}"
            )
        chunk = max(1, self.max_pairs // self.data.shape[0])
        if x.shape[0] <= chunk:
            return self._evaluate(x, t)
        parts = [
            self._evaluate(x[i : i + chunk], t[i : i + chunk]) for i in range(0, x.shape[0], chunk)
        ]
        return _concat(parts)

    def _evaluate(self, x: Tensor, t: Tensor) -> ParamValue:
        # clip without materialising an expanded (shared-time) tensor, so generators can
        # detect a shared time by its zero stride
        t = (
            t[:1].clamp(max=self.t_max).expand(t.shape[0])
            if t.stride(0) == 0
            else t.clamp(max=self.t_max)
        )
        return self.generator.marginal_target(self.path, x, t, self.data, self.posterior(x, t))


def _check_points(x: Tensor, name: str) -> None:
    """Floating points (Euclidean, manifolds) are checked as such; token sequences (int64) pass."""
    if isinstance(x, Tensor) and x.dtype == torch.int64:
        return
    check_float_tensor(x, name)


def _concat(parts: list[ParamValue]) -> ParamValue:
    """Concatenate chunked values along the batch: tensors, or dataclasses/tuples of tensors."""
    first = parts[0]
    if first is None:
        return None
    if isinstance(first, Tensor):
        return torch.cat(parts)
    if dataclasses.is_dataclass(first):
        return dataclasses.replace(
            first,  # type: ignore[type-var]
            **{
                f.name: _concat([getattr(p, f.name) for p in parts])
                for f in dataclasses.fields(first)
            },
        )
    if isinstance(first, tuple):
        return tuple(_concat([p[i] for p in parts]) for i in range(len(first)))
    raise TypeError(f"cannot concatenate values of type {type(first).__name__}")
