"""Input validation shared by public entry points.

Shape, dtype and device checks are free and always on. Checks that read tensor *values*
(ranges, finiteness) force a host synchronisation on accelerators; they are on by default
and can be switched off for production runs with :func:`set_value_checks`.
"""

from __future__ import annotations

import contextlib
import operator
from collections.abc import Iterator

import torch
from torch import Tensor

_VALUE_CHECKS = True


def set_value_checks(enabled: bool) -> None:
    """Turn value-reading input checks (ranges, finiteness) on or off globally.

    Args:
        enabled: ``True`` (default) validates values at public entry points; ``False`` skips
            every check that would synchronise with an accelerator.
    """
    global _VALUE_CHECKS
    _VALUE_CHECKS = bool(enabled)


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
    if t.dtype != dtype:
        raise TypeError(f"{name} has dtype {t.dtype} but x needs times of dtype {dtype}")
    if t.dim() == 0:
        t = t.expand(batch)
    elif t.shape != (batch,):
        raise ValueError(f"{name} must have shape () or ({batch},), got {tuple(t.shape)}")
    if _VALUE_CHECKS and not bool(((t >= 0) & (t <= 1)).all()):
        bad = t[~((t >= 0) & (t <= 1))]
        raise ValueError(f"{name} must lie in [0, 1]; got values such as {bad[:3].tolist()}")
    return t
