"""Products of state spaces ``S = S_1 × … × S_n`` (GM §9.8): multimodal states."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, final

from torch import Tensor

from genmatch.spaces.base import AbstractStateSpace
from genmatch.types import State


def check_factor_names(names: Sequence[object], what: str) -> tuple[str, ...]:
    """The factor names of a product, validated: non-empty strings without ``/``, unique."""
    out = tuple(str(n) if isinstance(n, str) else n for n in names)
    if not out:
        raise ValueError(f"{what} needs at least one factor")
    for name in out:
        if not isinstance(name, str) or not name or "/" in name or "." in name:
            raise ValueError(
                f"factor names must be non-empty strings without '/' or '.', got {name!r}"
            )
    return out  # type: ignore[return-value]


def check_same_factors(names: Sequence[str], expected: Sequence[str], what: str) -> None:
    """Raise unless two products have the same factor names (in any order)."""
    if set(names) != set(expected):
        raise ValueError(
            f"{what} has factors {sorted(names)}, but the product has {sorted(expected)}"
        )


def per_factor(space: object, parts: object, kind: type, what: str) -> dict[str, Any]:
    """Validate the parts of a product composition object (paths, generators, sources): a
    mapping naming every factor of the :class:`ProductSpace` ``space``, each an instance of
    ``kind``; returns them in the space's factor order."""
    if not isinstance(space, ProductSpace):
        raise TypeError(f"space must be a ProductSpace, got {type(space).__name__}")
    if not isinstance(parts, Mapping):
        raise TypeError(f"{what} must be a mapping name -> {kind.__name__}, got {type(parts)}")
    check_same_factors(list(parts), space.names, what)
    for name in space.names:
        if not isinstance(parts[name], kind):
            hint = " (a class, not an instance)" if isinstance(parts[name], type) else ""
            raise TypeError(
                f"{what}[{name!r}] must be a {kind.__name__} instance, got {parts[name]!r}{hint}"
            )
    return {name: parts[name] for name in space.names}


def factor_times(t: object, names: Sequence[str]) -> dict[str, Any]:
    """Per-factor times: a mapping is checked to name every factor, anything else (a tensor of
    times shared by every factor, a tied time) is given to each factor."""
    if isinstance(t, Mapping):
        check_same_factors(list(t), names, "the times")
        return {name: t[name] for name in names}
    return {name: t for name in names}


@final
@dataclass(frozen=True, eq=False, init=False)
class ProductSpace(AbstractStateSpace):
    """The product ``S_1 × … × S_n`` of named factor spaces, each any state space (Euclidean,
    token sequences, any :class:`~genmatch.spaces.ManifoldSpace` including powers, a user's
    subclass, another product).

    A batch of points is a ``dict`` mapping each factor's name to that factor's batch, all with
    the same number of points. Plain dicts are used (not a dedicated container) so that
    factors keep their own batch types (tensors, graph batches, nested dicts) and a state is a
    pytree that ``torch.func`` and ``torch.compile`` traverse natively. Times of a product are
    dicts too, one ``(batch,)`` tensor per factor (:meth:`times`), so each factor can run on its
    own clock (GM §9.8: conditional generation of one modality given another).

    Args:
        factors: the factor spaces by name, in order. Names are non-empty strings without
            ``/`` (network heads of a product are named ``"factor/head"``).

    Shapes:
        points: ``{name: batch of factor name}``, every factor with the same batch size.

    Example:
        >>> import torch
        >>> from genmatch.spaces import DiscreteSpace, EuclideanSpace
        >>> space = ProductSpace({"x": EuclideanSpace(2), "label": DiscreteSpace(1, 8)})
        >>> x = {"x": torch.zeros(3, 2), "label": torch.tensor([[0], [5], [7]])}
        >>> space.check(x)
        >>> space.batch_size(x)
        3
        >>> space.check({"x": torch.zeros(3, 2), "label": torch.tensor([[0], [9], [7]])})
        Traceback (most recent call last):
        ...
        ValueError: x['label'] has tokens outside [0, 8): found 9
    """

    factors: dict[str, AbstractStateSpace]

    def __init__(self, factors: Mapping[str, AbstractStateSpace]) -> None:
        if not isinstance(factors, Mapping):
            raise TypeError(
                f"factors must be a mapping name -> space, got {type(factors).__name__}"
            )
        names = check_factor_names(list(factors), "a ProductSpace")
        for name in names:
            space = factors[name]
            if not isinstance(space, AbstractStateSpace):
                raise TypeError(
                    f"factor {name!r} must be an AbstractStateSpace instance, got "
                    f"{space!r}"
                    + (" (a class, not an instance)" if isinstance(space, type) else "")
                )
        object.__setattr__(self, "factors", {name: factors[name] for name in names})

    @property
    def names(self) -> tuple[str, ...]:
        """The factor names, in order."""
        return tuple(self.factors)

    def __iter__(self) -> Iterator[str]:
        return iter(self.factors)

    def __len__(self) -> int:
        return len(self.factors)

    def _parts(self, x: State, name: str) -> dict[str, State]:
        if not isinstance(x, Mapping):
            raise TypeError(
                f"{name} must be a dict mapping factor names {list(self.factors)} to batches, "
                f"got {type(x).__name__}"
            )
        check_same_factors(list(x), self.names, name)
        return {k: x[k] for k in self.names}

    def check(self, x: State, name: str = "x") -> None:
        parts = self._parts(x, name)
        sizes = {}
        for k, space in self.factors.items():
            space.check(parts[k], f"{name}[{k!r}]")
            sizes[k] = space.batch_size(parts[k])
        if len(set(sizes.values())) != 1:
            raise ValueError(f"the factors of {name} disagree on the batch size: {sizes}")

    def batch_size(self, x: State) -> int:
        first = self.names[0]
        return self.factors[first].batch_size(self._parts(x, "x")[first])

    def take(self, x: State, index: Tensor) -> State:
        parts = self._parts(x, "x")
        return {k: s.take(parts[k], index) for k, s in self.factors.items()}

    def where(self, mask: Tensor, a: State, b: State) -> State:
        pa, pb = self._parts(a, "a"), self._parts(b, "b")
        return {k: s.where(mask, pa[k], pb[k]) for k, s in self.factors.items()}

    def cat(self, parts: Sequence[State]) -> State:
        split = [self._parts(p, "x") for p in parts]
        return {k: s.cat([p[k] for p in split]) for k, s in self.factors.items()}

    def reference(self, x: State) -> Tensor:
        parts = self._parts(x, "x")
        refs = [s.reference(parts[k]) for k, s in self.factors.items()]
        return next((r for r in refs if r.is_floating_point()), refs[0])

    def times(self, t: object, batch: int, ref: Tensor, name: str = "t") -> dict[str, Any]:
        """Per-factor times ``{name: (batch,)}`` from a dict of per-factor times, or from one
        time shared by every factor (a float, a 0-d or a ``(batch,)`` tensor: tied times).
        Every factor's times have the dtype of ``ref`` (the product's :meth:`reference`)."""
        per_factor = factor_times(t, self.names)
        return {
            k: s.times(per_factor[k], batch, ref, f"{name}[{k!r}]") for k, s in self.factors.items()
        }
