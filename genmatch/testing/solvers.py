"""Empirical convergence orders of ODE solvers."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from genmatch.solvers.base import AbstractODESolver, VelocityFn


def empirical_order(
    solver: AbstractODESolver,
    velocity: VelocityFn,
    x_0: Tensor,
    exact: Callable[[float], Tensor],
    steps: Sequence[int],
) -> list[float]:
    """Empirical convergence orders ``log2(e_n / e_{2n})`` of ``solver`` on ``[0, 1]``.

    Args:
        solver: the ODE method.
        velocity: ``(x, t) ↦ u_t(x)``.
        x_0: the initial state at ``t = 0``.
        exact: ``t ↦`` the exact solution at ``t``.
        steps: increasing step counts, each double the previous.

    Returns:
        One order estimate per consecutive pair of ``steps``.
    """
    errors = []
    for n in steps:
        x, h = x_0, 1.0 / n
        for i in range(n):
            x = solver.step(velocity, x, torch.full(x.shape[:1], i * h, dtype=x.dtype), h)
        errors.append(float((x - exact(1.0)).abs().max()))
    return [math.log2(a / b) for a, b in itertools.pairwise(errors)]
