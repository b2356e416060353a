"""Fixed-step ODE methods used by flow generators: explicit Runge–Kutta methods given by their
Butcher tableaux, in ``R^d`` and on Riemannian manifolds."""

from genmatch.solvers.base import AbstractODESolver, VelocityFn
from genmatch.solvers.euler import Euler
from genmatch.solvers.heun import Heun
from genmatch.solvers.midpoint import Midpoint
from genmatch.solvers.riemannian_base import AbstractRiemannianSolver
from genmatch.solvers.riemannian_euler import RiemannianEuler
from genmatch.solvers.riemannian_midpoint import RiemannianMidpoint
from genmatch.solvers.riemannian_rk4 import RiemannianRK4
from genmatch.solvers.rk4 import RK4
from genmatch.solvers.runge_kutta import AbstractRungeKutta
from genmatch.solvers.tableau import (
    EULER_TABLEAU,
    HEUN_TABLEAU,
    MIDPOINT_TABLEAU,
    RK4_TABLEAU,
    ButcherTableau,
)

__all__ = [
    "EULER_TABLEAU",
    "HEUN_TABLEAU",
    "MIDPOINT_TABLEAU",
    "RK4",
    "RK4_TABLEAU",
    "AbstractODESolver",
    "AbstractRungeKutta",
    "ButcherTableau",
    "Euler",
    "Heun",
    "Midpoint",
    "VelocityFn",
    "AbstractRiemannianSolver",
    "RiemannianEuler",
    "RiemannianMidpoint",
    "RiemannianRK4",
]
