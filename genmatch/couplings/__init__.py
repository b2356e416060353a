"""Couplings ``π(x_0, x_1)`` of source and data (GM §9.1).

A coupling takes a batch of source samples and a batch of data samples and returns them
paired. The independent coupling keeps the pairing it is given; the optimal-transport
couplings re-pair a mini-batch for the squared Euclidean cost:

- :class:`ExactOTCoupling` solves the discrete OT problem exactly (POT's network simplex,
  ``O(n³)``: seconds at a batch of 4 096);
- :class:`SinkhornOTCoupling` solves it entropically (POT's Sinkhorn) and draws each
  partner from its row of the plan;
- :class:`BlockOTCoupling` splits both batches into matched blocks by recursive median
  bisection and assigns each block exactly (``O(n log n + n b²)`` for blocks of ``b``):
  a permutation close to the exact one at a few milliseconds per batch of 4 096.

POT and SciPy run on the host, so the OT couplings synchronise with an accelerator once per
batch.
"""

from genmatch.couplings.base import AbstractCoupling
from genmatch.couplings.batch import CoupledBatch
from genmatch.couplings.block import BlockOTCoupling
from genmatch.couplings.exact import ExactOTCoupling
from genmatch.couplings.independent import IndependentCoupling
from genmatch.couplings.sinkhorn import SinkhornOTCoupling

__all__ = [
    "AbstractCoupling",
    "BlockOTCoupling",
    "CoupledBatch",
    "ExactOTCoupling",
    "IndependentCoupling",
    "SinkhornOTCoupling",
]
