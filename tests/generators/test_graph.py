"""The graph CTMC: forward equation exactly on enumerable graphs, the oracle reaches the data,
the loss, symmetric valid samples."""

import dataclasses
import itertools

import networkx as nx
import pytest
import torch
from torch_geometric.data import Batch, Data

from genmatch import ExactMarginal, GeneratorMatchingLoss, simulate
from genmatch.generators import CTMCHead, GraphGenerator
from genmatch.paths import GraphMixturePath, LinearKappa, PathSample, PolynomialKappa
from genmatch.sources import GraphSource
from genmatch.spaces import AbstractFiniteSpace, GraphSpace
from genmatch.testing import check_finite_forward_equation, finite_generator_matrix


class AllGraphs(AbstractFiniteSpace):
    """Every graph of a GraphSpace on ``n`` labelled nodes (node and pair states enumerated)."""

    def __init__(self, space: GraphSpace, n: int) -> None:
        self.space, self.n = space, n
        self.pairs = n * (n - 1) // 2

    def check(self, x, name="x"):
        self.space.check(x, name)
        if not bool((self.space.num_nodes(x) == self.n).all()):
            raise ValueError(f"{name} must hold graphs on {self.n} nodes")

    def batch_size(self, x):
        return self.space.batch_size(x)

    def take(self, x, index):
        return self.space.take(x, index)

    def where(self, mask, a, b):
        return self.space.where(mask, a, b)

    def cat(self, parts):
        return self.space.cat(parts)

    def reference(self, x):
        return self.space.reference(x)

    def _radix(self):
        s = self.space
        return [s.node_states] * self.n + [s.edge_states] * self.pairs

    def enumerate(self):
        codes = torch.tensor(list(itertools.product(*[range(r) for r in self._radix()])))
        m = codes.shape[0]
        empty = torch.zeros(2, 0, dtype=torch.long)
        template = Batch.from_data_list(
            [Data(x=torch.zeros(self.n, dtype=torch.long), edge_index=empty,
                  edge_attr=torch.zeros(0, dtype=torch.long), num_nodes=self.n)] * m
        )  # fmt: skip
        nodes = codes[:, : self.n].reshape(-1)
        edges = codes[:, self.n :].reshape(-1)
        return self.space.with_variables(template, nodes, edges)

    def index(self, x):
        v = self.space.variables(x)
        b = v.num_graphs
        codes = torch.cat([v.nodes.reshape(b, self.n), v.edges.reshape(b, self.pairs)], 1)
        out = torch.zeros(b, dtype=torch.long)
        for k, r in enumerate(self._radix()):
            out = out * r + codes[:, k]
        return out


def _path(space, data, masked):
    source = GraphSource.masked(space, data) if masked else GraphSource.marginal(space, data)
    return GraphMixturePath(space, source, PolynomialKappa(1.5))


@pytest.mark.parametrize("head", [CTMCHead.POSTERIOR, CTMCHead.RATE])
@pytest.mark.parametrize(
    "space, n, masked",
    [
        (GraphSpace(2, 2), 3, False),  # all 64 graphs on 3 nodes, 2 node and 2 edge types
        (GraphSpace(2, 2, mask=True), 2, True),  # masked: 3 node and 3 edge states, 2 nodes
    ],
)
def test_forward_equation_exactly_on_every_graph(space, n, masked, head):
    z = space.from_networkx([_typed_path(n)])
    path = _path(space, z, masked)
    gen = GraphGenerator.ctmc(path, head=head, edge_weight=5.0)
    finite = AllGraphs(space, n)
    assert finite.num_points == (space.node_states**n) * space.edge_states ** (n * (n - 1) // 2)
    states = finite.enumerate()
    assert torch.equal(finite.index(states), torch.arange(finite.num_points))
    for t in (0.2, 0.7):
        dp, flow = check_finite_forward_equation(path, gen, finite, z, t)
        assert float(dp.abs().max()) > 0.1  # the law moves: the check is not vacuous
        assert abs(float(dp.sum())) < 1e-12


def _typed_path(n):
    g = nx.path_graph(n)
    for u in g:
        g.nodes[u]["type"] = u % 2
    return g


def test_forward_equation_detects_wrong_edge_rates():
    """Doubling the pair rates (nodes kept) breaks d/dt p = p Q: the identity is sharp."""
    space = GraphSpace(2, 2)
    z = space.from_networkx([_typed_path(3)])
    path = _path(space, z, False)
    gen = GraphGenerator.ctmc(path, head=CTMCHead.RATE)
    finite = AllGraphs(space, 3)
    states = finite.enumerate()
    m = finite.num_points
    t = torch.full((m,), 0.4, dtype=torch.float64)
    zz = space.take(z, torch.zeros(m, dtype=torch.long))
    p, dp = torch.func.jvp(
        lambda s: path.log_prob(states, s, zz).exp(), (t,), (torch.ones_like(t),)
    )
    value = gen.conditional_target(path, PathSample(x_t=states, t=t, z=zz))
    assert torch.allclose(p @ finite_generator_matrix(gen, value, finite), dp, atol=1e-12)
    wrong = dataclasses.replace(value, edges=2 * value.edges)
    gap = (p @ finite_generator_matrix(gen, wrong, finite) - dp).abs().max()
    assert float(gap) > 0.05


def _data(space):
    graphs = [nx.path_graph(3), nx.complete_graph(3), nx.star_graph(3), nx.cycle_graph(4)]
    return space.from_networkx(graphs)


@pytest.mark.parametrize(
    "masked, corrected", [(True, False), (False, False), (True, True), (False, True)]
)
def test_oracle_reaches_the_data(masked, corrected):
    space = GraphSpace(1, 2, mask=masked)
    data = _data(space)
    path = GraphMixturePath(
        space,
        GraphSource.masked(space, data) if masked else GraphSource.marginal(space, data),
        LinearKappa(),
    )
    beta = (lambda t: 2.0 * (1 - t)) if corrected else None  # predictor-corrector or not
    gen = GraphGenerator.ctmc(path, corrector=beta)
    oracle = ExactMarginal(path, gen, data, t_max=1.0, space=space)
    rng = torch.Generator().manual_seed(0)
    x_0 = path.source.sample(300, generator=rng)
    out = simulate(gen, oracle, x_0, 32, space=space, rng=rng).x
    space.check(out)
    assert torch.equal(space.num_nodes(out), space.num_nodes(x_0))  # sizes as sampled
    dense = space.to_dense(out, 4).edge_types
    target = space.to_dense(data, 4).edge_types
    match = (dense[:, None] == target[None]).flatten(2).all(2) & (
        space.num_nodes(out)[:, None] == space.num_nodes(data)[None]
    )
    hits = match.any(1)
    assert float(hits.float().mean()) > 0.97  # (almost) every sample is a datum
    freq = match.float().sum(0) / hits.sum()
    # sizes 3, 3, 4, 4 each with probability 1/2, then the two data of a size equally likely
    assert torch.allclose(freq, torch.full((4,), 0.25), atol=0.07), freq


@pytest.mark.parametrize("fit_pinned", [True, False])
def test_loss_trains_both_kinds_of_variables_and_weighs_edges(fit_pinned):
    space = GraphSpace(1, 2, mask=True)
    data = _data(space)
    path = _path(space, data, True)
    gen = GraphGenerator.ctmc(path, edge_weight=5.0, fit_pinned=fit_pinned)
    assert gen.nodes.fit_pinned is fit_pinned and gen.edges.fit_pinned is fit_pinned

    def net(x_t, t):  # uniform logits: a constant network
        v = space.variables(x_t)
        return {"nodes/logits": torch.zeros(len(v.nodes), 1, 2),
                "edges/logits": torch.zeros(len(v.edges), 1, 3)}  # fmt: skip

    loss = GeneratorMatchingLoss(path, gen, space=space)
    terms = loss.terms(
        net, data, t=torch.full((4,), 0.5), generator=torch.Generator().manual_seed(1)
    )
    assert set(terms.parts) == {"nodes", "edges"}
    # every fitted pair (the masked ones, and with fit_pinned the unmasked ones too)
    # contributes KL(δ || uniform over the 2 real edge types) = log 2, times 5
    v = space.variables(terms.sample.x_t)
    pairs = torch.bincount(v.pair_graph, minlength=4).float()
    masked_pairs = torch.bincount(v.pair_graph[v.edges == 2], minlength=4).float()
    log2 = torch.log(torch.tensor(2.0))
    fitted = pairs if fit_pinned else masked_pairs
    assert torch.allclose(terms.parts["edges"], 5.0 * fitted * log2)
    assert torch.allclose(terms.parts["nodes"], torch.zeros(4))  # one real node type
    assert 0 < float(masked_pairs.sum()) < float(pairs.sum())  # both kinds occur


def test_unsupported_path_and_mismatched_parts():
    space = GraphSpace(1, 2, mask=True)
    data = _data(space)
    path = _path(space, data, True)
    gen = GraphGenerator.ctmc(path)
    other = GraphSpace(1, 3, mask=True)
    with pytest.raises(ValueError, match="one-variable sequences of 4 states"):
        GraphGenerator(other, gen.nodes, gen.edges)
    with pytest.raises(ValueError, match="edge_weight must be a number > 0"):
        GraphGenerator(space, gen.nodes, gen.edges, edge_weight=0.0)
    with pytest.raises(ValueError, match="same node counts"):
        path.sample(data, torch.full((4,), 0.5), x_0=space.take(data, torch.tensor([3, 2, 1, 0])))


def _repeat(values, ptr, rows):
    """The per-variable rows of graphs ``rows`` (graph ``b`` owns ``ptr[b] … ptr[b+1]−1``)."""
    return torch.cat([values[ptr[b] : ptr[b + 1]] for b in rows.tolist()])


def test_cgm_and_gm_gradients_agree_on_graphs():
    """GM Thm. 20 on graphs: Σ_n p(z_n|G) ∇D(F(G|z_n), F_θ) = ∇D(F(G), F_θ), i.e. the exact
    marginal's per-variable averaging is right, pair by pair and node by node."""
    space = GraphSpace(2, 3, mask=True)
    graphs = [_typed_path(3), nx.complete_graph(3), nx.star_graph(3), nx.cycle_graph(4)]
    data = space.from_networkx(graphs)
    path = _path(space, data, True)
    gen = GraphGenerator.ctmc(path, edge_weight=5.0)
    oracle = ExactMarginal(path, gen, data, t_max=1.0, space=space)
    rng = torch.Generator().manual_seed(4)
    t = torch.full((6,), 0.3, dtype=torch.float64)
    x = path.sample(space.take(data, torch.tensor([0, 1, 2, 3, 3, 0])), t, generator=rng).x_t
    v = space.variables(x)
    raw = {
        "nodes/logits": torch.randn(len(v.nodes), 1, 3, dtype=torch.float64, generator=rng),
        "edges/logits": torch.randn(len(v.edges), 1, 4, dtype=torch.float64, generator=rng),
    }
    raw = {k: a.requires_grad_(True) for k, a in raw.items()}
    marginal = oracle(x, t)
    gm_loss = gen.divergence(marginal, gen.constrain(raw, x, t)).sum()
    gm_grad = torch.autograd.grad(gm_loss, list(raw.values()))
    # the conditional loss averaged with the posterior over the (graph, datum) pairs
    weights = oracle.posterior(x, t)
    assert float(weights.max(1).values.min()) < 0.9  # several data plausible: the average matters
    # pairs of positive weight only (the others are impossible data: infinite divergence)
    rows, cols = (weights > 0).nonzero().T
    x_rep, z_rep = space.take(x, rows), space.take(data, cols)
    target = gen.conditional_target(path, PathSample(x_t=x_rep, t=t[rows], z=z_rep))
    raw_rep = {
        "nodes/logits": _repeat(raw["nodes/logits"], x.ptr, rows),
        "edges/logits": _repeat(raw["edges/logits"], _pair_ptr(v), rows),
    }
    per_pair = gen.divergence(target, gen.constrain(raw_rep, x_rep, t[rows]))
    cgm_loss = (weights[rows, cols] * per_pair).sum()
    cgm_grad = torch.autograd.grad(cgm_loss, list(raw.values()))
    for a, b in zip(gm_grad, cgm_grad, strict=True):
        assert float(a.abs().max()) > 1e-3
        assert torch.allclose(a, b, atol=1e-12)


def _pair_ptr(v):
    counts = torch.bincount(v.pair_graph, minlength=v.num_graphs)
    return torch.cat([torch.zeros(1, dtype=torch.long), counts.cumsum(0)])
