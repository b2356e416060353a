"""Manifolds with closed-form geometry (geoopt ``Manifold`` subclasses)."""

from genmatch.manifolds.base import AbstractCompactManifold
from genmatch.manifolds.so3 import SO3, hat, so3_exp, so3_log, vee
from genmatch.manifolds.sphere import Hypersphere
from genmatch.manifolds.torus import FlatTorus, wrap

__all__ = [
    "SO3",
    "AbstractCompactManifold",
    "FlatTorus",
    "Hypersphere",
    "hat",
    "so3_exp",
    "so3_log",
    "vee",
    "wrap",
]
