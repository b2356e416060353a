"""Graph metrics against values computed by hand on small graphs."""

import math

import networkx as nx
import pytest
import torch

from genmatch.metrics import (
    clustering_histogram,
    degree_histogram,
    gaussian_tv_mmd,
    graph_metrics,
    is_planar_connected,
    is_tree,
    novelty,
    spectrum_histogram,
    uniqueness,
)

P3, K3 = nx.path_graph(3), nx.complete_graph(3)


def test_histograms_by_hand():
    assert degree_histogram(P3).tolist() == pytest.approx([0, 2 / 3, 1 / 3])
    assert degree_histogram(K3).tolist() == [0, 0, 1]
    c = clustering_histogram(K3)
    assert float(c[-1]) == 1 and float(c.sum()) == 1
    assert float(clustering_histogram(P3)[0]) == 1
    # normalised Laplacian eigenvalues: P3 {0, 1, 2}, K3 {0, 3/2, 3/2}
    s_p, s_k = spectrum_histogram(P3, bins=4), spectrum_histogram(K3, bins=4)
    assert s_p.tolist() == pytest.approx([1 / 3, 0, 1 / 3, 1 / 3])
    assert s_k.tolist() == pytest.approx([1 / 3, 0, 0, 2 / 3])


def test_mmds_by_hand():
    # degree: TV([0, 2/3, 1/3], [0, 0, 1]) = 2/3, σ = 1
    expected = 2 - 2 * math.exp(-(4 / 9) / 2)
    degree = gaussian_tv_mmd([degree_histogram(P3)], [degree_histogram(K3)])
    assert degree == pytest.approx(expected, abs=1e-12)
    # two against one: E k(X, X') over the 2×2 pairs of {P3, K3}
    mixed = gaussian_tv_mmd([degree_histogram(P3), degree_histogram(K3)], [degree_histogram(K3)])
    k = math.exp(-(4 / 9) / 2)
    assert mixed == pytest.approx((2 + 2 * k) / 4 + 1 - 2 * (k + 1) / 2, abs=1e-12)
    assert gaussian_tv_mmd([degree_histogram(P3)], [degree_histogram(nx.path_graph(3))]) == 0
    metrics = graph_metrics([P3], [K3], train=[K3], valid=is_tree)
    assert metrics.degree == pytest.approx(expected, abs=1e-12)
    assert metrics.clustering == pytest.approx(2 - 2 * math.exp(-1 / (2 * 0.01)), abs=1e-12)
    # spectra TV = ½(1/3 + 1/3 + 2/3 − 0 …) = 2/3 with the default 200 bins
    assert metrics.spectral == pytest.approx(expected, abs=1e-12)


def test_validity_uniqueness_novelty_by_hand():
    relabelled = nx.relabel_nodes(P3, {0: 2, 1: 0, 2: 1})
    graphs = [P3, relabelled, K3, nx.star_graph(3)]
    assert uniqueness(graphs) == 3 / 4
    assert novelty(graphs, [K3, nx.path_graph(3)]) == 1 / 4
    m = graph_metrics(graphs, [K3], train=[K3], valid=is_tree)
    # trees: P3, P3, star; unique: P3, K3, star; novel: all but K3 → V·U·N: P3 (first), star
    assert (m.validity, m.uniqueness, m.novelty, m.vun) == (3 / 4, 3 / 4, 3 / 4, 2 / 4)
    assert is_planar_connected(K3) and not is_planar_connected(nx.complete_graph(5))
    assert not is_planar_connected(nx.empty_graph(2))


def test_errors():
    with pytest.raises(ValueError, match="non-empty"):
        gaussian_tv_mmd([], [torch.ones(1)])
    with pytest.raises(ValueError, match="no generated graphs"):
        graph_metrics([], [K3], [K3], is_tree)
