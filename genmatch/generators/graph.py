"""CTMCs on graphs: one factorised CTMC over node types, one over pair types (GM eq. 9.8–9.9),
and a flow on node positions (GM eq. 9.5)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import final

import torch
from torch import Tensor
from torch_geometric.data import Batch

from genmatch._pairs import pair_up
from genmatch.generators.base import AbstractGenerator, reuse_first
from genmatch.generators.ctmc import CTMCGenerator, CTMCHead, JumpMethod
from genmatch.generators.flow import FlowGenerator
from genmatch.generators.graph_parametrization import (
    GraphDivergence,
    GraphParametrization,
    GraphValue,
)
from genmatch.paths.base import AbstractConditionalPath, PathSample
from genmatch.paths.graph import GraphMixturePath
from genmatch.sources.categorical import CategoricalSource
from genmatch.spaces.discrete import DiscreteSpace
from genmatch.spaces.graph import GraphSpace
from genmatch.types import Field, ParamValue

__all__ = ["GraphDivergence", "GraphGenerator", "GraphParametrization", "GraphValue"]


@final
@dataclass(frozen=True, eq=False)
class GraphGenerator(AbstractGenerator):
    """A CTMC on graphs of fixed sizes: one :class:`~genmatch.generators.CTMCGenerator` (or
    a generator wrapping one, e.g. a predictor–corrector) moves node types, one moves the type
    of every pair ``i < j`` (an edge is one variable, sampled
    once, so graphs stay symmetric), each variable on its own clocks (GM eq. 9.8–9.9); with
    positions, a third generator (by default a :class:`~genmatch.generators.FlowGenerator`,
    one velocity per node) moves each node's position. The graph generator is the sum of the
    three, each acting on its own variables (the generator of a product, GM §9.8), on the
    graph's one clock ``t``.

    Conditional target for a :class:`~genmatch.paths.GraphMixturePath`: each variable's CTMC
    target on the path's node or pair mixture, and the position generator's target on the
    path's position path node by node (the CondOT velocity ``r_1 − r_0``). The loss is
    :class:`GraphDivergence`, with ``edge_weight`` typically above ``node_weight`` (DeFoG
    weighs edges 5×) and ``position_weight`` for the positions. Sizes do not
    change: a sample keeps the node counts of ``x_0``, drawn by
    :meth:`~genmatch.sources.GraphSource.sample` from the data's size distribution.

    Args:
        space: the graph space.
        nodes: the CTMC of the node variables, on ``space.node_space`` (one-variable
            sequences; its step is handed the value of every node at once).
        edges: the CTMC of the pair variables, on ``space.edge_space``.
        node_weight: loss weight of the node terms (``> 0``).
        edge_weight: loss weight of the edge terms (``> 0``).
        positions: the generator of one node's position, on ``space.position_space`` (its
            step is handed every node's position at once); required when the space has
            positions, not allowed otherwise.
        position_weight: loss weight of the position terms (``> 0``).

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
    positions: AbstractGenerator | None = None
    position_weight: float = 1.0
    parametrization: GraphParametrization = field(init=False)
    divergence: GraphDivergence = field(init=False)

    def __post_init__(self) -> None:
        d = self.space.position_dim
        if d and not isinstance(self.positions, AbstractGenerator):
            raise ValueError(
                f"the space has positions (position_dim = {d}): positions must be an "
                f"AbstractGenerator on R^{d} (e.g. FlowGenerator()), got {self.positions!r}"
            )
        if not d and self.positions is not None:
            raise ValueError(
                "a position generator was given, but the space has no positions (position_dim = 0)"
            )
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
        for name in ("node_weight", "edge_weight", "position_weight"):
            w = getattr(self, name)
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not w > 0:
                raise ValueError(f"{name} must be a number > 0, got {w!r}")
        pos = self.positions
        param = GraphParametrization(
            self.space,
            self.nodes.parametrization,
            self.edges.parametrization,
            None if pos is None else pos.parametrization,
        )
        div = GraphDivergence(
            self.nodes.divergence,
            self.edges.divergence,
            float(self.node_weight),
            float(self.edge_weight),
            None if pos is None else pos.divergence,
            float(self.position_weight),
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
        positions: AbstractGenerator | None = None,
        position_weight: float = 1.0,
        fit_pinned: bool = True,
    ) -> GraphGenerator:
        """The graph CTMC of ``path``: both variables' CTMCs with its schedule and sources;
        on a space with positions, ``positions`` (``FlowGenerator()`` by default) moves them.

        ``fit_pinned`` is :class:`~genmatch.generators.CTMCGenerator`'s: on a masked graph the
        loss also fits the posterior at unmasked nodes and pairs to their own state
        (cross-entropy at every variable); ``False`` fits the masked ones only. Sampling is
        the same either way.

        With ``corrector`` (``t ↦ β_t ≥ 0``), each CTMC is wrapped in the predictor–corrector
        :class:`~genmatch.compose.MixtureCorrector` (posterior head): sampling adds the
        divergence-free corrector rates, training is unchanged.
        """
        from genmatch.compose.corrector import MixtureCorrector

        def part(sub: DiscreteSpace, source: CategoricalSource) -> AbstractGenerator:
            gen = CTMCGenerator(
                sub, path.kappa, head=head, method=method, source=source, fit_pinned=fit_pinned
            )
            return gen if corrector is None else MixtureCorrector(gen, source, corrector)

        return cls(
            path.space,
            part(path.space.node_space, path.source.nodes),
            part(path.space.edge_space, path.source.edges),
            node_weight,
            edge_weight,
            FlowGenerator() if positions is None and path.space.position_dim else positions,
            position_weight,
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
        positions = None
        if self.positions is not None:
            assert path.positions is not None
            x_0 = sample.x_0
            x_0_pos = None if x_0 is None else x_0.pos.to(sample.z.pos.dtype)
            positions = self.positions.conditional_target(
                path.positions,
                PathSample(x_t=sample.x_t.pos, t=t[vx.node_graph], z=sample.z.pos, x_0=x_0_pos),
            )
        return GraphValue(nodes, edges, vx.node_graph, vx.pair_graph, vx.num_graphs, positions)

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
        """Every node and pair variable takes its CTMC's step from one field evaluation; the
        positions take their generator's step, whose further stages (midpoint, RK4) evaluate
        the field at moved positions with the types of the start of the step."""
        value = field(x, t)
        v = self.space.variables(x)
        nodes = self._step(self.nodes, value.nodes, v.nodes, t[v.node_graph], h, generator)
        edges = self._step(self.edges, value.edges, v.edges, t[v.pair_graph], h, generator)
        pos = None
        if self.positions is not None:
            t_nodes = t[v.node_graph]

            def at(y: Tensor, s: Tensor) -> ParamValue:
                s_graph = t.new_zeros(v.num_graphs).index_copy(0, v.node_graph, s)
                moved = field(self.space.with_variables(x, v.nodes, v.edges, v, y), s_graph)
                return moved.positions

            pos_field = reuse_first(at, x.pos, t_nodes, value.positions)
            pos = self.positions.step(pos_field, x.pos, t_nodes, h, generator=generator)
        return self.space.with_variables(x, nodes, edges, v, pos)

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
