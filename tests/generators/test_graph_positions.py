"""Graphs with node positions: the CTMC on types and a flow on positions as one generator.

The position factor solves its continuity equation, the joint generator solves the weak
forward equation of the joint path (types and positions coupled in the test function), its
conditional target is the tuple of the factors' targets, samples are valid, bad input fails.
"""

import dataclasses
import math

import networkx as nx
import pytest
import torch

from genmatch import ExactMarginal, GeneratorMatchingLoss, simulate
from genmatch.generators import FlowGenerator, GraphGenerator
from genmatch.nn import GraphTransformer
from genmatch.paths import AffineGaussianPath, CondOT, GraphMixturePath, LinearKappa, PathSample
from genmatch.solvers import Midpoint
from genmatch.sources import GaussianSource, GraphSource
from genmatch.spaces import EuclideanSpace, GraphSpace
from genmatch.testing import check_continuity_equation

F64 = torch.float64
SPACE = GraphSpace(2, 2, position_dim=2)
TYPES = GraphSpace(2, 2)


def _graphs():
    a, b = nx.path_graph(3), nx.cycle_graph(4)
    for g, shift in ((a, 0.0), (b, 1.0)):
        for u in g:
            g.nodes[u]["type"] = u % 2
            g.nodes[u]["pos"] = [math.cos(u + shift), math.sin(2 * u) - shift]
    return [a, b]


def _model(space=SPACE, **kwargs):
    data = space.from_networkx(_graphs(), dtype=F64)
    path = GraphMixturePath(space, GraphSource.marginal(space, data), LinearKappa())
    return data, path, GraphGenerator.ctmc(path, edge_weight=5.0, **kwargs)


@pytest.mark.parametrize("t", [0.1, 0.5, 0.9])
def test_position_factor_solves_the_continuity_equation(t):
    _, path, gen = _model()
    rng = torch.Generator().manual_seed(0)
    x, z = (
        torch.randn(16, 2, generator=rng, dtype=F64),
        torch.randn(16, 2, generator=rng, dtype=F64),
    )
    tt = torch.full((16,), t, dtype=F64)
    residual = check_continuity_equation(path.positions, gen.positions, x, tt, z, atol=1e-10)
    assert residual.abs().max() < 1e-10


def _two_node_states(m, rng):
    """Every edge state of a two-node graph (no edge / edge), each with the same ``m`` position
    draws."""
    graphs = []
    for edge in (False, True):
        for _ in range(m):
            g = nx.path_graph(2) if edge else nx.empty_graph(2)
            for u in g:
                g.nodes[u]["type"] = u
                g.nodes[u]["pos"] = [0.0, 0.0]
            graphs.append(g)
    x = SPACE.from_networkx(graphs, dtype=F64)
    # r_0: the same m draws for both edge states (a tensor-product quadrature)
    x.pos = torch.randn(m * 2, 2, generator=rng, dtype=F64).repeat(2, 1)
    return x


def _coupled(x):
    """A joint test function: positions and the edge type do not separate."""
    e = SPACE.variables(x).edges.to(F64)  # one pair per graph
    r = x.pos.reshape(-1, 2, 2)
    return torch.sin(r[:, 0, 0] * (1 + e)) * torch.cos(r[:, 1, 1] - e) + r[:, 1, 0] ** 2 * e


@pytest.mark.parametrize("t", [0.3, 0.7])
def test_joint_forward_equation_types_times_positions(t):
    """``d/dt E[f(G_t)] = E[L f(G_t)]`` with ``L`` the pair CTMC plus the position flow: the
    expectation over the edge state is exact (its mixture law), over positions the points
    ``r_t = t z + (1 − t) r_0`` move with ``t`` (node types are held at the datum's)."""
    data = SPACE.from_networkx([_typed_edge()], dtype=F64)
    empty = _typed_edge()
    empty.remove_edge(0, 1)
    freqs = SPACE.from_networkx([_typed_edge(), empty], dtype=F64)  # q_E = (1/2, 1/2)
    path = GraphMixturePath(SPACE, GraphSource.marginal(SPACE, freqs), LinearKappa())
    gen = GraphGenerator.ctmc(path)
    m = 64
    x0 = _two_node_states(m, torch.Generator().manual_seed(1))
    q = path.source.edges.probs.reshape(-1).to(F64)  # q_E(no edge), q_E(edge)
    z_pos = data.pos.repeat(2 * m, 1)
    tt = torch.tensor(t, dtype=F64, requires_grad=True)
    p = tt * torch.tensor([0.0, 1.0], dtype=F64) + (1 - tt) * q  # κ_t = t, the datum has an edge
    weights = p.repeat_interleave(m) / m
    v = SPACE.variables(x0)
    pos_t = tt * z_pos + (1 - tt) * x0.pos
    (lhs,) = torch.autograd.grad(
        (weights * _coupled(SPACE.with_variables(x0, v.nodes, v.edges, v, pos_t))).sum(), tt
    )
    x = SPACE.with_variables(x0, v.nodes, v.edges, v, pos_t.detach())
    weights = weights.detach()
    zz = SPACE.take(data, torch.zeros(2 * m, dtype=torch.long))
    s = torch.full((2 * m,), t, dtype=F64)
    value = gen.conditional_target(path, PathSample(x_t=x, t=s, z=zz))
    rhs = (weights * gen.apply(_coupled, x, value)).sum().detach()
    assert abs(float(lhs)) > 0.05  # the law moves: the check is not vacuous
    assert float(rhs) == pytest.approx(float(lhs), rel=1e-10, abs=1e-12)
    # sharp: doubling the velocities, or dropping the pair CTMC, breaks it
    wrong = dataclasses.replace(value, positions=2 * value.positions)
    assert abs(float((weights * gen.apply(_coupled, x, wrong).detach()).sum() - lhs)) > 0.01
    still = dataclasses.replace(
        value, edges=dataclasses.replace(value.edges, intensity=0 * value.edges.intensity)
    )
    assert abs(float((weights * gen.apply(_coupled, x, still).detach()).sum() - lhs)) > 0.01


def _typed_edge():
    g = nx.path_graph(2)
    g.nodes[0].update(type=0, pos=[0.5, -1.0])
    g.nodes[1].update(type=1, pos=[-0.3, 0.8])
    return g


def test_sample_and_target_are_the_factors():
    """``x_t``'s positions are ``t z + (1 − t) x_0`` node by node; the target is the tuple of
    the types-only graph CTMC's target and the flow's CondOT target ``z − x_0``."""
    data, path, gen = _model()
    t = torch.tensor([0.3, 0.8], dtype=F64)
    s = path.sample(data, t, generator=torch.Generator().manual_seed(2))
    t_nodes = t[data.batch][:, None]
    assert torch.allclose(s.x_t.pos, t_nodes * data.pos + (1 - t_nodes) * s.x_0.pos, atol=1e-15)
    value = gen.conditional_target(path, s)
    assert torch.equal(value.positions, data.pos - s.x_0.pos)
    flow = FlowGenerator().conditional_target(
        AffineGaussianPath(CondOT()),
        PathSample(x_t=s.x_t.pos, t=t[data.batch], z=data.pos, x_0=s.x_0.pos),
    )
    assert torch.equal(value.positions, flow)
    # the types: those of the graph CTMC on the same graphs without positions
    types_data = TYPES.from_networkx(_graphs())
    types_path = GraphMixturePath(TYPES, GraphSource.marginal(TYPES, types_data), LinearKappa())
    types_gen = GraphGenerator.ctmc(types_path, edge_weight=5.0)
    v = SPACE.variables(s.x_t)
    x_t = TYPES.with_variables(types_data, v.nodes, v.edges)
    types_value = types_gen.conditional_target(types_path, PathSample(x_t=x_t, t=t, z=types_data))
    assert torch.equal(value.nodes.probs, types_value.nodes.probs)
    assert torch.equal(value.edges.probs, types_value.edges.probs)
    # the density: the types' times a Gaussian N(t z_i, (1 − t)² I) per node
    gauss = -0.5 * ((s.x_t.pos - t_nodes * data.pos) ** 2).sum(1) / (1 - t_nodes[:, 0]) ** 2
    gauss = gauss - 2 * torch.log(1 - t_nodes[:, 0]) - math.log(2 * math.pi)
    expected = types_path.log_prob(x_t, t, types_data) + torch.zeros(2, dtype=F64).index_add(
        0, data.batch, gauss
    )
    assert torch.allclose(path.log_prob(s.x_t, t, data), expected, atol=1e-12)


def test_loss_terms_carry_the_position_weight():
    data, path, gen = _model(position_weight=3.0)
    torch.manual_seed(0)
    net = GraphTransformer(SPACE, gen.head_shapes(SPACE), hidden=16, num_layers=1, num_heads=2)
    net = net.double()
    loss = GeneratorMatchingLoss(path, gen, space=SPACE)
    terms = loss.terms(net, data, generator=torch.Generator().manual_seed(3))
    assert set(terms.parts) == {"nodes", "edges", "positions"}
    sq = ((terms.target.positions - terms.prediction.positions) ** 2).sum(1)
    by_graph = torch.zeros(2, dtype=F64).index_add(0, data.batch, sq)
    assert torch.allclose(terms.parts["positions"], 3.0 * by_graph, atol=1e-12)
    assert torch.allclose(terms.per_sample, sum(terms.parts.values()), atol=1e-12)
    terms.loss.backward()
    assert all(p.grad is not None for p in net.position_out.parameters())


@pytest.mark.parametrize("solver", [None, Midpoint()], ids=["euler", "midpoint"])
def test_sampling_gives_valid_graphs_with_positions(solver):
    positions = None if solver is None else FlowGenerator(solver=solver)
    data, path, gen = _model(positions=positions)
    torch.manual_seed(0)
    net = GraphTransformer(SPACE, gen.head_shapes(SPACE), hidden=16, num_layers=1, num_heads=2)
    rng = torch.Generator().manual_seed(4)
    x_0 = path.source.sample(6, generator=rng)
    with torch.no_grad():
        x_1 = simulate(gen, net, x_0, 6, space=SPACE, rng=rng).x
    SPACE.check(x_1)
    assert x_1.pos.shape == (int(SPACE.num_nodes(x_0).sum()), 2)
    assert x_1.pos.dtype == torch.float32 and bool(torch.isfinite(x_1.pos).all())
    assert torch.equal(SPACE.num_nodes(x_1), SPACE.num_nodes(x_0))
    assert float((x_1.pos - x_0.pos).abs().max()) > 1e-3  # the positions moved
    assert len(SPACE.to_networkx(x_1)[0].nodes[0]["pos"]) == 2


def test_bad_input():
    data, path, gen = _model()
    types_data = TYPES.from_networkx(_graphs())
    with pytest.raises(ValueError, match="the space has no positions"):
        GraphSource.marginal(TYPES, types_data, positions=GaussianSource(EuclideanSpace(2)))
    source = GraphSource.marginal(TYPES, types_data)
    with pytest.raises(ValueError, match="a position path was given, but the space has no"):
        GraphMixturePath(TYPES, source, LinearKappa(), AffineGaussianPath(CondOT()))
    types_path = GraphMixturePath(TYPES, source, LinearKappa())
    with pytest.raises(ValueError, match="a position generator was given"):
        GraphGenerator.ctmc(types_path, positions=FlowGenerator())
    with pytest.raises(ValueError, match="positions must be an AbstractGenerator on R"):
        GraphGenerator(SPACE, gen.nodes, gen.edges)
    with pytest.raises(ValueError, match="position_weight must be a number > 0"):
        GraphGenerator.ctmc(path, position_weight=0.0)
    bad = data.clone()
    bad.pos = bad.pos[:, :1]
    with pytest.raises(ValueError, match=r"x_1.pos must be \(7, 2\), got \(7, 1\)"):
        GeneratorMatchingLoss(path, gen, space=SPACE)(lambda x, t: {}, bad)
    bad.pos = data.pos.clone()
    bad.pos[3, 1] = float("nan")
    with pytest.raises(ValueError, match="x_1.pos has NaN or infinite positions"):
        GeneratorMatchingLoss(path, gen, space=SPACE)(lambda x, t: {}, bad)
    with pytest.raises(ValueError, match=r"positions/<head>' must be shaped \(position_dim,\)"):
        GraphTransformer(SPACE, {**gen.head_shapes(SPACE), "positions/velocity": (3,)})
    with pytest.raises(ValueError, match=r"positions/<head>' must be shaped \(position_dim,\)"):
        GraphTransformer(TYPES, {"nodes/logits": (1, 2), "positions/velocity": (2,)})
    with pytest.raises(ValueError, match="this graph space has no positions"):
        _ = TYPES.position_space


def test_oracle_reaches_the_data_types_and_positions():
    """The exact marginal generator (GM eq. 9.14: posterior over the data of the joint path)
    simulated from the source gives data graphs: types and positions of one datum."""
    data, path, gen = _model()
    oracle = ExactMarginal(path, gen, data, t_max=1.0, space=SPACE)
    rng = torch.Generator().manual_seed(0)
    x_0 = path.source.sample(20, generator=rng, dtype=F64)
    out = simulate(gen, oracle, x_0, 32, space=SPACE, rng=rng).x
    SPACE.check(out)
    d = SPACE.to_dense(out)
    dz = SPACE.to_dense(data, d.node_types.shape[1])
    for b in range(20):
        same = [
            k
            for k in range(2)
            if torch.equal(d.node_types[b], dz.node_types[k])
            and torch.equal(d.edge_types[b], dz.edge_types[k])
        ]
        assert len(same) == 1  # the types of one datum
        assert torch.allclose(d.pos[b], dz.pos[same[0]], atol=1e-12)  # and its positions
