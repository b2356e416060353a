"""Contract checks for affine schedules."""

from __future__ import annotations

import torch
from torch import Tensor

from genmatch.paths.schedules import AbstractSchedule


def check_schedule(
    schedule: AbstractSchedule,
    t: Tensor,
    *,
    exact_boundary: bool = True,
    rtol: float = 1e-6,
    atol: float = 1e-9,
) -> None:
    """Closed-form derivatives equal autodiff at ``t``.

    With ``exact_boundary`` also ``α_0 = σ_1 = 0`` and ``α_1 = σ_0 = 1``.
    """
    closed, auto = schedule(t), schedule.autodiff(t)
    for name in ("d_alpha_t", "d_sigma_t"):
        c, a = getattr(closed, name), getattr(auto, name)
        if not torch.allclose(c, a, rtol=rtol, atol=atol):
            raise AssertionError(
                f"{type(schedule).__name__}.{name}: closed form != autodiff ({(c - a).abs().max()})"
            )
    if closed.alpha_t.lt(0).any() or closed.sigma_t.lt(0).any():
        raise AssertionError(f"{type(schedule).__name__}: α_t and σ_t must be >= 0")
    if exact_boundary:
        ends = torch.tensor([0.0, 1.0], dtype=t.dtype)
        s = schedule(ends)
        expected_alpha, expected_sigma = (
            torch.tensor([0.0, 1.0], dtype=t.dtype),
            torch.tensor([1.0, 0.0], dtype=t.dtype),
        )
        if not (
            torch.allclose(s.alpha_t, expected_alpha, atol=atol)
            and torch.allclose(s.sigma_t, expected_sigma, atol=atol)
        ):
            raise AssertionError(
                f"{type(schedule).__name__}: boundary values α=(0,1), σ=(1,0) violated"
            )
