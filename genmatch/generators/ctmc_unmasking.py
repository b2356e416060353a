"""Confidence-ordered unmasking: the step of ``JumpMethod.CONFIDENCE`` for masked models."""

from __future__ import annotations

import torch
from torch import Tensor


def confidence_unmask(
    probs: Tensor,
    draw: Tensor,
    x: Tensor,
    p_jump: Tensor,
    mask_token: int,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Unmask, in each row, the ``k`` masked positions whose drawn tokens are most probable.

    The count has the exact law of the model's step: ``k = Σ_{i masked} B_i`` with independent
    ``B_i ~ Bernoulli(p_jump_i)`` (``p_jump = (κ_{t+h} − κ_t)/(1 − κ_t)`` on the masked path,
    1 at the last step). Only the choice of positions differs: the ``k`` masked positions with
    the largest ``p^i(draw_i)`` (ties by position) take their drawn tokens, instead of ``k``
    positions chosen uniformly at random.

    Bias: the positions a step fills depend on the model's confidence, so the joint law is
    not the model's (even with one unmasking per step); confident tokens come first, which
    favours the modes (fewer rare sequences, less diversity).

    Shapes:
        probs: ``(batch, L, S)`` posterior probabilities; draw: ``(batch, L)`` tokens drawn
        from them; x: ``(batch, L)``; p_jump: broadcastable to ``(batch, L)``; returns
        ``(batch, L)``.

    Example:
        >>> probs = torch.tensor([[[0.9, 0.1, 0.0], [0.2, 0.8, 0.0], [0.6, 0.4, 0.0]]])
        >>> draw, x = torch.tensor([[0, 1, 0]]), torch.tensor([[2, 2, 0]])
        >>> confidence_unmask(probs, draw, x, torch.tensor([[1.0, 0.0, 0.0]]), mask_token=2)
        tensor([[0, 2, 0]])
    """
    masked = x == mask_token
    u = torch.rand(x.shape, generator=generator, dtype=probs.dtype, device=x.device)
    count = ((u < p_jump) & masked).sum(1, keepdim=True)  # (batch, 1)
    confidence = probs.gather(-1, draw[..., None])[..., 0]
    confidence = torch.where(masked, confidence, -1.0)  # unmasked positions come last
    order = confidence.argsort(dim=1, descending=True, stable=True)
    rank = torch.empty_like(order).scatter_(
        1, order, torch.arange(x.shape[1], device=x.device).expand_as(order)
    )
    return torch.where(masked & (rank < count), draw, x)
