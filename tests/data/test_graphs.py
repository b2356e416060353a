"""Graph families: seeded, of the requested sizes, valid for their family."""

import networkx as nx
import pytest
import torch

from genmatch.data import planar_graphs, sbm_graphs, tree_graphs
from genmatch.metrics import is_planar_connected, is_tree


def _rng(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("family", [planar_graphs, tree_graphs, sbm_graphs])
def test_seeded(family):
    a, b, c = family(5, rng=_rng(0)), family(5, rng=_rng(0)), family(5, rng=_rng(1))
    assert all(nx.utils.graphs_equal(g, h) for g, h in zip(a, b, strict=True))
    assert not all(nx.utils.graphs_equal(g, h) for g, h in zip(a, c, strict=True))


def test_planar_and_trees_are_valid_with_their_sizes():
    planar = planar_graphs(20, sizes=(6, 9), rng=_rng())
    assert all(is_planar_connected(g) and g.number_of_edges() == 3 * len(g) - 6 for g in planar)
    assert {len(g) for g in planar} <= set(range(6, 10)) and len({len(g) for g in planar}) > 1
    trees = tree_graphs(20, sizes=(5, 8), rng=_rng())
    assert all(is_tree(g) for g in trees) and {len(g) for g in trees} <= set(range(5, 9))


def test_sbm_blocks_are_denser_inside():
    graphs = sbm_graphs(50, p_in=0.8, p_out=0.05, rng=_rng())
    inside = across = pairs_in = pairs_out = 0
    for g in graphs:
        block = nx.get_node_attributes(g, "block")
        for u in g:
            for v in g:
                if u < v:
                    same = block[u] == block[v]
                    pairs_in, pairs_out = pairs_in + same, pairs_out + (not same)
                    if g.has_edge(u, v):
                        inside, across = inside + same, across + (not same)
    assert abs(inside / pairs_in - 0.8) < 0.04 and abs(across / pairs_out - 0.05) < 0.02


def test_bad_sizes():
    with pytest.raises(ValueError, match="low <= high"):
        tree_graphs(1, sizes=(5, 3))
