"""The graph generators' parametrization and divergence, exactly on hand-built batches.

Two graphs (2 and 3 nodes) with 2 node types and 2 edge types: the test operator against
hand-computed differences of a test function that weighs every variable differently, the
inner product, scaling, the posterior mean over (graph, datum) pairs, the per-graph sums and
the weighted divergence terms, with and without node positions.
"""

import networkx as nx
import pytest
import torch

from genmatch.divergences import GeneralizedKL, SquaredEuclidean
from genmatch.generators import FlowGenerator, PosteriorValue
from genmatch.generators.ctmc import PosteriorParametrization
from genmatch.generators.ctmc_rate import RateParametrization
from genmatch.generators.graph_parametrization import (
    GraphDivergence,
    GraphParametrization,
    GraphValue,
    _posterior_rows,
    _weighted_sum,
    sum_per_graph,
)
from genmatch.paths import LinearKappa
from genmatch.spaces import GraphSpace

D = torch.float64
SPACE = GraphSpace(2, 2)
POS = GraphSpace(2, 2, position_dim=2)


def _t(values):
    return torch.tensor(values, dtype=D)


def _graphs(space=SPACE):
    """G0: nodes of types (0, 1) joined; G1: types (1, 0, 1), only the pair (0, 1) joined."""
    a, b = nx.path_graph(2), nx.empty_graph(3)
    b.add_edge(0, 1)
    for g, types in ((a, (0, 1)), (b, (1, 0, 1))):
        for u, k in zip(g, types, strict=True):
            g.nodes[u]["type"] = k
            g.nodes[u]["pos"] = [0.5 * u, -float(k)]
    return space.from_networkx([a, b], dtype=D)


def _local(graph):
    """Each variable's index within its graph, plus one."""
    if graph.numel() == 0:
        return torch.zeros(0, dtype=D)
    first = torch.zeros(int(graph.max()) + 2, dtype=torch.long)
    first[1:] = torch.bincount(graph).cumsum(0)
    return (torch.arange(graph.shape[0]) - first[graph] + 1).to(D)


def _f(space):
    """``f(G) = Σ_i (i + 1) type_i + 10 Σ_p (p + 1) type_p`` (local indices) ``+ Σ |r_i|²``."""

    def f(x):
        v = space.variables(x)
        nodes = _local(v.node_graph) * v.nodes.to(D)
        pairs = 10 * _local(v.pair_graph) * v.edges.to(D)
        out = sum_per_graph(nodes, v.node_graph, v.num_graphs)
        out = out + sum_per_graph(pairs, v.pair_graph, v.num_graphs)
        if space.position_dim:
            out = out + sum_per_graph((x.pos**2).sum(1), v.node_graph, v.num_graphs)
        return out

    return f


#: ``K f`` by hand: node ``v`` to ``y``: ``(y − x_v)(v + 1)``; pair ``p``: ``10 (y − x_p)(p + 1)``
NODE_DIFFS = _t([[[0, 1]], [[-2, 0]], [[-1, 0]], [[0, 2]], [[-3, 0]]])
EDGE_DIFFS = _t([[[-10, 0]], [[-10, 0]], [[0, 20]], [[0, 30]]])


def _rate_param(space=SPACE):
    positions = FlowGenerator().parametrization if space.position_dim else None
    return GraphParametrization(
        space,
        RateParametrization(space.node_space),
        RateParametrization(space.edge_space),
        positions,
    )


def test_sum_per_graph_and_weighted_sums():
    out = sum_per_graph(_t([1, 2, 3, 4]), torch.tensor([0, 2, 2, 0]), 4)
    assert torch.equal(out, _t([5, 0, 5, 0]))
    values = _t([[1, 2], [3, 4], [5, 6]])
    out = _weighted_sum(values, torch.tensor([0.5, 2.0, 1.0]), torch.tensor([1, 1, 0]), 3)
    assert out.dtype == D
    assert torch.equal(out, _t([[5, 6], [6.5, 9], [0, 0]]))
    # float32 values with float64 weights stay float32
    low = _weighted_sum(values.float(), _t([0.5, 2.0, 1.0]), torch.tensor([1, 1, 0]), 3)
    assert low.dtype == torch.float32 and torch.equal(low, out.float())
    value = PosteriorValue(_t([[[1, 0]], [[0, 1]]]), _t([2, 4]), speed=_t([[9], [9]]))
    out = _weighted_sum(value, _t([0.25, 0.75]), torch.tensor([0, 0]), 1)
    assert torch.equal(out.probs, _t([[[0.25, 0.75]]]))
    assert torch.equal(out.intensity, _t([3.5]))
    assert out.speed is None


def test_posterior_rows_of_graph_major_pairs():
    """``B = 2`` graphs × ``n = 2`` data; graph 0 has 2 variables, graph 1 has 3."""
    graph = torch.tensor([0, 0, 1, 1, 2, 2, 2, 3, 3, 3])
    rows, count, row_graph = _posterior_rows(graph, 2, 2)
    assert torch.equal(rows, torch.tensor([0, 1, 0, 1, 2, 3, 4, 2, 3, 4]))
    assert count == 5
    assert torch.equal(row_graph, torch.tensor([0, 0, 1, 1, 1]))
    rows, count, row_graph = _posterior_rows(torch.tensor([0, 1, 2, 2, 3, 3]), 2, 2)
    # graph 0 owns 1 variable, graph 1 owns 2
    assert torch.equal(rows, torch.tensor([0, 0, 1, 2, 1, 2]))
    assert count == 3 and torch.equal(row_graph, torch.tensor([0, 1, 1]))
    # the last graph has no variables (e.g. no pairs)
    rows, count, row_graph = _posterior_rows(torch.tensor([0, 1]), 2, 2)
    assert torch.equal(rows, torch.tensor([0, 0])) and count == 1
    assert torch.equal(row_graph, torch.tensor([0]))


def test_head_shapes_are_namespaced():
    assert _rate_param().head_shapes(SPACE) == {"nodes/rate": (1, 2), "edges/rate": (1, 2)}
    assert _rate_param(POS).head_shapes(POS) == {
        "nodes/rate": (1, 2),
        "edges/rate": (1, 2),
        "positions/velocity": (2,),
    }


def test_constrain_routes_heads_and_kills_the_unused_node_type():
    """One node type without a mask: the node space's second type gets probability 0."""
    space = GraphSpace(1, 3)
    x = space.from_networkx([nx.path_graph(2)])
    param = GraphParametrization(
        space,
        PosteriorParametrization(space.node_space, LinearKappa()),
        PosteriorParametrization(space.edge_space, LinearKappa()),
    )
    raw = {"nodes/logits": torch.zeros(2, 1, 2, dtype=D), "edges/logits": _t([[[0.0, 1e9, 0.0]]]),
           "other": torch.zeros(1)}  # fmt: skip
    value = param.constrain(raw, x, _t([0.5]))
    assert torch.equal(value.nodes.probs, _t([[[1.0, 0.0]], [[1.0, 0.0]]]))
    assert torch.equal(value.edges.probs, _t([[[0.0, 1.0, 0.0]]]))  # edge type 1 is alive
    assert torch.equal(value.nodes.intensity, _t([2.0, 2.0]))
    assert torch.equal(value.node_graph, torch.tensor([0, 0]))
    assert torch.equal(value.pair_graph, torch.tensor([0]))
    assert value.num_graphs == 1 and value.positions is None
    with pytest.raises(
        KeyError,
        match=r"^\"the network returned no head for 'edges', got \['edgeslogits', 'nodes/logits'\]",
    ):
        param.constrain({"nodes/logits": raw["nodes/logits"], "edgeslogits": 0}, x, _t([0.5]))


def test_constrain_gives_each_variable_its_graphs_time_and_the_positions():
    x = _graphs(POS)
    param = GraphParametrization(
        POS,
        PosteriorParametrization(POS.node_space, LinearKappa()),
        PosteriorParametrization(POS.edge_space, LinearKappa()),
        FlowGenerator().parametrization,
    )
    velocity = torch.arange(10, dtype=D).reshape(5, 2)
    raw = {
        "nodes/logits": torch.zeros(5, 1, 2, dtype=D),
        "edges/logits": torch.zeros(4, 1, 2, dtype=D),
        "positions/velocity": velocity,
    }
    value = param.constrain(raw, x, _t([0.5, 0.75]))
    assert torch.equal(value.nodes.intensity, _t([2, 2, 4, 4, 4]))
    assert torch.equal(value.edges.intensity, _t([2, 4, 4, 4]))
    assert torch.equal(value.nodes.probs, torch.full((5, 1, 2), 0.5, dtype=D))
    assert value.positions is velocity
    with pytest.raises(KeyError, match="no head for 'positions'"):
        param.constrain({k: a for k, a in raw.items() if k != "positions/velocity"}, x, _t([0, 0]))


def test_test_operator_is_every_single_variable_change():
    x = _graphs()
    ops = _rate_param().test_operator(_f(SPACE), x)
    assert set(ops) == {"nodes", "edges"}
    assert torch.equal(ops["nodes"], NODE_DIFFS)
    assert torch.equal(ops["edges"], EDGE_DIFFS)


def test_test_operator_with_more_node_than_edge_states_and_one_pair():
    space = GraphSpace(3, 2)
    g = nx.path_graph(2)
    g.nodes[0]["type"], g.nodes[1]["type"] = 2, 0
    ops = GraphParametrization(
        space, RateParametrization(space.node_space), RateParametrization(space.edge_space)
    ).test_operator(_f(space), space.from_networkx([g]))
    assert torch.equal(ops["nodes"], _t([[[-2, -1, 0]], [[0, 2, 4]]]))
    assert torch.equal(ops["edges"], _t([[[-10, 0]]]))


def test_test_operator_when_the_last_graph_has_no_pairs_or_no_nodes():
    x = SPACE.from_networkx([nx.path_graph(2), nx.empty_graph(1)])
    ops = _rate_param().test_operator(_f(SPACE), x)
    assert torch.equal(ops["nodes"], _t([[[0, 1]], [[0, 2]], [[0, 1]]]))
    assert torch.equal(ops["edges"], _t([[[-10, 0]]]))
    x = SPACE.from_networkx([nx.path_graph(2), nx.path_graph(2), nx.empty_graph(1)])
    ops = _rate_param().test_operator(_f(SPACE), x)
    assert torch.equal(ops["edges"], _t([[[-10, 0]], [[-10, 0]]]))
    empty = SPACE.from_networkx([nx.empty_graph(0)])
    ops = _rate_param().test_operator(_f(SPACE), empty)
    assert set(ops) == {"nodes", "edges"}
    assert ops["nodes"].shape == (0, 1, 2) and ops["edges"].shape == (0, 1, 2)


def test_test_operator_on_graphs_without_pairs_and_with_positions():
    single = SPACE.from_networkx([nx.empty_graph(1), nx.empty_graph(1)])
    ops = _rate_param().test_operator(_f(SPACE), single)
    assert ops["edges"].shape == (0, 1, 2) and ops["edges"].dtype == D
    assert torch.equal(ops["nodes"], _t([[[0, 1]], [[0, 1]]]))
    x = _graphs(POS)
    ops = _rate_param(POS).test_operator(_f(POS), x)
    assert torch.equal(ops["nodes"], NODE_DIFFS) and torch.equal(ops["edges"], EDGE_DIFFS)
    torch.testing.assert_close(ops["positions"], 2 * x.pos, rtol=1e-14, atol=0.0)


def _rates():
    nodes = _t([[[0, 1]], [[2, 0]], [[3, 0]], [[0, 4]], [[5, 0]]])
    edges = _t([[[6, 0]], [[7, 0]], [[0, 8]], [[0, 9]]])
    return nodes, edges


def test_inner_sums_every_variable_into_its_graph():
    x = _graphs(POS)
    nodes, edges = _rates()
    velocity = _t([[1, 0], [0, 1], [1, 1], [0, 0], [2, 0]])
    value = GraphValue(nodes, edges, x.batch, torch.tensor([0, 1, 1, 1]), 2, velocity)
    param = _rate_param(POS)
    # G0: 1·1 + 2·(−2) + 6·(−10) = −63;  G1: 3·(−1) + 4·2 + 5·(−3) + 7·(−10) + 8·20 + 9·30 = 350
    # positions 2 r · v: G0 (0, 0)·(1, 0) + (0.5, −1)·(0, 1) = −1; G1 (0, −1)·(1, 1) + 0 +
    # (1, −1)·(2, 0) = 1, times 2
    assert torch.equal(param.apply(_f(POS), x, value), _t([-63 - 2, 350 + 2]))
    assert torch.equal(_rate_param().apply(_f(SPACE), _graphs(), value), _t([-63, 350]))


def test_inner_has_the_dtype_of_the_node_terms():
    x = _graphs(POS)
    nodes, edges = _rates()
    velocity = torch.ones(5, 2, dtype=D)
    value = GraphValue(nodes.float(), edges, x.batch, torch.tensor([0, 1, 1, 1]), 2, velocity)
    ops = _rate_param(POS).test_operator(_f(POS), x)
    ops = {**ops, "nodes": ops["nodes"].float()}
    out = _rate_param(POS).inner(ops, value, x)
    assert out.dtype == torch.float32
    # 2 r · v summed per graph: G0 (0 + 0.5 − 1) · 2 = −1, G1 (−1 + 0.5 + 0) · 2 = −1
    torch.testing.assert_close(out, torch.tensor([-63.0 - 1.0, 350.0 - 1.0]))


def test_scale_multiplies_each_variable_by_its_graphs_factor():
    nodes, edges = _rates()
    velocity = torch.ones(5, 2, dtype=D)
    graph = torch.tensor([0, 0, 1, 1, 1])
    value = GraphValue(nodes, edges, graph, torch.tensor([0, 1, 1, 1]), 2, velocity)
    out = _rate_param(POS).scale(value, _t([2, 3]))
    factor = _t([2, 2, 3, 3, 3])
    assert torch.equal(out.nodes, factor[:, None, None] * nodes)
    assert torch.equal(out.edges, _t([2, 3, 3, 3])[:, None, None] * edges)
    assert torch.equal(out.positions, factor[:, None] * velocity)
    assert out.node_graph is graph and out.num_graphs == 2
    assert out.pair_graph is value.pair_graph
    plain = _rate_param().scale(dataclasses_replace(value, positions=None), _t([2, 3]))
    assert plain.positions is None and torch.equal(plain.nodes, out.nodes)
    assert plain.pair_graph is value.pair_graph
    # without a position factor, positions pass through unscaled
    assert _rate_param().scale(value, _t([2, 3])).positions is velocity


def dataclasses_replace(value, **changes):
    import dataclasses

    return dataclasses.replace(value, **changes)


def test_posterior_mean_over_graph_datum_pairs():
    """``B = 2`` graphs (1 and 2 nodes, 0 and 1 pairs) × ``n = 2`` data, graph-major."""
    node_graph = torch.tensor([0, 1, 2, 2, 3, 3])
    pair_graph = torch.tensor([2, 3])
    nodes = _t([[[1, 0]], [[0, 1]], [[1, 0]], [[2, 0]], [[0, 3]], [[0, 4]]])
    edges = _t([[[1, 1]], [[3, 5]]])
    pos = _t([[1, 1], [3, 3], [1, 0], [0, 1], [0, 0], [4, 4]])
    values = GraphValue(nodes, edges, node_graph, pair_graph, 4, pos)
    w = _t([[0.25, 0.75], [0.5, 0.5]])
    out = _rate_param(POS).posterior_mean(values, w)
    assert torch.equal(out.nodes, _t([[[0.25, 0.75]], [[0.5, 1.5]], [[1, 2]]]))
    assert torch.equal(out.edges, _t([[[2, 3]]]))
    assert torch.equal(out.positions, _t([[2.5, 2.5], [0.5, 0], [2, 2.5]]))
    assert torch.equal(out.node_graph, torch.tensor([0, 1, 1]))
    assert torch.equal(out.pair_graph, torch.tensor([1]))
    assert out.num_graphs == 2
    assert (
        _rate_param().posterior_mean(dataclasses_replace(values, positions=None), w).positions
        is None
    )


def test_graph_divergence_weighs_and_sums_its_terms():
    nodes_a, edges_a = _rates()
    nodes_b, edges_b = nodes_a + 1.0, 2 * edges_a + 1.0
    graph, pairs = torch.tensor([0, 0, 1, 1, 1]), torch.tensor([0, 1, 1, 1])
    va, vb = torch.zeros(5, 2, dtype=D), torch.ones(5, 2, dtype=D)
    a = GraphValue(nodes_a, edges_a, graph, pairs, 2, va)
    b = GraphValue(nodes_b, edges_b, graph, pairs, 2, vb)
    kl, sq = GeneralizedKL(), SquaredEuclidean()
    div = GraphDivergence(kl, kl, 2.0, 3.0, sq, 5.0)
    node = sum_per_graph(kl(nodes_a, nodes_b), graph, 2)
    edge = sum_per_graph(kl(edges_a, edges_b), pairs, 2)
    pos = sum_per_graph(sq(va, vb), graph, 2)
    terms = div.terms(a, b)
    assert list(terms) == ["nodes", "edges", "positions"]
    torch.testing.assert_close(terms["nodes"], 2 * node, rtol=1e-14, atol=0.0)
    torch.testing.assert_close(terms["edges"], 3 * edge, rtol=1e-14, atol=0.0)
    assert torch.equal(terms["positions"], 5 * _t([4, 6]))
    total = 2 * node + 3 * edge + 5 * pos
    torch.testing.assert_close(div(a, b), total, rtol=1e-14, atol=0.0)
    torch.testing.assert_close(div.generic(a, b), total, rtol=1e-10, atol=1e-12)
    phi = (
        2 * sum_per_graph(kl.phi(nodes_b), graph, 2)
        + 3 * sum_per_graph(kl.phi(edges_b), pairs, 2)
        + 5 * sum_per_graph(sq.phi(vb), graph, 2)
    )
    torch.testing.assert_close(div.phi(b), phi, rtol=1e-14, atol=0.0)
    # float32 edge and position values: every term in the node terms' dtype
    low = dataclasses_replace(a, edges=edges_a.float(), positions=va.float())
    low_b = dataclasses_replace(b, edges=edges_b.float(), positions=vb.float())
    assert all(v.dtype == D for v in div.terms(low, low_b).values())
    assert div(low, low_b).dtype == D
    plain = GraphDivergence(kl, kl, 2.0, 3.0)
    assert list(plain.terms(a, b)) == ["nodes", "edges"]
    torch.testing.assert_close(plain(a, b), 2 * node + 3 * edge, rtol=1e-14, atol=0.0)
    torch.testing.assert_close(plain.generic(a, b), 2 * node + 3 * edge, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(
        plain.phi(b), phi - 5 * sum_per_graph(sq.phi(vb), graph, 2), rtol=1e-14, atol=1e-12
    )
    bare = dataclasses_replace(b, positions=None)
    with pytest.raises(ValueError, match="^the divergence has a position term, but a value has"):
        div(a, bare)
    with pytest.raises(ValueError, match="^the divergence has a position term"):
        div.phi(bare)
    with pytest.raises(ValueError, match="^the divergence has a position term"):
        div.generic(bare, b)
