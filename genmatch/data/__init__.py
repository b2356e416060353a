"""Data sets: seeded two-dimensional toy distributions, a labelled mixture, graph families."""

from __future__ import annotations

from genmatch.data.graphs import planar_graphs, sbm_graphs, tree_graphs
from genmatch.data.labelled import LabelledMixture
from genmatch.data.toy import (
    ALL_TOY_SETS,
    EIGHT_GAUSSIANS_RADIUS,
    EIGHT_GAUSSIANS_STD,
    SPIRALS_MAX_ANGLE,
    SPIRALS_SCALE,
    checkerboard,
    eight_gaussians,
    spirals,
    two_moons,
)

__all__ = [
    "ALL_TOY_SETS",
    "EIGHT_GAUSSIANS_RADIUS",
    "EIGHT_GAUSSIANS_STD",
    "LabelledMixture",
    "SPIRALS_MAX_ANGLE",
    "SPIRALS_SCALE",
    "checkerboard",
    "planar_graphs",
    "sbm_graphs",
    "eight_gaussians",
    "spirals",
    "tree_graphs",
    "two_moons",
]
