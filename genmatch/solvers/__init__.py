"""Fixed-step ODE methods used by flow generators."""

from genmatch.solvers.base import AbstractODESolver, VelocityFn
from genmatch.solvers.euler import Euler
from genmatch.solvers.heun import Heun
from genmatch.solvers.midpoint import Midpoint
from genmatch.solvers.riemannian_base import AbstractRiemannianSolver
from genmatch.solvers.riemannian_euler import RiemannianEuler
from genmatch.solvers.riemannian_midpoint import RiemannianMidpoint
from genmatch.solvers.riemannian_rk4 import RiemannianRK4
from genmatch.solvers.rk4 import RK4

__all__ = [
    "RK4",
    "AbstractODESolver",
    "Euler",
    "Heun",
    "Midpoint",
    "VelocityFn",
    "AbstractRiemannianSolver",
    "RiemannianEuler",
    "RiemannianMidpoint",
    "RiemannianRK4",
]
