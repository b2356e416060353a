"""Log-likelihood of flow models by the instantaneous change of variables.

Along a flow ``dX_t = u_t(X_t) dt``, ``d/dt log p_t(X_t) = −div u_t(X_t)`` (continuity
equation), so

``log p_1(x_1) = log p_0(x_0) − ∫_0^1 div u_t(x_t) dt``, with ``x_t`` the flow run backwards from
``x_1``.

The augmented state ``(x, ℓ)`` is integrated from ``t = 1`` to ``t = 0`` with any fixed-step ODE
method, on an explicit grid. The divergence is exact (``d`` backward passes; for small ``d``) or
Hutchinson's estimate ``εᵀ (∂u/∂x) ε`` with one probe per sample held fixed along the
trajectory (Rademacher or Gaussian), which is unbiased for the log-likelihood because the
trajectory does not depend on the probe. With ``grad=True`` the graph is kept, for
maximum-likelihood fine-tuning.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from genmatch._checks import check_finite, check_nonempty
from genmatch.likelihood.base import AbstractDivergenceEstimator, LikelihoodResult
from genmatch.likelihood.estimators import ExactDivergence
from genmatch.solvers.base import AbstractODESolver
from genmatch.solvers.rk4 import RK4
from genmatch.time import TimeGrid

VelocityFn = Callable[[Tensor, Tensor], Tensor]


def log_likelihood(
    velocity: VelocityFn,
    x_1: Tensor,
    source_log_prob: Callable[[Tensor], Tensor],
    grid: TimeGrid | int,
    *,
    solver: AbstractODESolver | None = None,
    divergence: AbstractDivergenceEstimator | None = None,
    generator: torch.Generator | None = None,
    grad: bool = False,
) -> LikelihoodResult:
    """``log p_1(x_1)`` of the flow ``u`` started from the source density ``p_0``.

    Args:
        velocity: ``(x, t) ↦ u_t(x)`` on flat points ``(batch, d)`` (e.g. ``flow.field(net)``
            or an :class:`~genmatch.marginal.ExactMarginal`).
        x_1: points ``(batch, d)``.
        source_log_prob: ``log p_0``, ``(batch, d) → (batch,)``.
        grid: a :class:`TimeGrid` (integrated from its last time back to its first) or a
            number of uniform steps on ``[0, 1]``.
        solver: fixed-step ODE method for the augmented state (``RK4()`` by default).
        divergence: :class:`~genmatch.likelihood.ExactDivergence` (default) or
            :class:`~genmatch.likelihood.HutchinsonDivergence`.
        generator: random number generator for Hutchinson probes.
        grad: keep the graph for gradients with respect to the velocity's parameters.

    Example:
        >>> import torch
        >>> from genmatch.sources import GaussianSource
        >>> from genmatch.spaces import EuclideanSpace
        >>> src = GaussianSource(EuclideanSpace(1))
        >>> out = log_likelihood(lambda x, t: x, torch.zeros(1, 1), src.log_prob, 8)  # x_1 = e x_0
        >>> round(float(out.log_prob), 4)  # log N(0; 0, e²) = −log e − ½ log 2π
        -1.9189
    """
    if isinstance(grid, int):
        grid = TimeGrid.uniform(grid)
    if not isinstance(x_1, Tensor) or x_1.dim() != 2 or not x_1.is_floating_point():
        raise ValueError(
            f"x_1 must be a float tensor (batch, d), got "
            f"{tuple(x_1.shape) if isinstance(x_1, Tensor) else type(x_1).__name__}"
            f"{', ' + str(x_1.dtype) if isinstance(x_1, Tensor) else ''}"
        )
    check_nonempty(x_1.shape[0], "x_1")
    check_finite(x_1, "x_1")
    solver = solver if solver is not None else RK4()
    estimator = divergence if divergence is not None else ExactDivergence()
    state = estimator.prepare(x_1, generator)
    d = x_1.shape[1]
    batch = x_1.shape[0]

    def augmented(y: Tensor, tau: Tensor) -> Tensor:
        # τ runs 0 → 1 while t = 1 − τ runs back: dx/dτ = −u, dℓ/dτ = div u.
        with torch.enable_grad():
            x = y[:, :d] if y[:, :d].requires_grad else y[:, :d].detach().requires_grad_(True)
            t = 1.0 - tau
            u = velocity(x, t)
            div = estimator(u, x, state, create_graph=grad)
        if not grad:
            u, div = u.detach(), div.detach()
        return torch.cat([-u, div[:, None]], 1)

    times = grid.times
    y = torch.cat([x_1, torch.zeros(batch, 1, dtype=x_1.dtype, device=x_1.device)], 1)
    taus = torch.tensor([1.0 - s for s in reversed(times)], dtype=x_1.dtype, device=x_1.device)
    rev = list(reversed(times))
    with torch.set_grad_enabled(grad):
        for i in range(grid.steps):
            h = rev[i] - rev[i + 1]
            y = solver.step(augmented, y, taus[i].expand(batch), h)
    x_0, integral = y[:, :d], y[:, d]
    return LikelihoodResult(
        log_prob=source_log_prob(x_0) - integral, x_0=x_0, nfe=grid.steps * solver.stages
    )
