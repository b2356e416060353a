"""The SBM validity test: exact binomial p-values, a hand-built planted partition, its level on
true SBM samples and its power against Erdős–Rényi graphs of the same density."""

import networkx as nx
import pytest
import torch

from genmatch.data import sbm_graphs
from genmatch.metrics import SBMTest, binomial_test


def test_binomial_test_by_hand():
    assert binomial_test(9, 10, 0.5) == pytest.approx(22 / 1024, abs=1e-15)  # K ≤ 1 or K ≥ 9
    assert binomial_test(5, 10, 0.5) == pytest.approx(1.0, abs=1e-12)
    # p = 0.2, m = 3: P(0..3) = .512 .384 .096 .008; k = 2 sums the counts no more likely
    assert binomial_test(2, 3, 0.2) == pytest.approx(0.096 + 0.008, abs=1e-12)
    assert binomial_test(0, 0, 0.3) == 1.0
    assert binomial_test(0, 5, 0.0) == 1.0 and binomial_test(1, 5, 0.0) == 0.0
    with pytest.raises(ValueError, match=r"k must be in \[0, m\]"):
        binomial_test(4, 3, 0.5)


def _planted():
    """Blocks {0..5} and {6..11}: 10 of 15 pairs inside each, 1 of 36 across."""
    g = nx.Graph()
    g.add_nodes_from(range(12))
    inside = [(0, 1), (0, 2), (0, 3), (1, 2), (1, 4), (2, 5), (3, 4), (3, 5), (4, 5), (1, 5)]
    g.add_edges_from(inside)
    g.add_edges_from((i + 6, j + 6) for i, j in inside)
    g.add_edge(2, 9)
    perm = torch.randperm(12, generator=torch.Generator().manual_seed(0)).tolist()
    return nx.relabel_nodes(g, dict(enumerate(perm))), perm


def test_planted_partition_is_recovered_and_counted():
    g, perm = _planted()
    fit = SBMTest(2, 0.7, 0.05).fit(g)
    truth = torch.tensor([int(perm.index(u) >= 6) for u in g.nodes])
    assert torch.equal(fit.blocks, truth) or torch.equal(fit.blocks, 1 - truth)
    assert fit.edges.tolist() == [[10.0, 1.0], [1.0, 10.0]]
    assert fit.pairs.tolist() == [[15.0, 36.0], [36.0, 15.0]]
    assert fit.p_values.shape == (3,) and fit.valid
    # the same graph is no sample of SBM(0.7, 0.5): 1 of 36 pairs across rejects
    assert not SBMTest(2, 0.7, 0.5).fit(g).valid
    # blocks of 6 are outside the allowed sizes 7..9
    assert not SBMTest(2, 0.7, 0.05, block_sizes=(7, 9))(g)


def test_level_on_sbm_samples_and_power_against_erdos_renyi():
    """At level 0.05, true SBM samples pass at least 90 % of the time (60 graphs of two blocks
    of 12–16 nodes; 57/60 pass at this seed), Erdős–Rényi graphs of the same sizes and mean
    density fail (0/60 pass at this seed)."""
    test = SBMTest(2, 0.7, 0.05, level=0.05)
    graphs = sbm_graphs(60, block_sizes=(12, 16), rng=torch.Generator().manual_seed(0))
    assert sum(test(g) for g in graphs) >= 54
    density = sum(nx.density(g) for g in graphs) / len(graphs)
    er = [nx.gnp_random_graph(g.number_of_nodes(), density, seed=i) for i, g in enumerate(graphs)]
    assert sum(test(g) for g in er) <= 3


def test_small_graphs_and_bad_input():
    assert not SBMTest(3, 0.7, 0.05)(nx.path_graph(2))  # fewer nodes than blocks
    with pytest.raises(ValueError, match="blocks must be an integer >= 1"):
        SBMTest(0, 0.7, 0.05)
    with pytest.raises(ValueError, match=r"level must be in \(0, 1\)"):
        SBMTest(2, 0.7, 0.05, level=1.0)
    with pytest.raises(ValueError, match="p_out must be a probability"):
        SBMTest(2, 0.7, 1.5)
