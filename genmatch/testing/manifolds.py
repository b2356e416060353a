"""Contract checks for geodesic paths and Riemannian continuity equations."""

from __future__ import annotations

import torch
from torch import Tensor

from genmatch.likelihood.riemannian_divergence import riemannian_divergence
from genmatch.paths.base import PathSample
from genmatch.paths.geodesic import GeodesicPath


def check_geodesic_path(
    path: GeodesicPath, x_0: Tensor, x_1: Tensor, t: Tensor, *, atol: float
) -> Tensor:
    """Endpoints, tangency, and closed-form velocity = ``torch.func.jvp`` velocity.

    Checks ``X_0 = x_0`` and ``X_1 = x_1``, that ``X_t`` is on the manifold, and that
    :meth:`GeodesicPath.conditional_velocity` (with and without ``x_0``) is tangent and equals
    :meth:`GeodesicPath.autodiff_velocity` at ``t`` (``(batch,)``, inside ``(0, 1)``).

    Returns:
        The closed-form velocity, ``(batch, *event)``.
    """
    space = path.space
    name = type(space.manifold).__name__

    def close(a: Tensor, b: Tensor, what: str) -> None:
        err = (a - b).abs().max()
        if not bool(err <= atol):
            raise AssertionError(f"{name}: {what} violated (max error {float(err):.3e})")

    close(path.interpolate(x_0, x_1, torch.zeros_like(t)), x_0, "X_0 = x_0")
    close(path.interpolate(x_0, x_1, torch.ones_like(t)), x_1, "X_1 = x_1")
    sample = path.sample(x_1, t, x_0=x_0)
    space.check(sample.x_t)
    u = path.conditional_velocity(sample)
    u_z = path.conditional_velocity(PathSample(x_t=sample.x_t, t=t, z=x_1))
    space.check_tangent(sample.x_t, u)
    auto = path.autodiff_velocity(x_0, x_1, t)
    close(u, auto, "closed-form velocity (x_0 given) = jvp velocity")
    close(u_z, auto, "closed-form velocity u_t(x|x_1) = jvp velocity")
    return u


def manifold_continuity_residual(path: GeodesicPath, x: Tensor, t: Tensor, z: Tensor) -> Tensor:
    """``∂_t log p_t(x|z) + div_g u_t(x|z) + ⟨u_t(x|z), ∇_g log p_t(x|z)⟩_g`` on a manifold.

    The continuity equation on ``M`` (GM eq. 9.21 with the Riemannian divergence and gradient)
    divided by ``p``: zero iff the conditional velocity ``u_t(·|z)`` of ``path`` transports
    its density. Points must lie inside the support of ``p_t(·|z)``.

    Shapes:
        x, z: ``(batch, *event)``; t: ``(batch,)``; returns ``(batch,)``.
    """
    space = path.space

    def velocity(y: Tensor, s: Tensor) -> Tensor:
        return path.conditional_velocity(PathSample(x_t=y, t=s, z=z))

    div = riemannian_divergence(space, velocity, x, t)
    with torch.enable_grad():
        xg = x.detach().requires_grad_(True)
        log_p = path.log_prob(xg, t, z).sum()
        if log_p.requires_grad:  # a flat density (torus) does not depend on x
            (egrad,) = torch.autograd.grad(log_p, xg, allow_unused=True, materialize_grads=True)
        else:
            egrad = torch.zeros_like(x)
    grad_log_p = space.riemannian_gradient(x, egrad)
    return path.d_log_prob_dt(x, t, z) + div + space.inner(x, velocity(x, t), grad_log_p)
