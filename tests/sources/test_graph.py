"""GraphSource: frequencies and sizes by hand, clear errors."""

import networkx as nx
import pytest
import torch

from genmatch.sources import CategoricalSource, GaussianSource, GraphSource
from genmatch.spaces import EuclideanSpace, GraphSpace

SPACE = GraphSpace(2, 3)


def _data():
    a = nx.Graph()
    a.add_nodes_from([(0, {"type": 1}), (1, {"type": 0}), (2, {"type": 1})])
    a.add_edge(0, 1, type=2)
    b = nx.path_graph(2)
    return SPACE.from_networkx([a, b])


def test_marginal_prior_counts_every_pair():
    source = GraphSource.marginal(SPACE, _data())
    # nodes: types 1, 0, 1, 0, 0 -> q_V = (3/5, 2/5); pairs: 3 + 1, types 2, 0, 0, 1
    assert source.nodes.probs[0].tolist() == pytest.approx([3 / 5, 2 / 5])
    assert source.edges.probs[0].tolist() == pytest.approx([2 / 4, 1 / 4, 1 / 4])
    assert source.size_probs.tolist() == [0, 0, 0.5, 0.5]
    x = source.sample(2000, generator=torch.Generator().manual_seed(0))
    SPACE.check(x)
    sizes = SPACE.num_nodes(x).float()
    assert (
        set(sizes.tolist()) == {2.0, 3.0} and abs(float((sizes == 2).float().mean()) - 0.5) < 0.04
    )
    v = SPACE.variables(x)
    assert abs(float((v.nodes == 0).float().mean()) - 0.6) < 0.03
    assert abs(float((v.edges == 0).float().mean()) - 0.5) < 0.03


def test_errors():
    data = _data()
    with pytest.raises(ValueError, match="needs a DiscreteSpace with mask=True"):
        GraphSource.masked(SPACE, data)
    src = GraphSource.marginal(SPACE, data)
    with pytest.raises(ValueError, match="0 at size 0"):
        GraphSource(SPACE, src.nodes, src.edges, torch.tensor([0.5, 0.5]))
    with pytest.raises(ValueError, match="node and edge sources"):
        GraphSource(SPACE, src.edges, src.nodes, src.size_probs)
    with pytest.raises(ValueError, match="node counts must be >= 1"):
        src.with_sizes(torch.tensor([2, 0]))
    pos = GraphSpace(2, 3, position_dim=2)
    with pytest.raises(ValueError, match="positions must be an AbstractSource on R"):
        GraphSource(pos, src.nodes, CategoricalSource.uniform(pos.edge_space), src.size_probs)
    with pytest.raises(ValueError, match="the space has no positions"):
        GraphSource(SPACE, src.nodes, src.edges, src.size_probs, GaussianSource(EuclideanSpace(2)))
    with pytest.raises(ValueError, match=r"draws points of shape \(3,\)"):
        edges = CategoricalSource.uniform(pos.edge_space)
        GraphSource(pos, src.nodes, edges, src.size_probs, GaussianSource(EuclideanSpace(3)))
