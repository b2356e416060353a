"""Geodesic (Riemannian) Euler."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, final

from genmatch.solvers.riemannian_base import AbstractRiemannianSolver
from genmatch.solvers.tableau import EULER_TABLEAU, ButcherTableau
from genmatch.spaces.manifold import ManifoldSpace


@final
@dataclass(frozen=True, eq=False)
class RiemannianEuler(AbstractRiemannianSolver):
    """Geodesic Euler ``x_{t+h} = exp_x(h P_x u_t(x))``. Order 1, 1 evaluation per step.

    Example:
        >>> import math, torch
        >>> from genmatch.manifolds import Hypersphere
        >>> solver = RiemannianEuler(ManifoldSpace(Hypersphere(3), (3,)))
        >>> east = lambda x, t: torch.tensor([[0.0, 1.0, 0.0]])  # along the equator
        >>> x = solver.step(east, torch.tensor([[1.0, 0.0, 0.0]]), torch.zeros(1), math.pi / 2)
        >>> x.round(decimals=4).abs()  # a quarter of the equator
        tensor([[0., 1., 0.]])
    """

    space: ManifoldSpace
    tableau: ClassVar[ButcherTableau] = EULER_TABLEAU
    order: ClassVar[int] = EULER_TABLEAU.order
    stages: ClassVar[int] = EULER_TABLEAU.stages
