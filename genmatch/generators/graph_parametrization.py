"""The parametrization and the Bregman divergence of graph generators: node types, pair types
and (optionally) node positions, each a factor acting on its own variables (GM §9.8)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import final

import torch
from torch import Tensor
from torch_geometric.data import Batch

from genmatch.divergences.base import AbstractBregmanDivergence
from genmatch.generators.base import AbstractLinearParametrization, TestFunction
from genmatch.generators.ctmc_values import PosteriorValue
from genmatch.spaces.base import AbstractStateSpace
from genmatch.spaces.graph import GraphSpace
from genmatch.types import HeadShapes, ParamValue, RawHeads

#: The two kinds of discrete variables of a graph and the prefixes of their network heads.
PARTS = ("nodes", "edges")
#: The prefix of the network heads of the node positions.
POSITIONS = "positions"


@final
@dataclass(frozen=True)
class GraphValue:
    """A graph generator's value: the node CTMC's and the pair CTMC's values, per variable,
    and the position generator's value per node.

    Attributes:
        nodes: the value of the node variables (``N`` one-variable sequences).
        edges: the value of the pair variables (``P`` one-variable sequences).
        node_graph: the graph of each node, ``(N,)``.
        pair_graph: the graph of each pair, ``(P,)``.
        num_graphs: ``B``.
        positions: the value of the node positions (e.g. velocities ``(N, d)``), ``None``
            without positions.
    """

    nodes: ParamValue
    edges: ParamValue
    node_graph: Tensor
    pair_graph: Tensor
    num_graphs: int
    positions: ParamValue | None = None


def sum_per_graph(values: Tensor, graph: Tensor, num_graphs: int) -> Tensor:
    """``Σ`` of per-variable values ``(V,)`` into their graphs, ``(num_graphs,)``."""
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


def _posterior_rows(graph: Tensor, b: int, n: int) -> tuple[Tensor, int, Tensor]:
    """For variables of ``B·N`` (graph, datum) pairs (graph-major, each pair ``(b, ·)`` holding
    graph ``b``'s variables): the row of each variable in graph ``b``'s variables, their
    count, and the graph of each row."""
    counts = torch.bincount(graph, minlength=b * n)
    first = torch.zeros(b * n + 1, dtype=torch.long, device=graph.device)
    first[1:] = counts.cumsum(0)
    local = torch.arange(graph.shape[0], device=graph.device) - first[graph]
    own = counts.reshape(b, n)[:, 0]
    start = torch.zeros(b + 1, dtype=torch.long, device=graph.device)
    start[1:] = own.cumsum(0)
    rows = torch.repeat_interleave(torch.arange(b, device=graph.device), own)
    return start[graph // n] + local, int(start[-1]), rows


@final
@dataclass(frozen=True, eq=False)
class GraphParametrization(AbstractLinearParametrization):
    """``L_t f(G) = Σ_i ⟨K_i f, F^V_t⟩ + Σ_{i<j} ⟨K_ij f, F^E_t⟩ + Σ_i ⟨K^R_i f, F^R_t⟩``: the
    node CTMC acting on node types, the pair CTMC on pair types (one variable per edge) and,
    with positions, the position generator on each node's position (``K^R_i f = ∇_{r_i} f``
    for a flow).

    Heads are namespaced ``"nodes/…"``, ``"edges/…"`` and ``"positions/…"``; their leading
    dimension is the batch's variables (``N`` nodes, ``P`` pairs in
    :meth:`GraphSpace.variables` order), not its graphs. An unused node type (one node type, no
    mask; :attr:`GraphSpace.node_space`) gets raw outputs ``−inf``, so probability and rate 0.
    """

    space: GraphSpace
    nodes: AbstractLinearParametrization
    edges: AbstractLinearParametrization
    positions: AbstractLinearParametrization | None = None

    def _parts(self) -> dict[str, tuple[AbstractLinearParametrization, AbstractStateSpace]]:
        parts: dict[str, tuple[AbstractLinearParametrization, AbstractStateSpace]] = {
            "nodes": (self.nodes, self.space.node_space),
            "edges": (self.edges, self.space.edge_space),
        }
        if self.positions is not None:
            parts[POSITIONS] = (self.positions, self.space.position_space)
        return parts

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
            if k == POSITIONS:
                values[k] = param.constrain(heads, x_t.pos, t[v.node_graph])
                continue
            x_k, graph = (v.nodes, v.node_graph) if k == "nodes" else (v.edges, v.pair_graph)
            if k == "nodes" and self.space.node_space.num_states > self.space.node_states:
                dead = torch.arange(self.space.node_states, self.space.node_space.num_states)
                heads = {
                    h: a.index_fill(-1, dead.to(a.device), float("-inf")) for h, a in heads.items()
                }
            values[k] = param.constrain(heads, x_k[:, None], t[graph])
        return GraphValue(
            values["nodes"],
            values["edges"],
            v.node_graph,
            v.pair_graph,
            v.num_graphs,
            values.get(POSITIONS),
        )

    def test_operator(self, f: TestFunction, x_t: Batch) -> dict[str, object]:  # type: ignore[override]
        """``K f = [f(G^{v→y}) − f(G)]_{v,y}`` for every node and pair variable ``v``, evaluated
        on every single-variable change of every graph (small graphs, tests); with positions,
        the position parametrization's operator on ``f`` as a function of the positions."""
        space = self.space
        v = space.variables(x_t)
        base = f(x_t)
        out: dict[str, object] = {}
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
        if self.positions is not None:
            out[POSITIONS] = self.positions.test_operator(
                lambda pos: f(space.with_variables(x_t, v.nodes, v.edges, v, pos)), x_t.pos
            )
        return out

    def inner(self, a: dict[str, Tensor], b: GraphValue, x_t: Batch) -> Tensor:  # type: ignore[override]
        v = self.space.variables(x_t)
        node_terms = self.nodes.inner(a["nodes"], b.nodes, v.nodes[:, None])
        edge_terms = self.edges.inner(a["edges"], b.edges, v.edges[:, None])
        total = sum_per_graph(node_terms, b.node_graph, b.num_graphs) + sum_per_graph(
            edge_terms.to(node_terms.dtype), b.pair_graph, b.num_graphs
        )
        if self.positions is not None:
            pos_terms = self.positions.inner(a[POSITIONS], b.positions, x_t.pos)
            total = total + sum_per_graph(pos_terms.to(total.dtype), b.node_graph, b.num_graphs)
        return total

    def scale(self, value: GraphValue, factor: Tensor) -> GraphValue:
        positions = value.positions
        if self.positions is not None:
            positions = self.positions.scale(value.positions, factor[value.node_graph])
        return GraphValue(
            self.nodes.scale(value.nodes, factor[value.node_graph]),
            self.edges.scale(value.edges, factor[value.pair_graph]),
            value.node_graph,
            value.pair_graph,
            value.num_graphs,
            positions,
        )

    def posterior_mean(self, values: GraphValue, weights: Tensor) -> GraphValue:
        """``Σ_n w_{bn} F(G_b|z_n)`` for values on the ``B·N`` (graph, datum) pairs, graph-major,
        every pair ``(b, ·)`` holding graph ``b``'s variables."""
        b, n = weights.shape
        flat = weights.reshape(-1)
        node_rows, num_nodes, node_graph = _posterior_rows(values.node_graph, b, n)
        pair_rows, num_pairs, pair_graph = _posterior_rows(values.pair_graph, b, n)
        node_w, pair_w = flat[values.node_graph], flat[values.pair_graph]
        positions = None
        if values.positions is not None:
            positions = _weighted_sum(values.positions, node_w, node_rows, num_nodes)
        return GraphValue(
            _weighted_sum(values.nodes, node_w, node_rows, num_nodes),
            _weighted_sum(values.edges, pair_w, pair_rows, num_pairs),
            node_graph,
            pair_graph,
            b,
            positions,
        )


def _positions(value: GraphValue) -> ParamValue:
    if value.positions is None:
        raise ValueError("the divergence has a position term, but a value has no positions")
    return value.positions


@final
@dataclass(frozen=True, eq=False)
class GraphDivergence(AbstractBregmanDivergence):
    """``D = w_V Σ_i D_V(a_i, b_i) + w_E Σ_{i<j} D_E(a_ij, b_ij) + w_R Σ_i D_R(a_i, b_i)`` per
    graph: the node and pair CTMCs' (and the position generator's) Bregman divergences summed
    over a graph's variables, weighted (a positively weighted sum of Bregman divergences is the
    Bregman divergence of the summed potential)."""

    nodes: AbstractBregmanDivergence
    edges: AbstractBregmanDivergence
    node_weight: float = 1.0
    edge_weight: float = 1.0
    positions: AbstractBregmanDivergence | None = None
    position_weight: float = 1.0

    def terms(self, a: GraphValue, b: GraphValue) -> dict[str, Tensor]:  # type: ignore[override]
        """The weighted node, edge (and position) terms, ``(B,)`` each."""
        node = sum_per_graph(self.nodes(a.nodes, b.nodes), a.node_graph, a.num_graphs)
        edge = sum_per_graph(self.edges(a.edges, b.edges), a.pair_graph, a.num_graphs)
        out = {"nodes": self.node_weight * node, "edges": self.edge_weight * edge.to(node.dtype)}
        if self.positions is not None:
            pos = self.positions(_positions(a), _positions(b))
            out[POSITIONS] = self.position_weight * sum_per_graph(
                pos.to(node.dtype), a.node_graph, a.num_graphs
            )
        return out

    def phi(self, a: GraphValue) -> Tensor:  # type: ignore[override]
        node = sum_per_graph(self.nodes.phi(a.nodes), a.node_graph, a.num_graphs)
        edge = sum_per_graph(self.edges.phi(a.edges), a.pair_graph, a.num_graphs)
        total = self.node_weight * node + self.edge_weight * edge
        if self.positions is not None:
            pos = sum_per_graph(self.positions.phi(_positions(a)), a.node_graph, a.num_graphs)
            total = total + self.position_weight * pos
        return total

    def __call__(self, a: GraphValue, b: GraphValue) -> Tensor:  # type: ignore[override]
        return torch.stack(list(self.terms(a, b).values())).sum(0)

    def generic(self, a: GraphValue, b: GraphValue) -> Tensor:  # type: ignore[override]
        node = sum_per_graph(self.nodes.generic(a.nodes, b.nodes), a.node_graph, a.num_graphs)
        edge = sum_per_graph(self.edges.generic(a.edges, b.edges), a.pair_graph, a.num_graphs)
        total = self.node_weight * node + self.edge_weight * edge
        if self.positions is not None:
            pos = self.positions.generic(_positions(a), _positions(b))
            total = total + self.position_weight * sum_per_graph(pos, a.node_graph, a.num_graphs)
        return total
