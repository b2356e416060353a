"""The minimal jump model of any path with a density (GM eq. 9.27–9.31).

For a conditional path with density ``p_t(x|z)`` differentiable in ``t``, the jump process with

- intensity ``λ_t(x) = [−∂_t log p_t(x|z)]_+`` and
- state-independent jump distribution ``J_t(y) ∝ [∂_t p_t(y|z)]_+``

solves the jump continuity equation ``∂_t p(x) = J_t(x) ∫ λ_t p − p(x) λ_t(x)`` (eq. 9.27).
Both pieces are computed from the path's ``log_prob`` and ``d_log_prob_dt`` (closed form where
the path has one, forward-mode autodiff otherwise). These functions give the continuous
target; :class:`~genmatch.generators.BinnedJumpGenerator` integrates ``J`` over bins.
"""

from __future__ import annotations

import torch
from torch import Tensor

from genmatch.paths.base import AbstractDensityPath


def minimal_jump_intensity(path: AbstractDensityPath, x: Tensor, t: Tensor, z: Tensor) -> Tensor:
    """``λ_t(x|z) = [−∂_t log p_t(x|z)]_+`` (eq. 9.31). Shapes: returns ``(batch,)``."""
    return torch.relu(-path.d_log_prob_dt(x, t, z))


def jump_density_unnormalized(path: AbstractDensityPath, y: Tensor, t: Tensor, z: Tensor) -> Tensor:
    """``[∂_t p_t(y|z)]_+ = p_t(y|z) [∂_t log p_t(y|z)]_+``; ``J_t`` up to its normaliser.

    Its integral equals ``∫ λ_t p_t`` (the rates in and out balance), which is the normaliser.
    Shapes: returns ``(batch,)``.
    """
    return path.log_prob(y, t, z).exp() * torch.relu(path.d_log_prob_dt(y, t, z))
