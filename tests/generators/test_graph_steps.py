"""The graph generator: its checks and construction, conditional and marginal targets, and
steps with exact outcomes (one-hot posteriors at the last step, Euler and midpoint position
steps whose velocity depends on each graph's time), with and without node positions.
"""

import networkx as nx
import pytest
import torch

from genmatch.compose import MixtureCorrector
from genmatch.divergences import SquaredEuclidean
from genmatch.generators import (
    CTMCGenerator,
    CTMCHead,
    FlowGenerator,
    GraphGenerator,
    JumpMethod,
    PosteriorValue,
)
from genmatch.generators.base import AbstractGenerator
from genmatch.generators.ctmc_values import PosteriorKL
from genmatch.generators.graph_parametrization import GraphValue
from genmatch.paths import GraphMixturePath, LinearKappa, PathSample
from genmatch.solvers import Midpoint
from genmatch.sources import GraphSource
from genmatch.spaces import GraphSpace

D = torch.float64
SPACE = GraphSpace(2, 2)
POS = GraphSpace(2, 2, position_dim=2)


def _t(values):
    return torch.tensor(values, dtype=D)


def _graphs(space=SPACE, sizes=(2, 3)):
    out = []
    for n in sizes:
        g = nx.path_graph(n)
        for u in g:
            g.nodes[u]["type"] = u % 2
            g.nodes[u]["pos"] = [float(u), 1.0 - u]
        out.append(g)
    return space.from_networkx(out, dtype=D)


def _path(space=SPACE, data=None):
    data = _graphs(space) if data is None else data
    return GraphMixturePath(space, GraphSource.marginal(space, data), LinearKappa())


# ---- construction -----------------------------------------------------------------------------


def test_ctmc_builds_both_ctmcs_from_the_path():
    path = _path()
    gen = GraphGenerator.ctmc(
        path, head=CTMCHead.RATE, method=JumpMethod.TAU_LEAPING, node_weight=2.0, edge_weight=3
    )
    for part, sub, source in (
        (gen.nodes, SPACE.node_space, path.source.nodes),
        (gen.edges, SPACE.edge_space, path.source.edges),
    ):
        assert isinstance(part, CTMCGenerator)
        assert part.space == sub and part.kappa == path.kappa
        assert part.head is CTMCHead.RATE and part.method is JumpMethod.TAU_LEAPING
        assert part.source is source
    assert gen.positions is None and gen.divergence.positions is None
    assert (gen.divergence.node_weight, gen.divergence.edge_weight) == (2.0, 3.0)
    assert type(gen.divergence.edge_weight) is float
    assert gen.parametrization.nodes is gen.nodes.parametrization
    assert gen.parametrization.edges is gen.edges.parametrization
    assert gen.parametrization.positions is None and gen.parametrization.space == SPACE
    assert gen.divergence.nodes is gen.nodes.divergence
    default = GraphGenerator.ctmc(_path(POS))
    assert (default.node_weight, default.edge_weight, default.position_weight) == (1.0, 1.0, 1.0)
    div = default.divergence
    assert (div.node_weight, div.edge_weight, div.position_weight) == (1.0, 1.0, 1.0)


def test_ctmc_with_a_corrector_and_with_positions():
    def beta(t):
        return 2 * t

    gen = GraphGenerator.ctmc(_path(), corrector=beta)
    assert isinstance(gen.nodes, MixtureCorrector) and isinstance(gen.edges, MixtureCorrector)
    assert gen.nodes.beta is beta and isinstance(gen.nodes.base.divergence, PosteriorKL)
    path = _path()
    gen = GraphGenerator.ctmc(path, corrector=beta)
    assert gen.nodes.source is path.source.nodes and gen.edges.source is path.source.edges
    pos = GraphGenerator.ctmc(_path(POS), position_weight=4.0)
    assert isinstance(pos.positions, FlowGenerator)
    assert pos.parametrization.positions is pos.positions.parametrization
    assert isinstance(pos.divergence.positions, SquaredEuclidean)
    assert pos.divergence.position_weight == 4.0
    flow = FlowGenerator(solver=Midpoint())
    assert GraphGenerator.ctmc(_path(POS), positions=flow).positions is flow


def test_generator_checks_its_parts_and_weights():
    gen = GraphGenerator.ctmc(_path())
    nodes, edges = gen.nodes, gen.edges
    with pytest.raises(
        ValueError,
        match=r"^the space has positions \(position_dim = 2\): positions must be an "
        r"AbstractGenerator on R\^2 \(e.g. FlowGenerator\(\)\), got 'flow'$",
    ):
        GraphGenerator(POS, nodes, edges, positions="flow")
    with pytest.raises(ValueError, match=r"^a position generator was given, but the space has no"):
        GraphGenerator(SPACE, nodes, edges, positions=FlowGenerator())
    with pytest.raises(TypeError, match=r"^nodes must be an AbstractGenerator instance, got 'n'$"):
        GraphGenerator(SPACE, "n", edges)
    with pytest.raises(TypeError, match=r"^edges must be an AbstractGenerator instance, got 3$"):
        GraphGenerator(SPACE, nodes, 3)
    three = GraphSpace(3, 2)
    with pytest.raises(
        ValueError,
        match=r"^the nodes generator must act on one-variable sequences of 3 states "
        r"\(space.node_space\), its heads are \{\(1, 2\)\}$",
    ):
        GraphGenerator(three, nodes, edges)
    with pytest.raises(ValueError, match=r"sequences of 2 states \(space.edge_space\)"):
        GraphGenerator(SPACE, nodes, CTMCGenerator(GraphSpace(2, 3).edge_space, LinearKappa()))
    for name, bad in (("node_weight", True), ("edge_weight", "1"), ("position_weight", -1.0)):
        with pytest.raises(ValueError, match=rf"^{name} must be a number > 0, got {bad!r}$"):
            GraphGenerator(SPACE, nodes, edges, **{name: bad})
    assert GraphGenerator(SPACE, nodes, edges, node_weight=2).divergence.node_weight == 2.0


# ---- targets ----------------------------------------------------------------------------------


def test_conditional_target_is_each_variables_ctmc_target_at_its_graphs_time():
    path = _path()
    data = _graphs()
    gen = GraphGenerator.ctmc(path)
    t = _t([0.5, 0.75])
    s = path.sample(data, t, generator=torch.Generator().manual_seed(0))
    value = gen.conditional_target(path, s)
    v, vz = SPACE.variables(s.x_t), SPACE.variables(data)
    assert torch.equal(value.nodes.probs[:, 0], torch.eye(2, dtype=D)[vz.nodes])
    assert torch.equal(value.nodes.intensity, _t([2, 2, 4, 4, 4]))
    assert torch.equal(value.edges.probs[:, 0], torch.eye(2, dtype=D)[vz.edges])
    assert torch.equal(value.edges.intensity, _t([2, 4, 4, 4]))
    assert torch.equal(value.node_graph, v.node_graph)
    assert torch.equal(value.pair_graph, v.pair_graph)
    assert value.num_graphs == 2 and value.positions is None


def test_conditional_target_of_positions_uses_x_0():
    path = _path(POS)
    data = _graphs(POS)
    gen = GraphGenerator.ctmc(path)
    s = path.sample(data, _t([0.25, 0.5]), generator=torch.Generator().manual_seed(1))
    value = gen.conditional_target(path, s)
    assert torch.equal(value.positions, data.pos - s.x_0.pos)
    # without x_0 the flow's target is (z − x_t)/(1 − t)
    bare = gen.conditional_target(path, PathSample(x_t=s.x_t, t=s.t, z=s.z))
    t_nodes = _t([0.25, 0.25, 0.5, 0.5, 0.5])[:, None]
    torch.testing.assert_close(bare.positions, (data.pos - s.x_t.pos) / (1 - t_nodes))


def test_targets_check_the_path_and_the_node_counts():
    gen = GraphGenerator.ctmc(_path())
    with pytest.raises(
        TypeError,
        match="^GraphGenerator has no conditional target for str: it needs a path implementing "
        "GraphMixturePath$",
    ):
        gen.conditional_target("path", None)
    other = GraphSpace(2, 3)
    with pytest.raises(ValueError, match="^the path lives on a different graph space than the"):
        gen.conditional_target(_path(other), None)
    x = _graphs(sizes=(2, 3))
    z = _graphs(sizes=(3, 2))
    with pytest.raises(ValueError, match="^x_t and z must have the same node counts, graph by"):
        gen.conditional_target(_path(), PathSample(x_t=x, t=_t([0.5, 0.5]), z=z))


def test_marginal_target_averages_same_size_data_and_ignores_the_others():
    """Data: a 2-node graph, a 3-node graph and another 2-node graph; the posterior weighs
    the 2-node data 1/4, 3/4 (the 3-node datum, of another size, has weight 0)."""
    data = _graphs(sizes=(2, 3, 2))
    empty = nx.empty_graph(2)
    empty.nodes[0]["type"], empty.nodes[1]["type"] = 1, 1
    data = SPACE.cat([SPACE.take(data, torch.tensor([0, 1])), SPACE.from_networkx([empty])])
    path = _path(data=data)
    gen = GraphGenerator.ctmc(path, head=CTMCHead.RATE)
    x = SPACE.from_networkx([nx.path_graph(2)])  # types (0, 0), joined
    value = gen.marginal_target(path, x, _t([0.5]), data, _t([[0.25, 0.0, 0.75]]))
    # λ = 2; node 0 → type 0 (datum 0, stays) or 1 (datum 2); node 1 → type 1 (both data)
    torch.testing.assert_close(value.nodes, _t([[[0.0, 1.5]], [[0.0, 2.0]]]))
    torch.testing.assert_close(value.edges, _t([[[1.5, 0.0]]]))  # datum 2 has no edge
    assert torch.equal(value.node_graph, torch.tensor([0, 0])) and value.num_graphs == 1


# ---- steps ------------------------------------------------------------------------------------


def _one_hot_field(space, node_types, edge_types, velocity=None):
    def field(x, t):
        v = space.variables(x)
        nodes = torch.eye(space.node_space.num_states, dtype=D)[node_types][:, None]
        edges = torch.eye(space.edge_space.num_states, dtype=D)[edge_types][:, None]
        return GraphValue(
            PosteriorValue(nodes, torch.ones(len(v.nodes), dtype=D)),
            PosteriorValue(edges, torch.ones(len(v.edges), dtype=D)),
            v.node_graph,
            v.pair_graph,
            v.num_graphs,
            None if velocity is None else velocity(x, t, v),
        )

    return field


def test_last_step_draws_every_node_and_pair_from_its_posterior():
    gen = GraphGenerator.ctmc(_path())
    x = _graphs()
    nodes, edges = torch.tensor([1, 1, 0, 0, 1]), torch.tensor([0, 1, 1, 0])
    out = gen.step(_one_hot_field(SPACE, nodes, edges), x, _t([0.75, 0.5]), 0.5)
    v = SPACE.variables(out)
    assert torch.equal(v.nodes, nodes) and torch.equal(v.edges, edges)
    still = gen.step(_one_hot_field(SPACE, nodes, edges), x, _t([0.25, 0.5]), 0.0)
    vx = SPACE.variables(x)
    assert torch.equal(SPACE.variables(still).edges, vx.edges)
    assert torch.equal(SPACE.variables(still).nodes, vx.nodes)


def test_each_variable_steps_at_its_graphs_time():
    """Graph 0 at ``t = 0.5`` takes the last step (``h = 0.5``); graph 1 at ``t = 0`` moves
    with probability 1/2 per variable only."""
    gen = GraphGenerator.ctmc(_path())
    x = SPACE.take(_graphs(), torch.tensor([0] + [1] * 40))
    n_nodes, n_pairs = 2 + 3 * 40, 1 + 3 * 40
    nodes, edges = torch.ones(n_nodes, dtype=torch.long), torch.zeros(n_pairs, dtype=torch.long)
    t = torch.cat([_t([0.5]), torch.zeros(40, dtype=D)])
    out = gen.step(_one_hot_field(SPACE, nodes, edges), x, t, 0.5,
                   generator=torch.Generator().manual_seed(2))  # fmt: skip
    v = SPACE.variables(out)
    assert torch.equal(v.nodes[:2], torch.tensor([1, 1])) and int(v.edges[0]) == 0
    moved = float((v.nodes[2:] != SPACE.variables(x).nodes[2:]).double().mean())
    assert 0.2 < moved < 0.5  # half of the nodes of type 0 (2 in 3) move: about 1/3


def test_graphs_without_pairs_keep_no_edges():
    gen = GraphGenerator.ctmc(_path())
    x = SPACE.from_networkx([nx.empty_graph(1), nx.empty_graph(1)])
    field = _one_hot_field(SPACE, torch.tensor([1, 1]), torch.zeros(0, dtype=torch.long))
    out = gen.step(field, x, _t([0.5, 0.5]), 0.5)
    assert torch.equal(out.x, torch.tensor([1, 1])) and out.edge_index.shape == (2, 0)


def test_one_pair_steps_and_a_seeded_step_is_reproducible():
    gen = GraphGenerator.ctmc(_path())
    x = _graphs(sizes=(2,))
    out = gen.step(
        _one_hot_field(SPACE, torch.tensor([1, 0]), torch.tensor([0])), x, _t([0.5]), 0.5
    )
    assert torch.equal(out.x, torch.tensor([1, 0])) and out.edge_index.shape == (2, 0)
    # 60 graphs at t = 0, h = 0.5: each variable moves with probability 1/2
    many = SPACE.take(_graphs(), torch.ones(60, dtype=torch.long))
    field = _one_hot_field(
        SPACE, torch.ones(180, dtype=torch.long), torch.ones(180, dtype=torch.long)
    )
    t = torch.zeros(60, dtype=D)
    runs = [gen.step(field, many, t, 0.5, generator=torch.Generator().manual_seed(3)) for _ in "ab"]
    a, b = (SPACE.variables(r) for r in runs)
    assert torch.equal(a.nodes, b.nodes) and torch.equal(a.edges, b.edges)
    assert not torch.equal(a.nodes, SPACE.variables(many).nodes)


class _RecordingFlow(AbstractGenerator):
    """A flow that records the random generator each step is handed."""

    def __init__(self):
        self.flow = FlowGenerator()
        self.parametrization, self.divergence = self.flow.parametrization, self.flow.divergence
        self.generators = []

    def conditional_target(self, path, sample):
        return self.flow.conditional_target(path, sample)

    def step(self, field, x, t, h, *, generator=None):
        self.generators.append(generator)
        return self.flow.step(field, x, t, h, generator=generator)


def test_the_position_generator_gets_the_steps_random_generator():
    recording = _RecordingFlow()
    gen = GraphGenerator.ctmc(_path(POS), positions=recording)
    rng = torch.Generator().manual_seed(0)
    nodes, edges = torch.tensor([1, 1, 0, 0, 1]), torch.tensor([0, 1, 1, 0])
    field = _one_hot_field(POS, nodes, edges, lambda y, s, v: torch.zeros_like(y.pos))
    gen.step(field, _graphs(POS), _t([0.5, 0.5]), 0.1, generator=rng)
    assert recording.generators == [rng]


@pytest.mark.parametrize("solver", [None, Midpoint()], ids=["euler", "midpoint"])
def test_position_step_sees_each_graphs_time(solver):
    """``v_i = (t_{g(i)} + 1) (1, −1) − r_i``: Euler moves by ``h v(r, t)``, the midpoint by
    ``h v(r + h/2 v(r, t), t + h/2)``, graph by graph; its second evaluation sees the moved
    positions and keeps the start's types."""
    positions = FlowGenerator() if solver is None else FlowGenerator(solver=solver)
    gen = GraphGenerator.ctmc(_path(POS), positions=positions)
    x = _graphs(POS)
    seen = []

    def velocity(y, s, v):
        seen.append(v.nodes.clone())
        return (s[v.node_graph] + 1)[:, None] * _t([1.0, -1.0]) - y.pos

    nodes, edges = torch.tensor([1, 1, 0, 0, 1]), torch.tensor([0, 1, 1, 0])
    t, h = _t([0.5, 0.25]), 0.5
    out = gen.step(_one_hot_field(POS, nodes, edges, velocity), x, t, h)
    t_nodes = t[x.batch][:, None]

    def v_exact(r, s):
        return (s + 1) * _t([1.0, -1.0]) - r

    if solver is None:
        expected = x.pos + h * v_exact(x.pos, t_nodes)
    else:
        mid = x.pos + h / 2 * v_exact(x.pos, t_nodes)
        expected = x.pos + h * v_exact(mid, t_nodes + h / 2)
    torch.testing.assert_close(out.pos, expected, rtol=1e-14, atol=1e-15)
    assert len(seen) == (1 if solver is None else 2)
    assert all(torch.equal(s, x.x) for s in seen)
    assert torch.equal(out.x, nodes)
