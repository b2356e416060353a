"""Likelihoods of CTMC models on token sequences: the ELBO, and exact ones on small spaces.

**ELBO.** The conditional process of a mixture path given ``x_1`` and the model's CTMC start
from the same source, so the KL between their path measures bounds the terminal KL:

``log p^θ_1(x_1) ≥ −∫_0^1 E_{x_t ~ p_{t|Z}(·|x_1)} Σ_i D(u_t^i(·|x_t, x_1), u^{θ,i}_t(·|x_t)) dt``,

with ``D`` the generalized KL between rate vectors (``Σ a log(a/b) − a + b``). The integrand
is the CGM loss with the generalized KL on rates (GM eq. 9.17), so the ELBO is the negative
training loss of the rate parametrization, for either head. :func:`elbo` estimates it with
stratified times and keeps the autograd graph (maximum-likelihood fine-tuning).

**Exact.** On a space small enough to enumerate, :func:`exact_log_prob` integrates the
Kolmogorov forward equation ``dp/dt = p Q_t`` of the model from the source with RK4; the last
interval to ``t = 1`` of a posterior head is the exact resampling from ``p_{1|t}`` that its
sampler performs.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from genmatch._checks import check_instance, check_positive_int, check_unit_time
from genmatch.divergences.generalized_kl import GeneralizedKL
from genmatch.generators.ctmc import CTMCGenerator, CTMCHead
from genmatch.generators.ctmc_values import PosteriorValue
from genmatch.paths.base import AbstractFactorizedMixturePath
from genmatch.solvers.rk4 import RK4
from genmatch.types import Field


def _check_model(generator: object, path: object) -> None:
    check_instance(generator, CTMCGenerator, "generator")
    check_instance(path, AbstractFactorizedMixturePath, "path")


def _as_field(generator: CTMCGenerator, field: Field | nn.Module) -> Field:
    return generator.field(field) if isinstance(field, nn.Module) else field


def elbo(
    field: Field | nn.Module,
    generator: CTMCGenerator,
    path: AbstractFactorizedMixturePath,
    x_1: Tensor,
    *,
    num_times: int = 16,
    t_max: float = 1.0 - 1e-4,
    rng: torch.Generator | None = None,
) -> Tensor:
    """A lower bound on ``log p^θ_1(x_1)`` in nats, one per sequence (module docstring).

    Args:
        field: the model, ``(x, t) ↦`` value (or a network returning raw heads).
        generator: the model's CTMC (either head).
        path: the mixture path it was trained on.
        x_1: sequences ``(batch, L)``.
        num_times: stratified time samples per sequence (``t_k = (k + U_k)/K``).
        t_max: times are clipped here (the posterior head's rates diverge at ``t = 1``).
        rng: random number generator.

    Returns:
        ``(batch,)``, differentiable in the model's parameters. Divide by ``L · ln 2`` for
        bits per token.
    """
    _check_model(generator, path)
    path.space.check(x_1, "x_1")
    check_positive_int(num_times, "num_times")
    check_unit_time(t_max, "t_max")
    field = _as_field(generator, field)
    b = x_1.shape[0]
    dtype = torch.get_default_dtype()
    u = torch.rand(num_times, b, generator=rng, dtype=dtype, device=x_1.device)
    k = torch.arange(num_times, dtype=dtype, device=x_1.device)[:, None]
    times = ((k + u) / num_times).clamp(max=t_max).reshape(-1)
    z = x_1.repeat(num_times, 1)
    sample = path.sample(z, times, generator=rng)
    target = generator.rates(generator.conditional_target(path, sample), sample.x_t)
    model = generator.rates(field(sample.x_t, times), sample.x_t)
    loss = GeneralizedKL()(target.flatten(1), model.flatten(1))
    return -loss.reshape(num_times, b).mean(0)


def exact_log_prob(
    field: Field | nn.Module,
    generator: CTMCGenerator,
    path: AbstractFactorizedMixturePath,
    x: Tensor,
    *,
    steps: int = 200,
    t_max: float | None = None,
) -> Tensor:
    """``log p^θ_1(x)`` by integrating the model's forward equation over the whole space.

    ``p_0`` is the path's source; RK4 with ``steps`` steps on ``[0, t_max]`` (denser towards
    ``t_max``); then, for
    the posterior head, the exact last transition ``p_1(y) = Σ_x p_{t_max}(x) Π_i p^i_{1|t}(y_i|x)``
    (default ``t_max = 1 − 1/steps²``). For the rate head the result is ``log p_{t_max}``
    (default ``t_max = 1 − 1e-3``). Feasible for ``S^L`` up to a few thousand points.

    Shapes:
        x: ``(batch, L)``; returns ``(batch,)`` (float64).
    """
    # at call time: genmatch.testing imports this package (for riemannian_divergence)
    from genmatch.testing import ctmc_generator_matrix

    _check_model(generator, path)
    space = path.space
    space.check(x, "x")
    check_positive_int(steps, "steps")
    if t_max is not None:
        check_unit_time(t_max, "t_max")
    field = _as_field(generator, field)
    points = space.enumerate().to(x.device)
    n = points.shape[0]
    posterior_head = t_max is None and generator.head is CTMCHead.POSTERIOR
    end = t_max if t_max is not None else (1 - steps**-2 if posterior_head else 1 - 1e-3)
    p = path.source.log_prob(points).exp()
    # a grid refined towards t = 1, where the mixture path's rates grow like 1/(1 − t)
    grid = [end * (1 - (1 - k / steps) ** 2) for k in range(steps + 1)]

    def velocity(p: Tensor, t: Tensor) -> Tensor:
        """``dp/dt = p Q_t`` for the distribution ``p`` ``(1, n)`` at the time ``t`` ``(1,)``."""
        tt = torch.full((n,), float(t), dtype=torch.get_default_dtype(), device=x.device)
        value = field(points, tt)
        q = ctmc_generator_matrix(space, generator.rates(value, points).to(torch.float64))
        return p @ q

    solver = RK4()
    with torch.no_grad():
        p = p[None]
        for t, t_next in zip(grid[:-1], grid[1:], strict=True):
            p = solver.step(velocity, p, torch.tensor([t], dtype=torch.float64), t_next - t)
        p = p[0]
        if posterior_head:
            tt = torch.full((n,), end, dtype=torch.get_default_dtype(), device=x.device)
            value = field(points, tt)
            if not isinstance(value, PosteriorValue):
                raise TypeError(
                    "the posterior head's field must return PosteriorValue for the exact last "
                    f"step, got {type(value).__name__} (a second copy of genmatch's modules?)"
                )
            probs = value.probs.to(torch.float64)  # (n, L, S)
            # T[x, y] = Π_i p^i(y_i | x)
            per = probs[:, torch.arange(space.length)[:, None], points.T]  # (n, L, n)
            p = p @ per.prod(1)
    return torch.log(p[space.index(x)])
