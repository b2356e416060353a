"""Public contract checks: test your own spaces, schedules, divergences and generators the way
genmatch tests its own.

Each ``check_*`` function raises ``AssertionError`` with a message naming the violated
identity, and returns the measured quantity so tests can report it.
"""

from genmatch.testing.divergences import (
    check_bregman_divergence,
)
from genmatch.testing.finite import (
    check_finite_forward_equation,
    check_rate_matrix,
    ctmc_generator_matrix,
    finite_generator_matrix,
)
from genmatch.testing.forward import (
    DensityPoints,
    MovingPoints,
    QuadratureRule,
    check_continuity_equation,
    check_forward_equation,
    continuity_residual,
    forward_equation_gap,
    kolmogorov_forward_gap,
)
from genmatch.testing.manifolds import (
    check_geodesic_path,
    manifold_continuity_residual,
)
from genmatch.testing.schedules import (
    check_schedule,
)
from genmatch.testing.solvers import (
    empirical_order,
)
from genmatch.testing.spaces import (
    check_manifold_space,
    check_state_space,
)

__all__ = [
    "DensityPoints",
    "MovingPoints",
    "QuadratureRule",
    "check_bregman_divergence",
    "check_continuity_equation",
    "check_finite_forward_equation",
    "check_forward_equation",
    "check_geodesic_path",
    "check_manifold_space",
    "check_rate_matrix",
    "check_schedule",
    "check_state_space",
    "continuity_residual",
    "ctmc_generator_matrix",
    "empirical_order",
    "finite_generator_matrix",
    "forward_equation_gap",
    "kolmogorov_forward_gap",
    "manifold_continuity_residual",
]
