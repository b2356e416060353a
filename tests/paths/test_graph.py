"""GraphMixturePath: the density by hand, zero across sizes."""

import math

import networkx as nx
import pytest
import torch

from genmatch.paths import GraphMixturePath, LinearKappa
from genmatch.sources import GraphSource
from genmatch.spaces import GraphSpace

SPACE = GraphSpace(2, 3)


def _data():
    a = nx.Graph()
    a.add_nodes_from([(0, {"type": 1}), (1, {"type": 0}), (2, {"type": 1})])
    a.add_edge(0, 1, type=2)
    return SPACE.from_networkx([a, nx.path_graph(2)])


def test_path_density_by_hand():
    data = _data()
    space = SPACE
    source = GraphSource.marginal(space, data)
    path = GraphMixturePath(space, source, LinearKappa())
    t = torch.tensor([0.25, 0.25], dtype=torch.float64)
    # x: graph 0 with node 1 changed to type 1 and no edge; graph 1 as in the data
    x = space.with_variables(data, torch.tensor([1, 1, 1, 0, 0]), torch.tensor([0, 0, 0, 1]))
    lp = path.log_prob(x, t, data)
    k = 0.25
    m = lambda same, q: k * same + (1 - k) * q  # noqa: E731
    graph0 = [m(1, 2 / 5), m(0, 2 / 5), m(1, 2 / 5), m(0, 1 / 2), m(1, 1 / 2), m(1, 1 / 2)]
    graph1 = [m(1, 3 / 5), m(1, 3 / 5), m(1, 1 / 4)]
    expected = [sum(math.log(p) for p in graph0), sum(math.log(p) for p in graph1)]
    assert lp.tolist() == pytest.approx(expected, abs=1e-12)
    swapped = space.take(data, torch.tensor([1, 0]))
    assert torch.isneginf(path.log_prob(x, t, swapped)).all()  # other sizes: density 0


def test_samples_at_the_ends():
    data = _data()
    path = GraphMixturePath(SPACE, GraphSource.marginal(SPACE, data), LinearKappa())
    rng = torch.Generator().manual_seed(0)
    end = path.sample(data, torch.ones(2), generator=rng)
    assert torch.equal(SPACE.to_dense(end.x_t).edge_types, SPACE.to_dense(data).edge_types)
    start = path.sample(data, torch.zeros(2), generator=rng)
    assert torch.equal(SPACE.to_dense(start.x_t).edge_types, SPACE.to_dense(start.x_0).edge_types)
    assert torch.equal(SPACE.num_nodes(start.x_0), SPACE.num_nodes(data))
