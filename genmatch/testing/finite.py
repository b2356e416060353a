"""Generator matrices and exact forward equations on finite spaces."""

from __future__ import annotations

import torch
from torch import Tensor

from genmatch.generators.base import AbstractGenerator
from genmatch.paths.base import AbstractDensityPath, PathSample
from genmatch.spaces.discrete import DiscreteSpace
from genmatch.spaces.finite import AbstractFiniteSpace
from genmatch.types import ParamValue, State


def ctmc_generator_matrix(space: DiscreteSpace, rates: Tensor) -> Tensor:
    """The generator matrix ``Q[x, y]`` of factorized rates given at every point of ``space``.

    ``rates[n, i, s]`` is the rate at which position ``i`` of the ``n``-th point of
    ``space.enumerate()`` jumps to token ``s``; ``Q`` has these off the diagonal and
    ``−Σ_y Q[x, y]`` on it, so ``d/dt p_t = p_t Q_t`` is the Kolmogorov forward equation.

    Shapes:
        rates: ``(S^L, L, S)``; returns ``(S^L, S^L)``.
    """
    points = space.enumerate().to(rates.device)
    n, length, s = rates.shape
    if n != points.shape[0]:
        raise ValueError(f"need rates at all {points.shape[0]} points, got {n}")
    off = rates * (1 - torch.nn.functional.one_hot(points, s).to(rates.dtype))
    q = torch.zeros(n, n, dtype=rates.dtype, device=rates.device)
    for i in range(length):
        target = points.clone()[:, None, :].expand(n, s, length).clone()
        target[:, :, i] = torch.arange(s, device=rates.device)
        cols = space.index(target.reshape(-1, length)).reshape(n, s)
        q.scatter_add_(1, cols, off[:, i, :])
    return q - torch.diag(q.sum(1))


def check_rate_matrix(q: Tensor, *, atol: float = 1e-10) -> None:
    """Assert ``q`` is a CTMC generator matrix: off-diagonal ``≥ 0``, rows summing to 0."""
    if not bool(torch.isfinite(q).all()):
        raise AssertionError("the generator matrix has NaN or infinite entries")
    off = q - torch.diag(torch.diagonal(q))
    if bool((off < -atol).any()):
        raise AssertionError(f"negative off-diagonal rate {float(off.min()):.3g}")
    rows = q.sum(1).abs().max()
    if float(rows) > atol * max(1.0, float(q.abs().max())):
        raise AssertionError(f"rows of the generator must sum to 0, max |sum| = {float(rows):.3g}")


def finite_generator_matrix(
    generator: AbstractGenerator, value: ParamValue, space: AbstractFiniteSpace
) -> Tensor:
    """The generator matrix ``Q[x, y] = L_t 1_y (x)`` of a generator on a finite space, from its
    value ``F_t`` at every point of ``space.enumerate()`` (indicator test functions applied
    through :meth:`AbstractGenerator.apply`; works for any generator, factorised or not).

    Shapes:
        value: a value for the ``M`` enumerated points; returns ``(M, M)``.
    """
    states = space.enumerate()
    m = space.batch_size(states)
    columns = []
    for y in range(m):

        def indicator(x: State, y: int = y) -> Tensor:
            return (space.index(x) == y).to(torch.float64)

        columns.append(generator.apply(indicator, states, value).to(torch.float64))
    return torch.stack(columns, 1)


def check_finite_forward_equation(
    path: AbstractDensityPath,
    generator: AbstractGenerator,
    space: AbstractFiniteSpace,
    z: State,
    t: float,
    *,
    atol: float = 1e-10,
) -> tuple[Tensor, Tensor]:
    """The Kolmogorov forward equation ``d/dt p_t(·|z) = p_t(·|z) Q_t^z`` exactly on a finite
    space (GM eq. 9.11 by enumeration), with ``Q_t^z`` the generator matrix of the conditional
    target ``F_t(x|z)`` (:func:`finite_generator_matrix`), which must also be a valid rate
    matrix (off-diagonal ``≥ 0``, rows summing to 0).

    Args:
        path: a conditional path with a density w.r.t. the counting measure.
        generator: the generator under test.
        space: the finite space.
        z: the latent, a batch of one point.
        t: the time, inside ``(0, 1)``.
        atol: tolerance of every identity (relative to the largest rate where above 1).

    Returns:
        ``(d/dt p_t, p_t Q_t)``, two ``(M,)`` tensors.
    """
    states = space.enumerate()
    m = space.batch_size(states)
    zz = space.take(z, torch.zeros(m, dtype=torch.long, device=space.reference(z).device))
    tt = torch.full((m,), float(t), dtype=torch.float64)
    with torch.no_grad():  # the support is constant on (0, 1): p = ∂_t p = 0 outside it
        support = torch.isfinite(path.log_prob(states, tt, zz)).nonzero()[:, 0]
    inside, z_in = space.take(states, support), space.take(zz, support)
    p_in, dp_in = torch.func.jvp(
        lambda s: path.log_prob(inside, s, z_in).exp(), (tt[support],), (tt[support] * 0 + 1,)
    )  # type: ignore[misc]
    p = torch.zeros(m, dtype=torch.float64).index_copy(0, support, p_in.to(torch.float64))
    dp = torch.zeros(m, dtype=torch.float64).index_copy(0, support, dp_in.to(torch.float64))
    value = generator.conditional_target(path, PathSample(x_t=states, t=tt, z=zz))
    q = finite_generator_matrix(generator, value, space)
    check_rate_matrix(q, atol=atol)
    flow = p @ q
    scale = max(1.0, float(q.abs().max()))
    err = float((dp - flow).abs().max())
    if not err <= atol * scale:  # NaN fails too
        raise AssertionError(
            f"Kolmogorov forward equation violated on the finite space at t={t}: "
            f"max |d/dt p − p Q| = {err:.3e}"
        )
    return dp, flow
