"""The exact marginal generator of a finite data set (GM eq. 9.13–9.14)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import final

import torch
from torch import Tensor
from torch.utils import _pytree as pytree

from genmatch._checks import (
    check_finite,
    check_float_tensor,
    check_instance,
    check_like,
    check_nonempty,
    check_positive_int,
)
from genmatch._pairs import pair_up
from genmatch.generators.base import AbstractGenerator
from genmatch.paths.base import AbstractDensityPath
from genmatch.spaces.base import TENSORS, AbstractStateSpace
from genmatch.types import Field, ParamValue, State, Times


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

    Products (GM §9.8): with a :class:`~genmatch.paths.ProductPath` and a
    :class:`~genmatch.compose.ProductGenerator`, ``data`` is a dict of factor data sets, the
    posterior comes from the product of the factors' likelihoods and each factor's value is
    its generator's posterior average. Times may differ per factor; a factor held as a
    condition sits at ``t = 1``, where a discrete factor's likelihood is the exact indicator
    ``x_k = z_k`` (give it ``t_max = 1``) and a continuous one is clipped to ``t_max`` (a
    kernel of width ``σ_{t_max}`` around the condition).

    Args:
        path: a conditional path with a density.
        generator: the generator whose conditional targets are averaged.
        data: the data set ``(N, *event)``, or a dict of factor data sets on a product.
        t_max: the largest time evaluated; on a product a float for every factor or one per
            factor (``{name: t_max}``).
        max_pairs: memory bound: at most this many (point, datum) pairs per chunk.
        space: the state space; needed for batches that are neither tensors nor dicts/tuples
            of tensors, and used to validate ``data`` and ``x``.
        conditions: optional labels of the data, ``(N, *c_shape)`` (e.g. class labels ``(N,)``):
            :meth:`given` restricts the posterior to the data with a condition and gives the
            exact conditional generator ``F_t(x | c)``, :meth:`log_likelihood` the exact
            ``log p_t(c | x)``; with them guidance can be tested without a network.

    Example:
        >>> import torch
        >>> from genmatch import AffineGaussianPath, CondOT, FlowGenerator
        >>> oracle = ExactMarginal(AffineGaussianPath(CondOT()), FlowGenerator(), torch.ones(1, 2))
        >>> oracle(torch.zeros(1, 2), torch.tensor([0.5]))  # (z − x)/(1 − t) for one datum
        tensor([[2., 2.]])
    """

    path: AbstractDensityPath
    generator: AbstractGenerator
    data: State
    t_max: float | Mapping[str, float] = 0.99
    max_pairs: int = 1 << 21
    space: AbstractStateSpace | None = None
    conditions: Tensor | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.path, AbstractDensityPath):
            raise TypeError(
                f"ExactMarginal needs a path with a density, got {type(self.path).__name__}"
            )
        check_instance(self.generator, AbstractGenerator, "generator")
        check_instance(self.space, AbstractStateSpace, "space", optional=True)
        check_positive_int(self.max_pairs, "max_pairs")
        states = self._states
        if self.space is None:
            for leaf in pytree.tree_leaves(self.data):
                _check_points(leaf, "data")
                if leaf.is_floating_point():
                    check_finite(leaf, "data")
        states.check(self.data, "data")
        if isinstance(self.data, Tensor) and self.data.dim() < 2:
            raise ValueError(f"data must be (N, *event) with N >= 1, got {tuple(self.data.shape)}")
        if states.batch_size(self.data) == 0:
            raise ValueError("data must be (N, *event) with N >= 1, got 0 points")
        if self.conditions is not None:
            if not isinstance(self.conditions, Tensor) or self.conditions.dim() < 1:
                raise TypeError("conditions must be a tensor (N, *c_shape) aligned with data")
            if self.conditions.shape[0] != states.batch_size(self.data):
                raise ValueError(
                    f"conditions has {self.conditions.shape[0]} rows, data "
                    f"{states.batch_size(self.data)} points"
                )
        for name, t_max in _as_leaf_dict(self.t_max).items():
            if isinstance(t_max, bool) or not isinstance(t_max, (int, float)):
                raise TypeError(f"t_max{name} must be a float, got {t_max!r}")
            if not 0.0 < t_max <= 1.0:
                raise ValueError(f"t_max{name} must be in (0, 1], got {t_max}")

    @property
    def _states(self) -> AbstractStateSpace:
        return TENSORS if self.space is None else self.space

    def _clip(self, t: Times) -> Times:
        """Times above ``t_max`` evaluated at ``t_max`` (per factor when ``t_max`` is a mapping),
        keeping a shared time (an expanded scalar, stride 0) expanded."""
        if isinstance(self.t_max, Mapping):
            if not isinstance(t, Mapping):
                t = {k: t for k in self.t_max}
            if set(t) != set(self.t_max):
                raise ValueError(f"t has factors {sorted(t)}, t_max {sorted(self.t_max)}")
            return {k: _clip_one(t[k], self.t_max[k]) for k in self.t_max}
        t_max = float(self.t_max)
        return pytree.tree_map(lambda s: _clip_one(s, t_max), t)

    def posterior(self, x: State, t: Times) -> Tensor:
        """``p_{Z|t}(z_i|x)``: ``x`` (``batch`` points), ``t (batch,)`` → ``(batch, N)``."""
        return self._posterior(x, self._clip(t))

    def _log_joint(self, x: State, t: Times) -> Tensor:
        """``log p_{t|Z}(x|z_i)``, ``(batch, N)``."""
        states = self._states
        x_rep, t_rep, z_rep = pair_up(x, t, self.data, states)
        return self.path.log_prob(x_rep, t_rep, z_rep).reshape(states.batch_size(x), -1)

    def _matches(self, c: Tensor) -> Tensor:
        """``c_b = c(z_i)`` for each point ``b`` and datum ``i``, ``(batch, N)`` bool."""
        if self.conditions is None:
            raise ValueError("this ExactMarginal has no conditions: pass conditions=labels")
        if not isinstance(c, Tensor) or tuple(c.shape[1:]) != tuple(self.conditions.shape[1:]):
            got = tuple(c.shape) if isinstance(c, Tensor) else type(c).__name__
            raise ValueError(
                f"c must be (batch, {tuple(self.conditions.shape[1:])}) like the conditions, "
                f"got {got}"
            )
        conds = self.conditions.to(c.device)
        eq = c[:, None] == conds[None]
        return eq.reshape(eq.shape[0], eq.shape[1], -1).all(-1)

    def given(self, c: Tensor) -> Field:
        """The exact conditional field ``(x, t) ↦ F_t(x | c)`` for conditions ``c`` ``(batch,
        *c_shape)`` (one per point): the marginal of the data whose condition is ``c``."""

        def field(x: State, t: Times) -> ParamValue:
            return self._evaluate(x, t, c)

        return field

    def log_likelihood(self, x: State, t: Times, c: Tensor) -> Tensor:
        """The exact predictor ``log p_t(c | x) = log Σ_{i: c(z_i) = c} p_{Z|t}(z_i | x)``,
        ``(batch,)`` (differentiable in ``x``)."""
        log_p = self._log_joint(x, self._clip(t))
        match = self._matches(c)
        return torch.logsumexp(log_p.masked_fill(~match, float("-inf")), 1) - torch.logsumexp(
            log_p, 1
        )

    def _posterior(self, x: State, t: Times, c: Tensor | None = None) -> Tensor:
        log_p = self._log_joint(x, t)
        if c is not None:
            log_p = log_p.masked_fill(~self._matches(c), float("-inf"))
        # a point no datum can reach (possible after a discretised step, e.g. two positions of
        # a sequence jumping towards different data) gets uniform weights rather than NaN
        impossible = torch.isneginf(log_p).all(1, keepdim=True)
        return torch.softmax(torch.where(impossible, 0.0, log_p), dim=1)

    def __call__(self, x: State, t: Times) -> ParamValue:
        """``F_t(x)`` for a batch: ``x`` (``batch`` points), ``t (batch,)`` (or per factor)."""
        states = self._states
        if self.space is None:
            _check_like_data(x, self.data)
        else:
            self.space.check(x, "x")
        batch = states.batch_size(x)
        check_nonempty(batch, "x")
        if not isinstance(t, Mapping):  # per-factor times are checked by the factors' paths
            t = states.times(t, batch, states.reference(x))
        chunk = max(1, self.max_pairs // states.batch_size(self.data))
        if batch <= chunk:
            return self._evaluate(x, t)
        device = states.reference(x).device
        parts = []
        for i in range(0, batch, chunk):
            index = torch.arange(i, min(i + chunk, batch), device=device)
            t_chunk = pytree.tree_map(lambda s, rows=index: s[rows], t)
            parts.append(self._evaluate(states.take(x, index), t_chunk))
        return _concat(parts)

    def _evaluate(self, x: State, t: Times, c: Tensor | None = None) -> ParamValue:
        t = self._clip(t)
        return self.generator.marginal_target(self.path, x, t, self.data, self._posterior(x, t, c))


def _clip_one(t: Tensor, t_max: float) -> Tensor:
    # clip without materialising an expanded (shared-time) tensor, so generators can detect a
    # shared time by its zero stride
    if t.dim() == 1 and t.shape[0] > 1 and t.stride(0) == 0:
        return t[:1].clamp(max=t_max).expand(t.shape[0])
    return t.clamp(max=t_max)


def _as_leaf_dict(t_max: float | Mapping[str, float]) -> dict[str, object]:
    if isinstance(t_max, Mapping):
        return {f"[{k!r}]": v for k, v in t_max.items()}
    return {"": t_max}


def _check_points(x: object, name: str) -> None:
    """Floating points (Euclidean, manifolds) are checked as such; token sequences (int64) pass."""
    if isinstance(x, Tensor) and x.dtype == torch.int64:
        return
    check_float_tensor(x, name)


def _check_like_data(x: State, data: State) -> None:
    """Leaf by leaf, ``x`` has the structure, event shapes, dtypes and devices of ``data``."""
    leaves, spec = pytree.tree_flatten(x)
    ref_leaves, ref_spec = pytree.tree_flatten(data)
    if spec != ref_spec:
        raise ValueError(f"x has the structure {spec}, data {ref_spec}")
    for a, ref in zip(leaves, ref_leaves, strict=True):
        _check_points(a, "x")
        check_like(a, ref, "x", "data")
        if a.is_floating_point():
            check_finite(a, "x")
        if tuple(a.shape[1:]) != tuple(ref.shape[1:]):
            raise ValueError(f"x has event shape {tuple(a.shape[1:])}, data {tuple(ref.shape[1:])}")


def _concat(parts: list[ParamValue]) -> ParamValue:
    """Concatenate chunked values along the batch: tensors, or dataclasses/tuples/dicts of
    tensors."""
    first = parts[0]
    if first is None:
        return None
    if isinstance(first, Tensor):
        return torch.cat(parts)
    if isinstance(first, dict):
        return {k: _concat([p[k] for p in parts]) for k in first}
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
