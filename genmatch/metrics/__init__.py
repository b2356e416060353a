"""Sample-quality metrics: between point clouds in ``R^d`` and between samples on a manifold."""

from genmatch.metrics.euclidean import (
    DEFAULT_RBF_BANDWIDTHS,
    energy_distance,
    rbf_mmd,
    sliced_wasserstein,
)
from genmatch.metrics.manifold import (
    DEFAULT_GEODESIC_BANDWIDTHS,
    geodesic_distances,
    geodesic_mmd,
)

__all__ = [
    "DEFAULT_GEODESIC_BANDWIDTHS",
    "DEFAULT_RBF_BANDWIDTHS",
    "energy_distance",
    "geodesic_distances",
    "geodesic_mmd",
    "rbf_mmd",
    "sliced_wasserstein",
]
