"""Contract checks for Bregman divergences."""

from __future__ import annotations

import torch
from torch import Tensor

from genmatch.divergences.base import AbstractBregmanDivergence


def check_bregman_divergence(
    divergence: AbstractBregmanDivergence,
    a: Tensor,
    b: Tensor,
    *,
    rtol: float = 1e-6,
    atol: float = 1e-8,
) -> Tensor:
    """``D ≥ 0``, ``D(a, a) = 0``, ``D(a, b) > 0`` where ``a ≠ b``, and closed form = generic.

    Args:
        divergence: the divergence under test.
        a, b: two batches in ``Ω`` (``(batch, *event)``), differing in every row.

    Returns:
        ``D(a, b)``, ``(batch,)``.
    """
    d_ab = divergence(a, b)
    if d_ab.shape != a.shape[:1]:
        raise AssertionError(f"divergence must return (batch,), got {tuple(d_ab.shape)}")
    if not bool((d_ab > 0).all()):
        raise AssertionError(f"D(a, b) must be > 0 for a != b, got min {d_ab.min()}")
    d_aa = divergence(a, a)
    if not torch.allclose(d_aa, torch.zeros_like(d_aa), atol=atol):
        raise AssertionError(f"D(a, a) must be 0, got max {d_aa.abs().max()}")
    generic = divergence.generic(a, b)
    if not torch.allclose(d_ab, generic, rtol=rtol, atol=atol):
        raise AssertionError(
            f"closed form and generic Bregman form differ by {(d_ab - generic).abs().max()}"
        )
    return d_ab
