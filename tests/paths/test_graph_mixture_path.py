"""GraphMixturePath with positions against hand-computed values: the density of graphs of
different sizes in one batch (node, pair and position factors; padding ignored), draws that
follow the documented coins and the position path per node time, source graphs drawn with the
datum's sizes, and the exact error messages."""

import math
import re

import networkx as nx
import pytest
import torch

from genmatch.paths import (
    AffineGaussianPath,
    CondOT,
    GraphMixturePath,
    PolynomialKappa,
)
from genmatch.paths.base import AbstractConditionalPath
from genmatch.sources import CategoricalSource, GaussianSource, GraphSource
from genmatch.spaces import EuclideanSpace, GraphSpace

F64 = torch.float64
SPACE = GraphSpace(2, 2, position_dim=1)
KAPPA = PolynomialKappa(2.0)  # κ_t = t² for types; positions follow CondOT, r_t = t r_1 + …
Q_NODE, Q_EDGE = (0.3, 0.7), (0.6, 0.4)


def _source(space=SPACE, positions=True):
    return GraphSource(
        space,
        CategoricalSource(space.node_space, torch.tensor(Q_NODE, dtype=F64)),
        CategoricalSource(space.edge_space, torch.tensor(Q_EDGE, dtype=F64)),
        torch.tensor([0.0, 0.0, 0.5, 0.5], dtype=F64),
        GaussianSource(EuclideanSpace(space.position_dim)) if positions else None,
    )


PATH = GraphMixturePath(SPACE, _source(), KAPPA)


def _graph(types, edges, pos, space=SPACE):
    g = nx.Graph()
    for k, (ty, p) in enumerate(zip(types, pos, strict=True)):
        g.add_node(k, type=ty, pos=[p])
    g.add_edges_from(edges, type=1)
    return g


def _batch(*graphs, space=SPACE):
    return space.from_networkx(list(graphs), dtype=F64)


def _data():
    z = _batch(_graph([1, 0, 1], [(0, 1)], [0.5, -1.0, 2.0]), _graph([0, 0], [(0, 1)], [1.0, 0.0]))
    x = _batch(_graph([1, 1, 1], [(1, 2)], [0.2, 0.0, 1.5]), _graph([0, 1], [], [0.3, 0.4]))
    return x, z


def _m(kappa, same, q):
    return math.log(kappa * same + (1 - kappa) * q)


def _gauss(r, r_1, t):
    s = 1 - t
    return -0.5 * (r - t * r_1) ** 2 / s**2 - math.log(s) - 0.5 * math.log(2 * math.pi)


def test_density_by_hand_for_graphs_of_different_sizes():
    x, z = _data()
    t = torch.tensor([0.5, 0.8], dtype=F64)
    k0, k1 = 0.25, 0.64
    graph0 = (
        _m(k0, 1, 0.7)
        + _m(k0, 0, 0.7)
        + _m(k0, 1, 0.7)  # nodes
        + _m(k0, 0, 0.6)
        + _m(k0, 1, 0.6)
        + _m(k0, 0, 0.4)  # pairs (0,1) (0,2) (1,2)
        + _gauss(0.2, 0.5, 0.5)
        + _gauss(0.0, -1.0, 0.5)
        + _gauss(1.5, 2.0, 0.5)
    )
    graph1 = (
        _m(k1, 1, 0.3)
        + _m(k1, 0, 0.7)
        + _m(k1, 0, 0.6)
        + _gauss(0.3, 1.0, 0.8)
        + _gauss(0.4, 0.0, 0.8)
    )
    lp = PATH.log_prob(x, t, z)
    torch.testing.assert_close(lp, torch.tensor([graph0, graph1], dtype=F64), atol=1e-12, rtol=0)
    # the same two-node graph alone (no padding): the same value
    x1, z1 = SPACE.take(x, torch.tensor([1])), SPACE.take(z, torch.tensor([1]))
    alone = PATH.log_prob(x1, t[1:], z1)
    torch.testing.assert_close(alone, torch.tensor([graph1], dtype=F64), atol=1e-12, rtol=0)


def test_density_of_one_node_graphs_and_of_mismatched_sizes():
    z = _batch(_graph([1], [], [0.5]), _graph([0], [], [1.0]))
    x = _batch(_graph([1], [], [0.0]), _graph([1], [], [1.0]))
    t = torch.tensor([0.5, 0.5], dtype=F64)
    expected = [
        _m(0.25, 1, 0.7) + _gauss(0.0, 0.5, 0.5),
        _m(0.25, 0, 0.7) + _gauss(1.0, 1.0, 0.5),
    ]
    lp = PATH.log_prob(x, t, z)
    torch.testing.assert_close(lp, torch.tensor(expected, dtype=F64), atol=1e-12, rtol=0)
    big, _ = _data()  # three and two nodes against one and one
    lp = PATH.log_prob(big, t, z)
    assert torch.isneginf(lp).all()
    lp = PATH.log_prob(z, t, big)
    assert torch.isneginf(lp).all()


def test_density_without_positions():
    space = GraphSpace(2, 2)
    path = GraphMixturePath(space, _source(space, positions=False), KAPPA)
    assert path.positions is None
    z = _batch(_graph([1, 0], [(0, 1)], [0, 0]), space=space)
    x = _batch(_graph([1, 1], [], [0, 0]), space=space)
    t = torch.tensor([0.5], dtype=F64)
    expected = _m(0.25, 1, 0.7) + _m(0.25, 0, 0.7) + _m(0.25, 0, 0.6)
    lp = path.log_prob(x, t, z)
    assert lp.dtype == F64
    assert float(lp[0]) == pytest.approx(expected, abs=1e-12)


def test_factor_paths_of_the_path():
    assert isinstance(PATH.positions, AffineGaussianPath)
    assert isinstance(PATH.positions.schedule, CondOT)
    for part, space, source in (
        (PATH.nodes, SPACE.node_space, PATH.source.nodes),
        (PATH.edges, SPACE.edge_space, PATH.source.edges),
    ):
        assert part.space == space and part.source is source and part.kappa is KAPPA
    own = AffineGaussianPath(CondOT())
    assert GraphMixturePath(SPACE, _source(), KAPPA, own).positions is own


def test_sample_follows_the_documented_coins():
    """With ``x_0`` given: one coin per node, then one per pair, in the times' dtype, each
    showing the datum below ``κ`` of its graph's time; positions ``t r_1 + (1 − t) r_0``."""
    x_0, z = _data()
    x_0 = SPACE.take(x_0, torch.tensor([0, 1]))
    t = torch.tensor([0.6, 0.9], dtype=F64)
    s = PATH.sample(z, t, x_0=x_0, generator=torch.Generator().manual_seed(5))
    assert s.x_0 is x_0 and s.z is z and s.t is t
    vz, v0 = SPACE.variables(z), SPACE.variables(x_0)
    g = torch.Generator().manual_seed(5)
    u_n = torch.rand(vz.nodes.shape, generator=g, dtype=F64)
    u_e = torch.rand(vz.edges.shape, generator=g, dtype=F64)
    kappa = t**2
    vt = SPACE.variables(s.x_t)
    assert torch.equal(vt.nodes, torch.where(u_n < kappa[vz.node_graph], vz.nodes, v0.nodes))
    assert torch.equal(vt.edges, torch.where(u_e < kappa[vz.pair_graph], vz.edges, v0.edges))
    tn = t[vz.node_graph][:, None]
    torch.testing.assert_close(s.x_t.pos, tn * z.pos + (1 - tn) * x_0.pos, atol=1e-15, rtol=0)


def test_sample_converts_the_source_positions_to_the_datas_dtype():
    x_0, z = _data()
    x_0.pos = x_0.pos.float()
    t = torch.tensor([1.0, 0.0], dtype=F64)
    s = PATH.sample(z, t, x_0=x_0)
    expected = torch.cat([z.pos[:3], x_0.pos[3:].double()])
    assert s.x_t.pos.dtype == F64
    torch.testing.assert_close(s.x_t.pos, expected, atol=0, rtol=0)
    vt, vz, v0 = SPACE.variables(s.x_t), SPACE.variables(z), SPACE.variables(x_0)
    assert torch.equal(vt.nodes, torch.cat([vz.nodes[:3], v0.nodes[3:]]))
    assert torch.equal(vt.edges, torch.cat([vz.edges[:3], v0.edges[3:]]))


def test_sample_draws_source_graphs_of_the_datas_sizes_with_the_generator():
    _, z = _data()
    t = torch.tensor([0.0, 0.0], dtype=F64)
    a = PATH.sample(z, t, generator=torch.Generator().manual_seed(2))
    b = PATH.sample(z, t, generator=torch.Generator().manual_seed(2))
    assert torch.equal(SPACE.num_nodes(a.x_0), SPACE.num_nodes(z))
    assert a.x_0.pos.dtype == F64
    assert torch.equal(a.x_0.pos, b.x_0.pos) and torch.equal(a.x_0.x, b.x_0.x)
    assert torch.equal(a.x_t.pos, a.x_0.pos)  # t = 0: the source graph
    c = PATH.sample(z, t, generator=torch.Generator().manual_seed(3))
    assert not torch.equal(a.x_0.pos, c.x_0.pos)


def test_errors_have_exact_messages():
    x, z = _data()
    t = torch.tensor([0.5, 0.5], dtype=F64)
    other = GraphSpace(2, 2, position_dim=2)
    with pytest.raises(ValueError, match="^the source lives on a different space than the path$"):
        GraphMixturePath(SPACE, _source(other), KAPPA)
    with pytest.raises(TypeError, match="^positions must be an AbstractConditionalPath, got 3$"):
        GraphMixturePath(SPACE, _source(), KAPPA, 3)
    plain = GraphSpace(2, 2)
    message = "a position path was given, but the space has no positions (position_dim = 0)"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        GraphMixturePath(plain, _source(plain, False), KAPPA, AffineGaussianPath(CondOT()))
    with pytest.raises(TypeError, match="^z must be a torch_geometric Batch"):
        PATH.sample(z.x, t)
    with pytest.raises(TypeError, match="^x_0 must be a torch_geometric Batch"):
        PATH.sample(z, t, x_0=z.x)
    swapped = SPACE.take(x, torch.tensor([1, 0]))
    with pytest.raises(
        ValueError, match="^x_0 and z must have the same node counts, graph by graph$"
    ):
        PATH.sample(z, t, x_0=swapped)
    flow_only = GraphMixturePath(SPACE, _source(), KAPPA, _NoDensity())
    with pytest.raises(TypeError, match=r"^the position path <.*_NoDensity.*> has no density$"):
        flow_only.log_prob(x, t, z)


class _NoDensity(AbstractConditionalPath):
    def sample(self, z, t, *, x_0=None, generator=None):
        raise AssertionError("not drawn in this test")


def _complete_and_empty(n=6):
    z = _batch(*[_graph([1] * n, list(nx.complete_graph(n).edges), [1.0] * n)] * 2)
    x_0 = _batch(*[_graph([0] * n, [], [0.0] * n)] * 2)
    return x_0, z


def test_every_pair_coin_comes_from_the_generator():
    """Every node and pair differs between ``z`` (complete, type 1) and ``x_0`` (empty,
    type 0), so each of the 12 node and 30 pair coins shows in the draw."""
    x_0, z = _complete_and_empty()
    t = torch.tensor([0.7, 0.75], dtype=F64)
    s = PATH.sample(z, t, x_0=x_0, generator=torch.Generator().manual_seed(9))
    vz, v0, vt = SPACE.variables(z), SPACE.variables(x_0), SPACE.variables(s.x_t)
    g = torch.Generator().manual_seed(9)
    u_n = torch.rand(vz.nodes.shape, generator=g, dtype=F64)
    u_e = torch.rand(vz.edges.shape, generator=g, dtype=F64)
    kappa = t**2
    assert vz.edges.shape == (30,) and bool((vz.edges != v0.edges).all())
    assert torch.equal(vt.nodes, torch.where(u_n < kappa[vz.node_graph], vz.nodes, v0.nodes))
    assert torch.equal(vt.edges, torch.where(u_e < kappa[vz.pair_graph], vz.edges, v0.edges))


class _NoisyPositions(AbstractConditionalPath):
    """A position path that draws noise even with ``x_0`` given: ``x_t = z + ε``."""

    def sample(self, z, t, *, x_0=None, generator=None):
        from genmatch.paths import PathSample

        noise = torch.randn(z.shape, generator=generator, dtype=z.dtype)
        return PathSample(x_t=z + noise, t=t, z=z, x_0=x_0)


def test_the_position_path_draws_with_the_generator():
    x_0, z = _complete_and_empty()
    path = GraphMixturePath(SPACE, _source(), KAPPA, _NoisyPositions())
    t = torch.tensor([0.5, 0.5], dtype=F64)
    s = path.sample(z, t, x_0=x_0, generator=torch.Generator().manual_seed(1))
    g = torch.Generator().manual_seed(1)
    torch.rand(12, generator=g, dtype=F64), torch.rand(30, generator=g, dtype=F64)  # the coins
    noise = torch.randn(z.pos.shape, generator=g, dtype=F64)
    torch.testing.assert_close(s.x_t.pos, z.pos + noise, atol=0, rtol=0)
