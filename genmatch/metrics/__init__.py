"""Sample-quality metrics: between point clouds in ``R^d`` (energy distance, MMD, sliced
Wasserstein, the Fréchet distance of Gaussian fits), between samples on a manifold, between
sets of graphs, and of protein backbones and sequences."""

from genmatch.metrics.euclidean import (
    DEFAULT_RBF_BANDWIDTHS,
    energy_distance,
    rbf_mmd,
    sliced_wasserstein,
)
from genmatch.metrics.frechet import frechet_distance, gaussian_frechet_distance
from genmatch.metrics.graph import (
    GraphMetrics,
    PositionMetrics,
    clustering_histogram,
    degree_histogram,
    gaussian_tv_mmd,
    graph_metrics,
    is_planar_connected,
    is_tree,
    novelty,
    position_metrics,
    spectrum_histogram,
    uniqueness,
)
from genmatch.metrics.manifold import (
    DEFAULT_GEODESIC_BANDWIDTHS,
    geodesic_distances,
    geodesic_mmd,
)
from genmatch.metrics.protein import (
    ChainValidity,
    GlycinePhi,
    backbone_dihedrals,
    ca_distances,
    chain_validity,
    clash_rate,
    composition,
    composition_tv,
    dihedral,
    dihedral_mmd,
    glycine_phi,
    kabsch_rmsd,
    sequence_recovery,
)
from genmatch.metrics.sbm import SBMFit, SBMTest, binomial_test

__all__ = [
    "PositionMetrics",
    "SBMFit",
    "SBMTest",
    "binomial_test",
    "position_metrics",
    "ChainValidity",
    "GlycinePhi",
    "backbone_dihedrals",
    "ca_distances",
    "chain_validity",
    "clash_rate",
    "composition",
    "composition_tv",
    "dihedral",
    "dihedral_mmd",
    "glycine_phi",
    "kabsch_rmsd",
    "sequence_recovery",
    "GraphMetrics",
    "clustering_histogram",
    "degree_histogram",
    "gaussian_tv_mmd",
    "graph_metrics",
    "is_planar_connected",
    "is_tree",
    "novelty",
    "spectrum_histogram",
    "uniqueness",
    "DEFAULT_GEODESIC_BANDWIDTHS",
    "DEFAULT_RBF_BANDWIDTHS",
    "energy_distance",
    "frechet_distance",
    "gaussian_frechet_distance",
    "geodesic_distances",
    "geodesic_mmd",
    "rbf_mmd",
    "sliced_wasserstein",
]
