"""GraphSpace: the state-space contract, validation errors, conversions."""

import networkx as nx
import pytest
import torch
from torch_geometric.data import Batch, Data

from genmatch.spaces import DenseGraphs, GraphSpace
from genmatch.testing import check_state_space

SPACE = GraphSpace(num_node_types=2, num_edge_types=3)


def _graphs():
    a = nx.Graph()
    a.add_nodes_from([(0, {"type": 1}), (1, {"type": 0}), (2, {"type": 1})])
    a.add_edge(0, 1, type=2)
    a.add_edge(1, 2, type=1)
    b = nx.cycle_graph(4)
    return [a, b, nx.empty_graph(1)]


def _batch():
    return SPACE.from_networkx(_graphs())


def _with(batch, **changes):
    out = batch.clone()
    for key, value in changes.items():
        setattr(out, key, value)
    return out


def test_contract():
    x = _batch()
    bad_type = _with(x, x=x.x.clone().fill_(2))
    check_state_space(SPACE, x, [bad_type, x.x, _with(x, edge_attr=x.edge_attr * 0)])


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda x: _with(x, x=torch.full_like(x.x, 2)), r"x\.x has node types outside \[0, 2\)"),
        (lambda x: _with(x, edge_attr=torch.full_like(x.edge_attr, 3)),
         r"edge types outside \[1, 3\): found 3"),
        (lambda x: _with(x, edge_attr=torch.zeros_like(x.edge_attr)), "0 is no edge"),
        (lambda x: _with(x, edge_index=x.edge_index[:, 1:], edge_attr=x.edge_attr[1:]),
         "asymmetric adjacency"),
        (lambda x: _with(x, edge_attr=torch.cat([x.edge_attr[:1] % 2 + 1, x.edge_attr[1:]])),
         "asymmetric adjacency"),
        (lambda x: _with(x, edge_index=torch.cat([x.edge_index, torch.tensor([[3], [3]])], 1),
                         edge_attr=torch.cat([x.edge_attr, torch.tensor([1])])), "self loops"),
        (lambda x: _with(x, ptr=torch.tensor([0, 3, 7, 9])), "ragged: ptr"),
        (lambda x: _with(x, ptr=torch.tensor([0, 2, 7, 8])), "batch vector does not match ptr"),
        (lambda x: _with(x, edge_index=torch.tensor([[2, 3], [3, 2]]),
                         edge_attr=torch.tensor([1, 1])), "different graphs"),
        (lambda x: _with(x, x=x.x.float()), "must be a 1-d int64 tensor"),
    ],
)  # fmt: skip
def test_each_validation_error_is_clear(change, message):
    x = _batch()
    SPACE.check(x)
    with pytest.raises((TypeError, ValueError), match=message):
        SPACE.check(change(x))


def test_not_a_batch():
    with pytest.raises(TypeError, match="must be a torch_geometric Batch"):
        SPACE.check(Data(x=torch.zeros(2, dtype=torch.long)))


def test_positions_are_validated():
    space = GraphSpace(1, 2, position_dim=3)
    graph = nx.path_graph(2)
    for u in graph:
        graph.nodes[u]["pos"] = [float(u), 0.0, 1.0]
    with pytest.raises(ValueError, match="have no 'pos'"):
        space.from_networkx([nx.empty_graph(1)])
    single = nx.empty_graph(1)
    single.nodes[0]["pos"] = [9.0, 9.0, 9.0]
    x = space.from_networkx([graph, single, graph])
    x.pos[-2:] += 5.0
    x = space.take(x, torch.tensor([0, 2]))
    space.check(x)
    assert x.pos.shape == (4, 3) and space.reference(x) is x.pos
    assert x.pos[:, 0].tolist() == [0.0, 1.0, 5.0, 6.0]  # positions travel with their nodes
    check_state_space(space, x, [_with(x, pos=x.pos[:, :2])])
    with pytest.raises(ValueError, match=r"pos must be \(4, 3\)"):
        space.check(_with(x, pos=x.pos[:, :2]))
    with pytest.raises(ValueError, match="NaN or infinite"):
        space.check(_with(x, pos=x.pos * float("nan")))


def test_variables_are_the_upper_triangle():
    x = _batch()
    v = SPACE.variables(x)
    assert v.nodes.tolist() == [1, 0, 1, 0, 0, 0, 0, 0]
    # graph 0: pairs (0,1) (0,2) (1,2); graph 1 (4-cycle): (0,1) (0,2) (0,3) (1,2) (1,3) (2,3)
    assert v.edges.tolist() == [2, 0, 1, 1, 0, 1, 1, 0, 1]
    assert v.pairs.T.tolist()[:4] == [[0, 1], [0, 2], [1, 2], [3, 4]]
    assert v.pair_graph.tolist() == [0, 0, 0, 1, 1, 1, 1, 1, 1]
    back = SPACE.with_variables(x, v.nodes, v.edges)
    assert _same(back, x)
    one = SPACE.with_variables(x, v.nodes, torch.where(v.edges == 0, 3 - 1, v.edges))
    SPACE.check(one)
    assert one.edge_index.shape[1] == 2 * 9  # every pair now an edge, both directions


def _same(a, b):
    da, db = SPACE.to_dense(a), SPACE.to_dense(b)
    return torch.equal(da.node_types, db.node_types) and torch.equal(da.edge_types, db.edge_types)


def test_dense_and_networkx_round_trips():
    x = _batch()
    dense = SPACE.to_dense(x)
    assert dense.node_types.shape == (3, 4) and dense.node_mask.sum(1).tolist() == [3, 4, 1]
    assert dense.edge_types[0].tolist()[:3] == [[0, 2, 0, 0], [2, 0, 1, 0], [0, 1, 0, 0]][:3]
    assert torch.equal(dense.edge_types, dense.edge_types.transpose(1, 2))
    assert _same(SPACE.from_dense(dense), x)
    graphs = SPACE.to_networkx(x)
    assert [g.number_of_edges() for g in graphs] == [2, 4, 0]
    assert graphs[0].edges[0, 1]["type"] == 2 and graphs[0].nodes[0]["type"] == 1
    assert all(nx.is_isomorphic(g, h) for g, h in zip(graphs, _graphs(), strict=True))
    assert _same(SPACE.from_networkx(graphs), x)


def test_from_dense_rejects_asymmetric_and_self_loops():
    dense = SPACE.to_dense(_batch())
    asym = dense.edge_types.clone()
    asym[0, 0, 2] = 1
    with pytest.raises(ValueError, match="asymmetric"):
        SPACE.from_dense(DenseGraphs(dense.node_types, asym, dense.node_mask))
    loop = dense.edge_types.clone()
    loop[1, 2, 2] = 1
    with pytest.raises(ValueError, match="self loops"):
        SPACE.from_dense(DenseGraphs(dense.node_types, loop, dense.node_mask))


def test_batch_operations_keep_graphs():
    x = _batch()
    taken = SPACE.take(x, torch.tensor([2, 0, 0]))
    assert SPACE.num_nodes(taken).tolist() == [1, 3, 3]
    other = SPACE.take(x, torch.tensor([1, 2, 0]))
    mixed = SPACE.where(torch.tensor([True, False, True]), x, other)
    assert SPACE.num_nodes(mixed).tolist() == [3, 1, 1]
    assert [g.num_nodes for g in taken.to_data_list()] == [1, 3, 3]  # PyG bookkeeping kept
    assert _same(SPACE.take(taken, torch.tensor([1])), SPACE.take(x, torch.tensor([0])))
    assert _same(SPACE.cat([taken, x]), SPACE.take(x, torch.tensor([2, 0, 0, 0, 1, 2])))
    assert isinstance(SPACE.cat([x, x]), Batch) and SPACE.batch_size(SPACE.cat([x, x])) == 6


def test_bad_construction():
    with pytest.raises(ValueError, match="num_edge_types must be an integer >= 2"):
        GraphSpace(1, 1)
