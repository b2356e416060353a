"""Shared glue of the product networks: flat factor names, head parsing, input validation.

A nested product is flattened into its leaf factors, named by their paths (``"pair/u"`` for
factor ``u`` of the nested product ``pair``); a head ``"pair/u/velocity"`` belongs to leaf
``"pair/u"``. The leaves keep the space's factor order, so dict insertion order never matters.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from genmatch.spaces.base import AbstractStateSpace
from genmatch.spaces.discrete import DiscreteSpace
from genmatch.spaces.product import ProductSpace, check_same_factors
from genmatch.types import HeadShapes, State


def leaf_factors(space: ProductSpace, prefix: str = "") -> dict[str, AbstractStateSpace]:
    """The leaf factor spaces of a (possibly nested) product by path, in the space's order."""
    if not isinstance(space, ProductSpace):
        raise TypeError(f"space must be a ProductSpace, got {type(space).__name__}")
    out: dict[str, AbstractStateSpace] = {}
    for name, factor in space.factors.items():
        path = prefix + name
        if isinstance(factor, ProductSpace):
            out.update(leaf_factors(factor, path + "/"))
        else:
            out[path] = factor
    return out


def group_heads(
    heads: HeadShapes, leaves: Mapping[str, AbstractStateSpace]
) -> dict[str, tuple[int, ...]]:
    """Validate product head names ``"factor/head"`` (``"outer/inner/head"`` when nested) and
    return ``{head key: shape}``; each key's factor path is :func:`head_factor`."""
    if not isinstance(heads, Mapping) or not heads:
        raise ValueError("a product network needs at least one output head")
    out: dict[str, tuple[int, ...]] = {}
    for key, shape in heads.items():
        factor = head_factor(key)
        if factor not in leaves:
            nested = [p for p in leaves if p.startswith(factor + "/")]
            hint = (
                f"{factor!r} is a nested product: name heads of its factors "
                f"{[p + '/<head>' for p in nested]}"
                if nested
                else f"the leaf factors are {list(leaves)}"
            )
            raise ValueError(f"head {key!r} names no factor of the space: {hint}")
        shape = tuple(shape)
        if not all(isinstance(s, int) and s > 0 for s in shape):
            raise ValueError(f"head {key!r} must have a shape of positive integers, got {shape}")
        out[key] = shape
    return out


def head_factor(key: object) -> str:
    """The factor path of a head key: everything before its last ``/``."""
    if not isinstance(key, str) or "/" not in key or key.endswith("/") or key.startswith("/"):
        raise ValueError(
            f"heads of a product network are named 'factor/head' ('outer/inner/head' for a "
            f"nested product), got {key!r}"
        )
    return key.rsplit("/", 1)[0]


def flatten_points(
    x_t: State, space: ProductSpace, name: str = "x_t", prefix: str = ""
) -> dict[str, State]:
    """The leaf batches of a (nested) dict of factor batches, keys checked against ``space``."""
    if not isinstance(x_t, Mapping):
        raise TypeError(
            f"{name} must be a dict mapping the factors {list(space.names)} to batches, got "
            f"{type(x_t).__name__}"
        )
    check_same_factors(list(x_t), space.names, name)
    out: dict[str, State] = {}
    for k, factor in space.factors.items():
        if isinstance(factor, ProductSpace):
            out.update(flatten_points(x_t[k], factor, f"{name}[{k!r}]", prefix + k + "/"))
        else:
            out[prefix + k] = x_t[k]
    return out


def flatten_times(
    t: object, space: ProductSpace, batch: int, name: str = "t", prefix: str = ""
) -> dict[str, Tensor]:
    """Per-leaf ``(batch,)`` times from a (nested) dict of times; a tensor (``()`` or
    ``(batch,)``) at any level is used for every factor below it."""
    if isinstance(t, Mapping):
        check_same_factors(list(t), space.names, name)
    out: dict[str, Tensor] = {}
    for k, factor in space.factors.items():
        t_k = t[k] if isinstance(t, Mapping) else t
        label = f"{name}[{k!r}]" if isinstance(t, Mapping) else name
        if isinstance(factor, ProductSpace):
            out.update(flatten_times(t_k, factor, batch, label, prefix + k + "/"))
            continue
        if not isinstance(t_k, Tensor) or not t_k.is_floating_point():
            raise TypeError(
                f"{label} must be a floating tensor of times (batch,) or a dict of them by "
                f"factor, got {t_k.dtype if isinstance(t_k, Tensor) else type(t_k).__name__}"
            )
        if t_k.dim() == 0:
            t_k = t_k.expand(batch)
        if t_k.shape != (batch,):
            raise ValueError(f"{label} must have shape ({batch},), got {tuple(t_k.shape)}")
        out[prefix + k] = t_k
    return out


def check_leaf(space: AbstractStateSpace, x: State, name: str) -> State:
    """Check a leaf batch's type, dtype and shape (no values): int64 ``(batch, L)`` tokens for
    a :class:`DiscreteSpace`, floating ``(batch, *event_shape)`` for spaces with an
    ``event_shape``; other spaces are left to their encoders."""
    shape = getattr(space, "event_shape", None)
    if shape is None:
        return x
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a tensor, got {type(x).__name__}")
    if isinstance(space, DiscreteSpace):
        if x.dtype != torch.int64:
            raise TypeError(f"{name} must be int64 tokens, got {x.dtype}")
    elif not x.is_floating_point():
        raise TypeError(f"{name} must have a floating dtype, got {x.dtype}")
    if x.dim() < 1 or tuple(x.shape[1:]) != tuple(shape):
        expected = ", ".join(["batch", *map(str, shape)])
        raise ValueError(f"{name} must have shape ({expected}), got {tuple(x.shape)}")
    return x


def check_inputs(
    x_t: State, t: object, space: ProductSpace, leaves: Mapping[str, AbstractStateSpace]
) -> tuple[dict[str, State], dict[str, Tensor], int]:
    """Validate a product network's inputs: the flat leaf batches, the flat ``(batch,)`` times
    and the batch size."""
    flat = flatten_points(x_t, space)
    for path, x in flat.items():
        check_leaf(leaves[path], x, _label("x_t", path))
    sizes = {path: leaves[path].batch_size(x) for path, x in flat.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"the factors of x_t disagree on the batch size: {sizes}")
    batch = next(iter(sizes.values()))
    return flat, flatten_times(t, space, batch), batch


def _label(name: str, path: str) -> str:
    return name + "".join(f"[{p!r}]" for p in path.split("/"))
