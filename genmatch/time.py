"""Time grids for simulation and time distributions for training."""

from __future__ import annotations

import abc
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import final

import torch
from torch import Tensor


@final
@dataclass(frozen=True, init=False)
class TimeGrid:
    """An increasing grid ``0 ≤ t_0 < t_1 < … < t_n ≤ 1`` of ``n = steps`` intervals.

    A simulation makes ``steps`` calls to its generator's ``step``, so its number of function
    evaluations is ``NFE = steps × nfe_per_step`` (1 for Euler, 2 for midpoint and Heun, 4
    for RK4). The grid lives on the host: stepping over it never synchronises with a device.

    Args:
        times: the grid points, strictly increasing, within ``[0, 1]``, at least two.

    Example:
        >>> TimeGrid.uniform(4).times
        (0.0, 0.25, 0.5, 0.75, 1.0)
        >>> TimeGrid.uniform(4).steps
        4
    """

    times: tuple[float, ...]

    def __init__(self, times: Sequence[float] | Tensor) -> None:
        values = tuple(float(v) for v in (times.tolist() if isinstance(times, Tensor) else times))
        if len(values) < 2:
            raise ValueError(f"a time grid needs at least 2 points, got {len(values)}")
        if not all(0.0 <= v <= 1.0 for v in values):
            raise ValueError(f"grid times must lie in [0, 1], got {values[0]} … {values[-1]}")
        if not all(b > a for a, b in zip(values, values[1:], strict=False)):
            raise ValueError("grid times must be strictly increasing")
        object.__setattr__(self, "times", values)

    @classmethod
    def uniform(cls, steps: int, t_start: float = 0.0, t_end: float = 1.0) -> TimeGrid:
        """``steps`` equal intervals from ``t_start`` to ``t_end``."""
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps must be a positive integer, got {steps!r}")
        h = (t_end - t_start) / steps
        return cls([t_start + i * h for i in range(steps)] + [t_end])

    @property
    def steps(self) -> int:
        """Number of intervals."""
        return len(self.times) - 1

    def as_tensor(
        self, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None
    ) -> Tensor:
        """The grid as a ``(steps + 1,)`` tensor."""
        return torch.tensor(self.times, dtype=dtype, device=device)


class AbstractTimeSampler(abc.ABC):
    """A distribution of training times on ``[0, 1]``."""

    @abc.abstractmethod
    def sample(
        self,
        n: int,
        *,
        dtype: torch.dtype,
        device: torch.device,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Draw ``(n,)`` times in ``[0, 1]``; samplers for products return one ``(n,)``
        tensor per factor (a dict)."""


@final
@dataclass(frozen=True)
class UniformTime(AbstractTimeSampler):
    """``t ~ U[0, 1]`` (GM eq. 9.16)."""

    def sample(
        self,
        n: int,
        *,
        dtype: torch.dtype,
        device: torch.device,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        return torch.rand(n, dtype=dtype, device=device, generator=generator)


@final
@dataclass(frozen=True)
class LogitNormalTime(AbstractTimeSampler):
    """``t = sigmoid(m + s ε)``, ``ε ~ N(0, 1)``: concentrates training on middle times.

    Draws lie in the open interval ``(0, 1)``: where the sigmoid rounds to 0 or 1 (float32,
    ``|m + s ε| > 17``) the time is clamped to the nearest representable time inside.

    Args:
        mean: ``m``, the location in logit space.
        std: ``s > 0``, the scale in logit space.
    """

    mean: float = 0.0
    std: float = 1.0

    def __post_init__(self) -> None:
        if not self.std > 0:
            raise ValueError(f"std must be > 0, got {self.std}")

    def sample(
        self,
        n: int,
        *,
        dtype: torch.dtype,
        device: torch.device,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        eps = torch.randn(n, dtype=dtype, device=device, generator=generator)
        t = torch.sigmoid(self.mean + self.std * eps)
        # sigmoid rounds to exactly 0 or 1 in float32 for |logit| > ~17: keep t in (0, 1),
        # where every conditional target is finite
        one = torch.ones((), dtype=dtype, device=device)
        below_one = torch.nextafter(one, torch.zeros_like(one))
        return t.clamp(min=torch.finfo(dtype).tiny, max=float(below_one))


#: Times of a product: one ``(n,)`` tensor per factor.
FactorTimes = dict[str, Tensor]


def _names(names: Sequence[str]) -> tuple[str, ...]:
    out = tuple(names)
    if not out or not all(isinstance(n, str) for n in out) or len(set(out)) != len(out):
        raise ValueError(f"names must be distinct factor names, got {names!r}")
    return out


@final
@dataclass(frozen=True, init=False)
class IndependentTimes(AbstractTimeSampler):
    """Independent times per factor of a product, each drawn from ``base``.

    A plain sampler (e.g. :class:`UniformTime`) given to a product loss gives *tied* times,
    one shared by every factor; this one gives every factor its own clock, so the network
    sees every combination of noise levels (GM §9.8).

    Args:
        names: the product's factor names.
        base: the distribution of each factor's time.

    Example:
        >>> import torch
        >>> t = IndependentTimes(["x", "label"]).sample(
        ...     3, dtype=torch.float64, device=torch.device("cpu"))
        >>> sorted(t), t["x"].shape
        (['label', 'x'], torch.Size([3]))
    """

    names: tuple[str, ...]
    base: AbstractTimeSampler

    def __init__(self, names: Sequence[str], base: AbstractTimeSampler | None = None) -> None:
        object.__setattr__(self, "names", _names(names))
        object.__setattr__(self, "base", UniformTime() if base is None else base)
        if not isinstance(self.base, AbstractTimeSampler):
            raise TypeError(f"base must be an AbstractTimeSampler, got {self.base!r}")

    def sample(  # type: ignore[override]
        self,
        n: int,
        *,
        dtype: torch.dtype,
        device: torch.device,
        generator: torch.Generator | None = None,
    ) -> FactorTimes:
        return {
            k: self.base.sample(n, dtype=dtype, device=device, generator=generator)
            for k in self.names
        }


@final
@dataclass(frozen=True, init=False)
class PinnedTimes(AbstractTimeSampler):
    """Times for a product where, with set probabilities, a subset of factors is pinned at
    ``t = 1``: a clean factor is a condition, so one network learns the joint model and the
    conditionals ``p(A | B)``, ``p(B | A)`` (Multiflow trains folding and inverse folding so).

    Each sample independently picks subset ``S_j`` with probability ``p_j`` (no factor pinned
    with probability ``1 − Σ_j p_j``); the other factors keep the times of ``base`` (tied or
    independent). A pinned factor has loss weight 0
    (:class:`~genmatch.compose.ProductGenerator`).

    Args:
        names: the product's factor names.
        subsets: ``{subset: probability}``; a subset is a factor name or a tuple of names,
            probabilities ``≥ 0`` summing to at most 1, and no subset may pin every factor.
        base: the times of the unpinned factors: a plain sampler (tied) or
            :class:`IndependentTimes`; uniform tied by default.

    Example:
        >>> import torch
        >>> sampler = PinnedTimes(["x", "label"], {"label": 0.5, "x": 0.25})
        >>> t = sampler.sample(4000, dtype=torch.float64, device=torch.device("cpu"),
        ...                    generator=torch.Generator().manual_seed(0))
        >>> round(float((t["label"] == 1).double().mean()), 1)
        0.5
    """

    names: tuple[str, ...]
    subsets: tuple[tuple[str, ...], ...]
    probs: tuple[float, ...]
    base: AbstractTimeSampler

    def __init__(
        self,
        names: Sequence[str],
        subsets: Mapping[str | tuple[str, ...], float],
        base: AbstractTimeSampler | None = None,
    ) -> None:
        names = _names(names)
        if not isinstance(subsets, Mapping) or not subsets:
            raise ValueError("subsets must be a non-empty mapping {subset: probability}")
        keys, probs = [], []
        for key, p in subsets.items():
            subset = (key,) if isinstance(key, str) else tuple(key)
            unknown = [k for k in subset if k not in names]
            if not subset or unknown:
                raise ValueError(f"pinned subset {key!r} names unknown factors {unknown}")
            if set(subset) == set(names):
                raise ValueError(f"subset {key!r} pins every factor: nothing would be trained")
            if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
                raise ValueError(f"the probability of {key!r} must be in [0, 1], got {p!r}")
            keys.append(subset)
            probs.append(float(p))
        if sum(probs) > 1 + 1e-9:
            raise ValueError(f"pinning probabilities sum to {sum(probs)} > 1")
        base = UniformTime() if base is None else base
        if not isinstance(base, AbstractTimeSampler):
            raise TypeError(f"base must be an AbstractTimeSampler, got {base!r}")
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "subsets", tuple(keys))
        object.__setattr__(self, "probs", tuple(probs))
        object.__setattr__(self, "base", base)

    def sample(  # type: ignore[override]
        self,
        n: int,
        *,
        dtype: torch.dtype,
        device: torch.device,
        generator: torch.Generator | None = None,
    ) -> FactorTimes:
        t = self.base.sample(n, dtype=dtype, device=device, generator=generator)
        times = dict(t) if isinstance(t, Mapping) else {k: t for k in self.names}
        u = torch.rand(n, dtype=dtype, device=device, generator=generator)
        edges = torch.tensor(self.probs, dtype=dtype, device=device).cumsum(0)
        choice = torch.searchsorted(edges, u, right=True)  # len(subsets): nothing pinned
        pinned = {
            k: sum(
                (choice == j for j, s in enumerate(self.subsets) if k in s),
                start=torch.zeros(n, dtype=torch.bool, device=device),
            )
            for k in self.names
        }
        return {k: torch.where(pinned[k], 1.0, times[k]) for k in self.names}


@final
@dataclass(frozen=True, init=False)
class FactorGrids:
    """Time grids per factor of a product, merged into one simulation loop (GM §9.8).

    Each factor runs on its own :class:`TimeGrid` and ends exactly at its grid's last time;
    a factor given ``None`` is *held*: it stays at ``t = 1`` and never moves (a condition,
    e.g. the image when sampling a caption). The grids are merged by their fraction of
    progress: grid ``k`` with ``n_k`` steps reaches its ``i``-th point at fraction ``i/n_k``;
    the loop steps through the sorted union of these fractions and a factor moves (with its
    own step size) only when one of its points is crossed, so one network evaluation per loop
    step feeds every factor that moves. Uniform grids of 32 and 8 steps give 32 loop steps,
    the second factor moving every fourth.

    Args:
        grids: ``{name: TimeGrid or None}`` for every factor of the product.

    Attributes:
        times: every factor's time at each of the ``steps + 1`` loop points.
        held: the factors given ``None``.

    Example:
        >>> g = FactorGrids({"x": TimeGrid.uniform(4), "label": TimeGrid.uniform(2)})
        >>> g.steps, g.times["label"]
        (4, (0.0, 0.0, 0.5, 0.5, 1.0))
        >>> FactorGrids({"x": TimeGrid.uniform(2), "label": None}).times["label"]
        (1.0, 1.0, 1.0)
    """

    times: dict[str, tuple[float, ...]]
    held: tuple[str, ...]

    def __init__(self, grids: Mapping[str, TimeGrid | None]) -> None:
        if not isinstance(grids, Mapping) or not grids:
            raise TypeError("grids must be a non-empty mapping {factor: TimeGrid or None}")
        for k, g in grids.items():
            if g is not None and not isinstance(g, TimeGrid):
                raise TypeError(f"grids[{k!r}] must be a TimeGrid or None, got {g!r}")
        moving = {k: g for k, g in grids.items() if g is not None}
        if not moving:
            raise ValueError("every factor is held: at least one needs a TimeGrid")
        fractions = sorted(
            {Fraction(i, g.steps) for g in moving.values() for i in range(g.steps + 1)}
        )
        times = {}
        for k, g in grids.items():
            if g is None:
                times[k] = (1.0,) * len(fractions)
            else:
                times[k] = tuple(g.times[math.floor(f * g.steps)] for f in fractions)
        object.__setattr__(self, "times", times)
        object.__setattr__(self, "held", tuple(k for k, g in grids.items() if g is None))

    @property
    def steps(self) -> int:
        """Number of loop steps."""
        return len(next(iter(self.times.values()))) - 1

    def step_sizes(self, i: int) -> dict[str, float]:
        """Each factor's step size at loop step ``i`` (0 where it does not move)."""
        return {k: v[i + 1] - v[i] for k, v in self.times.items()}

    def as_tensors(
        self, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None
    ) -> dict[str, Tensor]:
        """Every factor's times as a ``(steps + 1,)`` tensor."""
        return {k: torch.tensor(v, dtype=dtype, device=device) for k, v in self.times.items()}
