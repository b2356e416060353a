"""GraphTransformer: outputs permute with the nodes, one symmetric prediction per pair."""

import networkx as nx
import pytest
import torch

from genmatch.nn import GraphTransformer
from genmatch.spaces import DenseGraphs, GraphSpace

SPACE = GraphSpace(2, 3, mask=True)
HEADS = {"nodes/logits": (1, 3), "edges/logits": (1, 4)}


def _net():
    torch.manual_seed(0)
    return (
        GraphTransformer(SPACE, HEADS, hidden=16, num_layers=2, num_heads=2)
        .double()
        .requires_grad_(False)
    )


def _batch():
    rng = torch.Generator().manual_seed(3)
    graphs = []
    for seed in (1, 2):
        g = nx.gnp_random_graph(6, 0.5, seed=seed)
        for u in g:
            g.nodes[u]["type"] = int(torch.randint(0, 3, (), generator=rng))  # mask included
        for u, w in g.edges:
            g.edges[u, w]["type"] = int(torch.randint(1, 4, (), generator=rng))
        graphs.append(g)
    return SPACE.from_networkx(graphs)


def _dense_logits(x, out):
    """Node logits (B, n, K) and pair logits scattered symmetrically into (B, n, n, K)."""
    v = SPACE.variables(x)
    d = SPACE.to_dense(x)
    b, n = d.node_types.shape
    local = torch.arange(len(v.nodes)) - x.ptr[v.node_graph]
    nodes = torch.zeros(b, n, 3, dtype=torch.float64)
    nodes[v.node_graph, local] = out["nodes/logits"][:, 0].detach()
    i, j = v.pairs - x.ptr[v.pair_graph]
    edges = torch.zeros(b, n, n, 4, dtype=torch.float64)
    edges[v.pair_graph, i, j] = out["edges/logits"][:, 0].detach()
    edges[v.pair_graph, j, i] = out["edges/logits"][:, 0].detach()
    return nodes, edges


def test_outputs_permute_with_the_nodes_and_pairs_are_symmetric():
    net = _net()
    x = _batch()
    t = torch.tensor([0.3, 0.8], dtype=torch.float64)
    nodes, edges = _dense_logits(x, net(x, t))
    d = SPACE.to_dense(x)
    perm = torch.tensor([5, 2, 0, 4, 1, 3])  # reverses some pairs: (0, 2) becomes (2, 1)
    permuted = SPACE.from_dense(
        DenseGraphs(d.node_types[:, perm], d.edge_types[:, perm][:, :, perm], d.node_mask)
    )
    nodes_p, edges_p = _dense_logits(permuted, net(permuted, t))
    assert torch.allclose(nodes_p, nodes[:, perm], atol=1e-10)
    assert torch.allclose(edges_p, edges[:, perm][:, :, perm], atol=1e-10)
    # not trivially constant: nodes and pairs of a graph get different predictions
    assert float(nodes[0].std(0).max()) > 1e-3 and float(edges[0, 0, 1:].std(0).max()) > 1e-3


def test_time_conditions_the_outputs():
    net = _net()
    x = _batch()
    a = net(x, torch.tensor([0.1, 0.1], dtype=torch.float64))
    b = net(x, torch.tensor([0.9, 0.9], dtype=torch.float64))
    assert float((a["edges/logits"] - b["edges/logits"]).abs().max()) > 1e-3


def test_single_node_graphs_and_bad_heads():
    net = _net()
    x = SPACE.from_networkx([nx.empty_graph(1), nx.path_graph(2)])
    out = net(x, torch.tensor([0.5, 0.5], dtype=torch.float64))
    assert out["nodes/logits"].shape == (3, 1, 3) and out["edges/logits"].shape == (1, 1, 4)
    with pytest.raises(ValueError, match="'nodes/<head>' or 'edges/<head>'"):
        GraphTransformer(SPACE, {"logits": (1, 3)})


POS_SPACE = GraphSpace(2, 3, position_dim=3)
POS_HEADS = {"nodes/logits": (1, 2), "edges/logits": (1, 3), "positions/velocity": (3,)}


def test_velocities_permute_with_the_nodes():
    """With positions, the per-node velocities of a permuted graph are the permuted velocities
    (node types, pair types and positions permuted together); they depend on the positions."""
    torch.manual_seed(0)
    net = GraphTransformer(POS_SPACE, POS_HEADS, hidden=16, num_layers=2, num_heads=2)
    net = net.double().requires_grad_(False)
    rng = torch.Generator().manual_seed(5)
    graphs = []
    for seed in (1, 2):
        g = nx.gnp_random_graph(6, 0.5, seed=seed)
        for u in g:
            g.nodes[u]["type"] = int(torch.randint(0, 2, (), generator=rng))
            g.nodes[u]["pos"] = torch.randn(3, generator=rng).tolist()
        for u, w in g.edges:
            g.edges[u, w]["type"] = int(torch.randint(1, 3, (), generator=rng))
        graphs.append(g)
    x = POS_SPACE.from_networkx(graphs, dtype=torch.float64)
    t = torch.tensor([0.3, 0.8], dtype=torch.float64)
    velocity = net(x, t)["positions/velocity"].reshape(2, 6, 3)
    d = POS_SPACE.to_dense(x)
    perm = torch.tensor([5, 2, 0, 4, 1, 3])
    permuted = POS_SPACE.from_dense(
        DenseGraphs(
            d.node_types[:, perm], d.edge_types[:, perm][:, :, perm], d.node_mask, d.pos[:, perm]
        )
    )
    moved = net(permuted, t)["positions/velocity"].reshape(2, 6, 3)
    assert torch.allclose(moved, velocity[:, perm], atol=1e-10)
    assert float(velocity[0].std(0).max()) > 1e-3  # nodes get different velocities
    shifted = x.clone()
    shifted.pos = x.pos + 0.5
    other = net(shifted, t)["positions/velocity"].reshape(2, 6, 3)
    assert float((other - velocity).abs().max()) > 1e-3  # positions are inputs
