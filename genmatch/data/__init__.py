"""Data sets: seeded two-dimensional toy distributions, a labelled mixture, graph families,
protein backbones from PDB files."""

from __future__ import annotations

from genmatch.data.frames import (
    backbone_frames,
    canonical_frames,
    frames_to_backbone,
    ideal_local_atoms,
)
from genmatch.data.graphs import block_positions, planar_graphs, sbm_graphs, tree_graphs
from genmatch.data.labelled import LabelledMixture
from genmatch.data.structures import (
    AMINO_ACIDS,
    Backbone,
    BackboneSet,
    fragments,
    load_backbones,
    read_backbones,
    sequence_clusters,
    structure_files,
    write_pdb,
)
from genmatch.data.torsions import (
    TRANS,
    backbone_torsions,
    dihedral,
    torsions_to_backbone,
)
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
    "AMINO_ACIDS",
    "Backbone",
    "BackboneSet",
    "backbone_frames",
    "canonical_frames",
    "fragments",
    "frames_to_backbone",
    "ideal_local_atoms",
    "load_backbones",
    "read_backbones",
    "sequence_clusters",
    "structure_files",
    "write_pdb",
    "TRANS",
    "backbone_torsions",
    "dihedral",
    "torsions_to_backbone",
    "EIGHT_GAUSSIANS_RADIUS",
    "EIGHT_GAUSSIANS_STD",
    "LabelledMixture",
    "SPIRALS_MAX_ANGLE",
    "SPIRALS_SCALE",
    "checkerboard",
    "block_positions",
    "planar_graphs",
    "sbm_graphs",
    "eight_gaussians",
    "spirals",
    "tree_graphs",
    "two_moons",
]
