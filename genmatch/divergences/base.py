"""Abstract Bregman divergence (GM eq. 9.15)."""

from __future__ import annotations

import abc

import torch
from torch import Tensor


def _sum_event(x: Tensor) -> Tensor:
    return x.sum(1) if x.dim() == 2 else x.reshape(x.shape[0], -1).sum(1)


def bregman_from_potential(phi: object, a: Tensor, b: Tensor) -> Tensor:
    """``D(a, b) = Φ(a) − Φ(b) − ⟨a − b, ∇Φ(b)⟩`` with ``∇Φ`` by autograd (GM eq. 9.15).

    Differentiable in ``a`` and ``b`` (the gradient is built with ``create_graph=True``).

    Args:
        phi: a strictly convex potential mapping ``(batch, *event)`` to ``(batch,)``, the sum
            over the event of a per-point potential.
        a: first argument (the target), ``(batch, *event)``.
        b: second argument (the prediction), ``(batch, *event)``.

    Returns:
        ``(batch,)`` divergences.
    """
    with torch.enable_grad():
        b_ = b if b.requires_grad else b.detach().requires_grad_(True)
        phi_b = phi(b_)  # type: ignore[operator]
        (grad_b,) = torch.autograd.grad(phi_b.sum(), b_, create_graph=True)
    return phi(a) - phi_b - _sum_event((a - b_) * grad_b)  # type: ignore[operator]


class AbstractBregmanDivergence(abc.ABC):
    """A Bregman divergence ``D_x(a, b)`` on the convex set ``Ω_x`` (GM eq. 9.15).

    Subclasses give the strictly convex potential :meth:`phi`; ``__call__`` defaults to the
    generic autograd form :func:`bregman_from_potential` and closed-form subclasses override
    it (the contract tests check the two agree). By GM Thm. 20, any Bregman divergence makes
    the conditional loss (eq. 9.17) have the gradients of the marginal one (eq. 9.16).

    Shapes:
        a, b: ``(batch, *event)``; returns ``(batch,)`` — the divergence summed over the event.
    """

    @abc.abstractmethod
    def phi(self, a: Tensor) -> Tensor:
        """The potential ``Φ(a)``, summed over the event: ``(batch, *event) → (batch,)``."""

    def __call__(self, a: Tensor, b: Tensor) -> Tensor:
        """``D(a, b)``: ``a`` is the target, ``b`` the prediction."""
        return bregman_from_potential(self.phi, a, b)

    def generic(self, a: Tensor, b: Tensor) -> Tensor:
        """``D(a, b)`` from :meth:`phi` by autograd, ignoring any closed form."""
        return bregman_from_potential(self.phi, a, b)

    def terms(self, a: Tensor, b: Tensor) -> dict[str, Tensor]:
        """``D(a, b)`` split into named ``(batch,)`` terms that sum to it, for divergences made
        of parts (one per factor of a product); empty (not split) by default."""
        return {}
