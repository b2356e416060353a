"""CTMCs on graphs: one factorised CTMC over node types, one over pair types (GM eq. 9.8–9.9)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import final

import torch
from torch import Tensor
from torch_geometric.data import Batch

from genmatch._pairs import pair_up
from genmatch.divergences.base import AbstractBregmanDivergence
from genmatch.generators.base import AbstractGenerator, AbstractLinearParametrization, TestFunction
from genmatch.generators.ctmc import CTMCGenerator, CTMCHead, JumpMethod
from genmatch.generators.ctmc_values import PosteriorValue
from genmatch.paths.base import AbstractConditionalPath, PathSample
from genmatch.paths.graph import GraphMixturePath
from genmatch.sources.categorical import CategoricalSource
from genmatch.spaces.base import AbstractStateSpace
from genmatch.spaces.discrete import DiscreteSpace
from genmatch.spaces.graph import GraphSpace
from genmatch.types import Field, HeadShapes, ParamValue, RawHeads

#: The two kinds of variables of a graph and the prefixes of their network heads.
PARTS = ("nodes", "edges")


@final
@dataclass(frozen=True)
class GraphValue:
    """A graph generator's value: the node CTMC's and the pair CTMC's values, per variable.

    Attributes:
        nodes: the value of the node variables (``N`` one-variable sequences).
        edges: the value of the pair variables (``P`` one-variable sequences).
        node_graph: the graph of each node, ``(N,)``.
        pair_graph: the graph of each pair, ``(P,)``.
        num_graphs: ``B``.
    """

    nodes: ParamValue
    edges: ParamValue
    node_graph: Tensor
    pair_graph: Tensor
    num_graphs: int


def _sum_per_graph(values: Tensor, graph: Tensor, num_graphs: int) -> Tensor:
    out = torch.zeros(num_graphs, dtype=values.dtype, device=values.device)
    return out.index_add(0, graph, values)


def _weighted_sum(value: ParamValue, weights: Tensor, index: Tensor, size: int) -> ParamValue:
    """``Σ`` of per-variable values into ``size`` rows, variable ``v`` weighted ``weights[v]``."""
    if isinstance(value, PosteriorValue):
        probs = _weighted_sum(value.probs, weights, index, size)
        intensity = _weighted_sum(value.intensity, weights, index, size)
        return PosteriorValue(probs, intensity)
    w = weights.to(value.dtype).reshape(weights.shape + (1,) * (value.dim() - 1))
    out = torch.zeros((size, *value.shape[1:]), dtype=value.dtype, device=value.device)
    return out.index_add(0, index, w * value)


@final
@dataclass(frozen=True, eq=False)
class GraphParametrization(AbstractLinearParametrization):
    """``L_t f(G) = Σ_i ⟨K_i f, F^V_t⟩ + Σ_{i<j} ⟨K_ij f, F^E_t⟩``: the node CTMC acting on node
    types, the pair CTMC on pair types (one variable per edge).

    Heads are namespaced ``"nodes/…"`` and ``"edges/…"``; their leading dimension is the
    batch's variables (``N`` nodes, ``P`` pairs in :meth:`GraphSpace.variables` order), not its
    graphs. An unused node type (one node type, no mask; :attr:`GraphSpace.node_space`) gets
    raw outputs ``−inf``, so probability and rate 0.
    """

    space: GraphSpace
    nodes: AbstractLinearParametrization
    edges: AbstractLinearParametrization

    def _parts(self) -> dict[str, tuple[AbstractLinearParametrization, AbstractStateSpace]]:
        return {
            "nodes": (self.nodes, self.space.node_space),
            "edges": (self.edges, self.space.edge_space),
        }

    def head_shapes(self, space: AbstractStateSpace) -> HeadShapes:
        return {
            f"{k}/{h}": shape
            for k, (param, sub) in self._parts().items()
            for h, shape in param.head_shapes(sub).items()
        }

    def constrain(self, raw: RawHeads, x_t: Batch, t: Tensor) -> GraphValue:
        v = self.space.variables(x_t)
        values = {}
        for k, (param, _) in self._parts().items():
            heads = {name[len(k) + 1 :]: a for name, a in raw.items() if name.startswith(k + "/")}
            if not heads:
                raise KeyError(f"the network returned no head for {k!r}, got {sorted(raw)}")
            x_k, graph = (v.nodes, v.node_graph) if k == "nodes" else (v.edges, v.pair_graph)
            if k == "nodes" and self.space.node_space.num_states > self.space.node_states:
                dead = torch.arange(self.space.node_states, self.space.node_space.num_states)
                heads = {
                    h: a.index_fill(-1, dead.to(a.device), float("-inf")) for h, a in heads.items()
                }
            values[k] = param.constrain(heads, x_k[:, None], t[graph])
        return GraphValue(
            values["nodes"], values["edges"], v.node_graph, v.pair_graph, v.num_graphs
        )

    def test_operator(self, f: TestFunction, x_t: Batch) -> dict[str, Tensor]:  # type: ignore[override]
        """``K f = [f(G^{v→y}) − f(G)]_{v,y}`` for every node and pair variable ``v``, evaluated
        on every single-variable change of every graph (small graphs, tests)."""
        space = self.space
        v = space.variables(x_t)
        base = f(x_t)
        out = {}
        for k in PARTS:
            states = space.node_states if k == "nodes" else space.edge_states
            graph = v.node_graph if k == "nodes" else v.pair_graph
            count = graph.shape[0]
            if count == 0:
                out[k] = torch.zeros(0, 1, states, dtype=base.dtype)
                continue
            first = torch.zeros(v.num_graphs + 1, dtype=torch.long, device=graph.device)
            first[1:] = torch.bincount(graph, minlength=v.num_graphs).cumsum(0)
            local = torch.arange(count, device=graph.device) - first[graph]
            copies = space.take(x_t, graph.repeat_interleave(states))
            vc = space.variables(copies)
            cgraph = vc.node_graph if k == "nodes" else vc.pair_graph
            cfirst = torch.zeros(vc.num_graphs + 1, dtype=torch.long, device=graph.device)
            cfirst[1:] = torch.bincount(cgraph, minlength=vc.num_graphs).cumsum(0)
            where = cfirst[:-1] + local.repeat_interleave(states)
            y = torch.arange(states, device=graph.device).repeat(count)
            nodes, edges = vc.nodes.clone(), vc.edges.clone()
            (nodes if k == "nodes" else edges)[where] = y
            values = f(space.with_variables(copies, nodes, edges, vc)).reshape(count, states)
            out[k] = (values - base[graph][:, None])[:, None, :]
        return out

    def inner(self, a: dict[str, Tensor], b: GraphValue, x_t: Batch) -> Tensor:  # type: ignore[override]
        v = self.space.variables(x_t)
        node_terms = self.nodes.inner(a["nodes"], b.nodes, v.nodes[:, None])
        edge_terms = self.edges.inner(a["edges"], b.edges, v.edges[:, None])
        return _sum_per_graph(node_terms, b.node_graph, b.num_graphs) + _sum_per_graph(
            edge_terms.to(node_terms.dtype), b.pair_graph, b.num_graphs
        )

    def scale(self, value: GraphValue, factor: Tensor) -> GraphValue:
        return GraphValue(
            self.nodes.scale(value.nodes, factor[value.node_graph]),
            self.edges.scale(value.edges, factor[value.pair_graph]),
            value.node_graph,
            value.pair_graph,
            value.num_graphs,
        )

    def posterior_mean(self, values: GraphValue, weights: Tensor) -> GraphValue:
        """``Σ_n w_{bn} F(G_b|z_n)`` for values on the ``B·N`` (graph, datum) pairs, graph-major,
        every pair ``(b, ·)`` holding graph ``b``'s variables."""
        b, n = weights.shape
        parts, graphs = {}, {}
        for k in PARTS:
            value = values.nodes if k == "nodes" else values.edges
            graph = values.node_graph if k == "nodes" else values.pair_graph
            counts = torch.bincount(graph, minlength=b * n)
            first = torch.zeros(b * n + 1, dtype=torch.long, device=graph.device)
            first[1:] = counts.cumsum(0)
            local = torch.arange(graph.shape[0], device=graph.device) - first[graph]
            own = counts.reshape(b, n)[:, 0]
            start = torch.zeros(b + 1, dtype=torch.long, device=graph.device)
            start[1:] = own.cumsum(0)
            index = start[graph // n] + local
            parts[k] = _weighted_sum(value, weights.reshape(-1)[graph], index, int(start[-1]))
            graphs[k] = torch.repeat_interleave(torch.arange(b, device=graph.device), own)
        return GraphValue(parts["nodes"], parts["edges"], graphs["nodes"], graphs["edges"], b)


@final
@dataclass(frozen=True, eq=False)
class GraphDivergence(AbstractBregmanDivergence):
    """``D = w_V Σ_i D_V(a_i, b_i) + w_E Σ_{i<j} D_E(a_ij, b_ij)`` per graph: the node and pair
    CTMCs' Bregman divergences summed over a graph's variables, weighted (a positively
    weighted sum of Bregman divergences is the Bregman divergence of the summed potential)."""

    nodes: AbstractBregmanDivergence
    edges: AbstractBregmanDivergence
    node_weight: float = 1.0
    edge_weight: float = 1.0

    def terms(self, a: GraphValue, b: GraphValue) -> dict[str, Tensor]:  # type: ignore[override]
        """The weighted node and edge terms, ``(B,)`` each."""
        node = _sum_per_graph(self.nodes(a.nodes, b.nodes), a.node_graph, a.num_graphs)
        edge = _sum_per_graph(self.edges(a.edges, b.edges), a.pair_graph, a.num_graphs)
        return {"nodes": self.node_weight * node, "edges": self.edge_weight * edge.to(node.dtype)}

    def phi(self, a: GraphValue) -> Tensor:  # type: ignore[override]
        node = _sum_per_graph(self.nodes.phi(a.nodes), a.node_graph, a.num_graphs)
        edge = _sum_per_graph(self.edges.phi(a.edges), a.pair_graph, a.num_graphs)
        return self.node_weight * node + self.edge_weight * edge

    def __call__(self, a: GraphValue, b: GraphValue) -> Tensor:  # type: ignore[override]
        parts = self.terms(a, b)
        return parts["nodes"] + parts["edges"]

    def generic(self, a: GraphValue, b: GraphValue) -> Tensor:  # type: ignore[override]
        node = _sum_per_graph(self.nodes.generic(a.nodes, b.nodes), a.node_graph, a.num_graphs)
        edge = _sum_per_graph(self.edges.generic(a.edges, b.edges), a.pair_graph, a.num_graphs)
        return self.node_weight * node + self.edge_weight * edge


@final
@dataclass(frozen=True, eq=False)
class GraphGenerator(AbstractGenerator):
    """A CTMC on graphs of fixed sizes: one :class:`~genmatch.generators.CTMCGenerator` (or
    a generator wrapping one, e.g. a predictor–corrector) moves node types, one moves the type
    of every pair ``i < j`` (an edge is one variable, sampled
    once, so graphs stay symmetric), each variable on its own clocks (GM eq. 9.8–9.9).

    Conditional target for a :class:`~genmatch.paths.GraphMixturePath`: each variable's CTMC
    target on the path's node or pair mixture. The loss is :class:`GraphDivergence`, with
    ``edge_weight`` typically above ``node_weight`` (DeFoG weighs edges 5×). Sizes do not
    change: a sample keeps the node counts of ``x_0``, drawn by
    :meth:`~genmatch.sources.GraphSource.sample` from the data's size distribution.

    Args:
        space: the graph space.
        nodes: the CTMC of the node variables, on ``space.node_space`` (one-variable
            sequences; its step is handed the value of every node at once).
        edges: the CTMC of the pair variables, on ``space.edge_space``.
        node_weight: loss weight of the node terms (``> 0``).
        edge_weight: loss weight of the edge terms (``> 0``).

    Example:
        >>> import networkx as nx
        >>> from genmatch.paths import LinearKappa
        >>> from genmatch.sources import GraphSource
        >>> space = GraphSpace(2, 3, mask=True)
        >>> data = space.from_networkx([nx.path_graph(3)])
        >>> path = GraphMixturePath(space, GraphSource.masked(space, data), LinearKappa())
        >>> gen = GraphGenerator.ctmc(path, edge_weight=5.0)
        >>> gen.head_shapes(space)
        {'nodes/logits': (1, 3), 'edges/logits': (1, 4)}
    """

    space: GraphSpace
    nodes: AbstractGenerator
    edges: AbstractGenerator
    node_weight: float = 1.0
    edge_weight: float = 1.0
    parametrization: GraphParametrization = field(init=False)
    divergence: GraphDivergence = field(init=False)

    def __post_init__(self) -> None:
        for name, gen, sub in (
            ("nodes", self.nodes, self.space.node_space),
            ("edges", self.edges, self.space.edge_space),
        ):
            if not isinstance(gen, AbstractGenerator):
                raise TypeError(f"{name} must be an AbstractGenerator instance, got {gen!r}")
            shapes = set(gen.head_shapes(sub).values())
            if shapes != {(1, sub.num_states)}:
                raise ValueError(
                    f"the {name} generator must act on one-variable sequences of "
                    f"{sub.num_states} states (space.{name[:-1]}_space), its heads are {shapes}"
                )
        for name in ("node_weight", "edge_weight"):
            w = getattr(self, name)
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not w > 0:
                raise ValueError(f"{name} must be a number > 0, got {w!r}")
        param = GraphParametrization(
            self.space, self.nodes.parametrization, self.edges.parametrization
        )
        div = GraphDivergence(
            self.nodes.divergence,
            self.edges.divergence,
            float(self.node_weight),
            float(self.edge_weight),
        )
        object.__setattr__(self, "parametrization", param)
        object.__setattr__(self, "divergence", div)

    @classmethod
    def ctmc(
        cls,
        path: GraphMixturePath,
        *,
        head: CTMCHead = CTMCHead.POSTERIOR,
        method: JumpMethod = JumpMethod.EXPONENTIAL,
        node_weight: float = 1.0,
        edge_weight: float = 1.0,
        corrector: Callable[[Tensor], Tensor] | None = None,
    ) -> GraphGenerator:
        """The graph CTMC of ``path``: both variables' CTMCs with its schedule and sources.

        With ``corrector`` (``t ↦ β_t ≥ 0``), each CTMC is wrapped in the predictor–corrector
        :class:`~genmatch.compose.MixtureCorrector` (posterior head): sampling adds the
        divergence-free corrector rates, training is unchanged.
        """
        from genmatch.compose.corrector import MixtureCorrector

        def part(sub: DiscreteSpace, source: CategoricalSource) -> AbstractGenerator:
            gen = CTMCGenerator(sub, path.kappa, head=head, method=method, source=source)
            return gen if corrector is None else MixtureCorrector(gen, source, corrector)

        return cls(
            path.space,
            part(path.space.node_space, path.source.nodes),
            part(path.space.edge_space, path.source.edges),
            node_weight,
            edge_weight,
        )

    def _graph_path(self, path: AbstractConditionalPath) -> GraphMixturePath:
        if not isinstance(path, GraphMixturePath):
            raise self.unsupported(path, "GraphMixturePath")
        if path.space != self.space:
            raise ValueError("the path lives on a different graph space than the generator")
        return path

    def conditional_target(self, path: AbstractConditionalPath, sample: PathSample) -> GraphValue:
        path = self._graph_path(path)
        vx, vz = self.space.variables(sample.x_t), self.space.variables(sample.z)
        if vx.nodes.shape != vz.nodes.shape or not torch.equal(vx.node_graph, vz.node_graph):
            raise ValueError("x_t and z must have the same node counts, graph by graph")
        t = sample.t
        nodes = self.nodes.conditional_target(
            path.nodes, PathSample(x_t=vx.nodes[:, None], t=t[vx.node_graph], z=vz.nodes[:, None])
        )
        edges = self.edges.conditional_target(
            path.edges, PathSample(x_t=vx.edges[:, None], t=t[vx.pair_graph], z=vz.edges[:, None])
        )
        return GraphValue(nodes, edges, vx.node_graph, vx.pair_graph, vx.num_graphs)

    def marginal_target(
        self, path: AbstractConditionalPath, x: Batch, t: Tensor, data: Batch, posterior: Tensor
    ) -> GraphValue:
        """``Σ_n p(z_n|G) F_t(G|z_n)`` (GM eq. 9.14); data of another size than ``G`` have
        posterior weight 0 and are replaced by ``G`` itself before their (unused) target."""
        x_rep, t_rep, z_rep = pair_up(x, t, data, self.space)
        same = self.space.num_nodes(x_rep) == self.space.num_nodes(z_rep)
        if not bool(same.all()):
            z_rep = self.space.where(same, z_rep, x_rep)
        values = self.conditional_target(path, PathSample(x_t=x_rep, t=t_rep, z=z_rep))
        return self.parametrization.posterior_mean(values, posterior)

    def step(
        self,
        field: Field,
        x: Batch,
        t: Tensor,
        h: float,
        *,
        generator: torch.Generator | None = None,
    ) -> Batch:
        """Every node and pair variable takes its CTMC's step from one field evaluation."""
        value = field(x, t)
        v = self.space.variables(x)
        nodes = self._step(self.nodes, value.nodes, v.nodes, t[v.node_graph], h, generator)
        edges = self._step(self.edges, value.edges, v.edges, t[v.pair_graph], h, generator)
        return self.space.with_variables(x, nodes, edges, v)

    @staticmethod
    def _step(
        gen: AbstractGenerator,
        value: ParamValue,
        x: Tensor,
        t: Tensor,
        h: float,
        rng: torch.Generator | None,
    ) -> Tensor:
        if x.numel() == 0:
            return x
        return gen.step(lambda *_: value, x[:, None], t, h, generator=rng)[:, 0]
