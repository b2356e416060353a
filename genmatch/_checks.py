"""Input validation shared by public entry points.

Shape, dtype and device checks are free and always on. Checks that read tensor *values*
(ranges, finiteness) force a host synchronisation on accelerators; they are on by default
and can be switched off for production runs with :func:`set_value_checks`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import operator
from collections.abc import Iterator, Mapping
from typing import Any, TypeVar

import torch
from torch import Tensor

_VALUE_CHECKS = True

_E = TypeVar("_E", bound=enum.Enum)

#: The floating dtypes of points, times and values at public entry points. Half precision
#: (float16, bfloat16) is refused there: mixed precision belongs inside a network (autocast).
SUPPORTED_FLOATS = (torch.float32, torch.float64)


def set_value_checks(enabled: bool) -> None:
    """Turn value-reading input checks (ranges, finiteness) on or off globally.

    Args:
        enabled: ``True`` (default) validates values at public entry points; ``False`` skips
            every check that would synchronise with an accelerator.
    """
    global _VALUE_CHECKS
    if not isinstance(enabled, bool):
        raise TypeError(f"enabled must be a bool (True or False), got {enabled!r}")
    _VALUE_CHECKS = enabled


def value_checks_enabled() -> bool:
    """Whether value-reading checks are currently on."""
    return _VALUE_CHECKS


@contextlib.contextmanager
def value_checks(enabled: bool) -> Iterator[None]:
    """Context manager that sets :func:`set_value_checks` temporarily."""
    previous = _VALUE_CHECKS
    set_value_checks(enabled)
    try:
        yield
    finally:
        set_value_checks(previous)


def check_positive_int(value: object, name: str) -> int:
    """``value`` as an ``int >= 1`` (numpy integers accepted, ``bool`` refused)."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    try:
        out = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}") from None
    if out < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {out}")
    return out


def check_float_tensor(x: object, name: str) -> Tensor:
    """Raise unless ``x`` is a floating-point tensor."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must have a floating dtype, got {x.dtype}")
    return x


def check_points_dtype(x: Tensor, name: str) -> Tensor:
    """Raise unless ``x`` is a float32 or float64 tensor (:data:`SUPPORTED_FLOATS`)."""
    check_float_tensor(x, name)
    if x.dtype not in SUPPORTED_FLOATS:
        raise TypeError(
            f"{name} must be float32 or float64, got {x.dtype} (half precision is not "
            "supported at genmatch's entry points; use autocast inside the network)"
        )
    return x


def check_enum(value: object, kind: type[_E], name: str) -> _E:
    """``value`` if it is a member of the enum ``kind``; strings and other values are refused
    (``CTMCHead("rate")`` converts a string explicitly)."""
    if not isinstance(value, kind):
        members = ", ".join(f"{kind.__name__}.{m.name}" for m in kind)
        raise TypeError(f"{name} must be a {kind.__name__} ({members}), got {value!r}")
    return value


def check_instance(
    value: object, kind: type, name: str, *, optional: bool = False, kind_name: str = ""
) -> None:
    """Raise unless ``value`` is an instance of ``kind`` (or ``None`` when ``optional``); a
    class passed instead of an instance gets its own message. ``kind_name`` names ``kind`` in
    messages (default: its ``__name__``)."""
    if optional and value is None:
        return
    kind_name = kind_name or kind.__name__
    if isinstance(value, type):
        raise TypeError(
            f"{name} must be an instance of {kind_name}, got the class {value.__name__} "
            f"itself; pass an instance, e.g. {value.__name__}()"
        )
    if not isinstance(value, kind):
        raise TypeError(f"{name} must be a {kind_name}, got {type(value).__name__}")


def check_nonempty(n: int, name: str) -> None:
    """Raise if a batch has no points."""
    if n == 0:
        raise ValueError(f"{name} must be a non-empty batch, got 0 points (empty batch)")


def check_unit_time(value: object, name: str, *, open_left: bool = True) -> float:
    """A Python float in ``(0, 1]`` (``[0, 1]`` with ``open_left=False``), e.g. ``t_max``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a float, got {value!r}")
    low_ok = value > 0 if open_left else value >= 0
    if not (low_ok and value <= 1):
        raise ValueError(f"{name} must be in {'(0' if open_left else '[0'}, 1], got {value}")
    return float(value)


def check_step_size(h: object) -> None:
    """A step size ``h >= 0`` (a float, or per point a tensor; only floats are checked)."""
    if isinstance(h, bool) or (not isinstance(h, (int, float, Tensor))):
        raise TypeError(f"the step size h must be a float, got {h!r}")
    if isinstance(h, (int, float)) and not h >= 0:
        raise ValueError(f"the step size h must be >= 0 (forward in time), got {h}")


def check_times_range(t: Tensor, name: str = "t") -> None:
    """Raise if ``t`` leaves ``[0, 1]`` or holds NaN (a value check)."""
    if _VALUE_CHECKS:
        inside = (t >= 0) & (t <= 1)
        if not bool(inside.all()):
            bad = t[~inside]
            raise ValueError(f"{name} must lie in [0, 1]; got values such as {bad[:3].tolist()}")


def check_nonsingular(sigma_t: Tensor, what: str) -> None:
    """Raise where ``σ_t = 0``, at which ``what`` is singular (a value check)."""
    if _VALUE_CHECKS and not bool((sigma_t > 0).all()):
        raise ValueError(
            f"{what} is singular where sigma_t = 0 (t = 1 for CondOT, where the path is a "
            "Dirac at z): evaluate it at t < 1 (time samplers draw t in [0, 1))"
        )


def check_shape(value: Tensor, shape: tuple[int, ...], name: str) -> None:
    """Raise unless ``value`` has exactly ``shape`` (no broadcasting)."""
    if tuple(value.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {tuple(value.shape)}")


def check_same_shapes(value: Any, like: Any, name: str, like_name: str) -> None:
    """Raise where a tensor of ``value`` and the matching tensor of ``like`` differ in shape.

    Tensors, dataclasses, mappings and tuples are compared field by field; parts of different
    types are not compared (free: shapes only).
    """
    if isinstance(value, Tensor) and isinstance(like, Tensor):
        if value.shape != like.shape:
            raise ValueError(
                f"{name} has shape {tuple(value.shape)} but {like_name} has shape "
                f"{tuple(like.shape)}; no broadcasting is done"
            )
    elif dataclasses.is_dataclass(value) and type(value) is type(like):
        for f in dataclasses.fields(value):
            check_same_shapes(
                getattr(value, f.name),
                getattr(like, f.name),
                f"{name}.{f.name}",
                f"{like_name}.{f.name}",
            )
    elif isinstance(value, Mapping) and isinstance(like, Mapping) and set(value) == set(like):
        for k in value:
            check_same_shapes(value[k], like[k], f"{name}[{k!r}]", f"{like_name}[{k!r}]")
    elif isinstance(value, tuple) and isinstance(like, tuple) and len(value) == len(like):
        for i, (a, b) in enumerate(zip(value, like, strict=True)):
            check_same_shapes(a, b, f"{name}[{i}]", f"{like_name}[{i}]")


def check_path_inputs(
    z: Tensor, t: Tensor | float, x_0: Tensor | None, *, floating: bool = True
) -> Tensor:
    """Validate the inputs of a path's ``sample`` on tensor points; returns ``(batch,)`` times.

    ``z`` is a non-scalar tensor (floating, float32/float64, finite when ``floating``), ``t`` a
    float, 0-d or ``(batch,)`` tensor in ``[0, 1]`` of ``z``'s time dtype, ``x_0`` (if given) a
    tensor of ``z``'s shape, dtype and device.
    """
    if not isinstance(z, Tensor) or z.dim() < 1:
        raise TypeError(f"z must be a tensor (batch, *event), got {type(z).__name__}")
    if floating:
        check_points_dtype(z, "z")
        check_finite(z, "z")
    t = as_time(t, z.shape[0], z)
    if x_0 is not None:
        if not isinstance(x_0, Tensor):
            raise TypeError(f"x_0 must be a tensor, got {type(x_0).__name__}")
        if x_0.shape != z.shape:
            raise ValueError(
                f"x_0 must have the shape of z {tuple(z.shape)}, got {tuple(x_0.shape)}"
            )
        check_like(x_0, z, "x_0", "z")
        if floating:
            check_finite(x_0, "x_0")
    return t


def check_finite(x: Tensor, name: str) -> None:
    """Raise if ``x`` holds NaN or Inf (a value check)."""
    if _VALUE_CHECKS and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or Inf values")


def check_like(x: Tensor, ref: Tensor, name: str, ref_name: str) -> None:
    """Raise unless ``x`` has the dtype and device of ``ref``."""
    if x.device != ref.device:
        raise ValueError(f"{name} is on {x.device} but {ref_name} is on {ref.device}")
    if x.dtype != ref.dtype:
        raise TypeError(f"{name} has dtype {x.dtype} but {ref_name} has dtype {ref.dtype}")


def time_dtype(ref: Tensor) -> torch.dtype:
    """The dtype of times for points ``ref``: theirs when floating, else torch's default
    (token sequences are int64, their times float)."""
    return ref.dtype if ref.is_floating_point() else torch.get_default_dtype()


def broadcast_time(t: Tensor | float, ref: Tensor, name: str = "t") -> Tensor:
    """Times for networks: a float, 0-d or ``(batch,)`` tensor as ``(batch,)`` (shapes only, no
    value check: networks are evaluated in hot loops)."""
    batch = ref.shape[0]
    if not isinstance(t, Tensor):
        if isinstance(t, bool) or not isinstance(t, (int, float)):
            raise TypeError(f"{name} must be a float or a tensor, got {type(t).__name__}")
        return torch.full((batch,), float(t), dtype=time_dtype(ref), device=ref.device)
    if t.dim() == 0:
        return t.expand(batch)
    if t.shape != (batch,):
        raise ValueError(f"{name} must have shape () or ({batch},), got {tuple(t.shape)}")
    return t


def as_time(t: Tensor | float, batch: int, ref: Tensor, name: str = "t") -> Tensor:
    """Validate times and broadcast them to ``(batch,)``.

    Args:
        t: a Python float, a 0-d tensor or a ``(batch,)`` tensor of times in ``[0, 1]``.
        batch: the batch size the times must match.
        ref: a tensor whose dtype and device the times must share (floats are converted).
        name: the argument's name, for error messages.

    Returns:
        ``(batch,)`` tensor of times with ``ref``'s dtype and device.
    """
    dtype = time_dtype(ref)
    if not isinstance(t, Tensor):
        if isinstance(t, bool) or not isinstance(t, (int, float)):
            raise TypeError(f"{name} must be a float or a tensor, got {type(t).__name__}")
        if not 0.0 <= float(t) <= 1.0:
            raise ValueError(f"{name} must lie in [0, 1], got {t}")
        return torch.full((batch,), float(t), dtype=dtype, device=ref.device)
    check_float_tensor(t, name)
    if t.device != ref.device:
        raise ValueError(f"{name} is on {t.device} but x is on {ref.device}")
    if t.dtype != dtype and ref.is_floating_point():  # tokens take times of any float dtype
        raise TypeError(f"{name} has dtype {t.dtype} but x needs times of dtype {dtype}")
    if t.dim() == 0:
        t = t.expand(batch)
    elif t.shape != (batch,):
        raise ValueError(f"{name} must have shape () or ({batch},), got {tuple(t.shape)}")
    check_times_range(t, name)
    return t
