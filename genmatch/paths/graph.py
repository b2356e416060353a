"""The factorised mixture path on graphs: every node and every pair a mixture (GM eq. 9.25)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import final

import torch
from torch import Tensor
from torch_geometric.data import Batch

from genmatch.paths.affine import AffineGaussianPath
from genmatch.paths.base import AbstractConditionalPath, AbstractDensityPath, PathSample
from genmatch.paths.factorized_mixture import FactorizedMixturePath
from genmatch.paths.kappa import AbstractKappaSchedule
from genmatch.paths.schedules import CondOT
from genmatch.sources.graph import GraphSource
from genmatch.spaces.graph import GraphSpace


@final
@dataclass(frozen=True, eq=False)
class GraphMixturePath(AbstractDensityPath):
    """``p_{t|Z}(G|z) = 1[n(G) = n(z)] Π_i m_t(x_i|z_i) p^R_t(r_i|z_i) Π_{i<j} m_t(e_ij|z_ij)``
    with ``m_t(·|c) = κ_t δ_c + (1 − κ_t) q`` (GM eq. 9.25 per variable) and, when the space has
    positions, ``p^R_t(·|z_i)`` the ``positions`` path of node ``i``'s position (by default the
    affine Gaussian CondOT path, ``r_t = t r_1 + (1 − t) r_0``, GM eq. 9.1).

    Each node type and each pair's edge type (an edge is one variable, ``i < j``) shows its
    data value with probability ``κ_t`` and a source value otherwise; the node count is the
    datum's. The node and pair variables are two
    :class:`~genmatch.paths.FactorizedMixturePath` s (:attr:`nodes`, :attr:`edges`, each over
    one-variable sequences), so the CTMC of :class:`~genmatch.generators.CTMCGenerator` is
    the conditional generator of each variable (:class:`~genmatch.generators.GraphGenerator`).
    The density is that of labelled graphs (node order fixed) w.r.t. the counting measure
    (times Lebesgue measure on positions).

    Positions are a third factor of the graph, one point of ``R^d`` per node: a product path
    (GM §9.8) whose factors share the graph's clock ``t``; the source's positions are
    ``X_0`` of the position path (:class:`~genmatch.generators.GraphGenerator` moves them with a
    flow).

    Args:
        space: the graph space.
        source: the source of node and edge types, of sizes (and of positions).
        kappa: the schedule ``κ_t``.
        positions: the conditional path of one node's position, on ``space.position_space``
            (``AffineGaussianPath(CondOT())`` by default when the space has positions; not
            allowed without).

    Example:
        >>> import networkx as nx
        >>> from genmatch.paths import LinearKappa
        >>> space = GraphSpace(1, 2, mask=True)
        >>> z = space.from_networkx([nx.path_graph(3)])
        >>> path = GraphMixturePath(space, GraphSource.masked(space, z), LinearKappa())
        >>> s = path.sample(z, torch.tensor([1.0]))
        >>> same = torch.equal(space.to_dense(s.x_t).edge_types, space.to_dense(z).edge_types)
        >>> same, path.log_prob(s.x_t, s.t, z)
        (True, tensor([0.]))
    """

    space: GraphSpace
    source: GraphSource
    kappa: AbstractKappaSchedule
    positions: AbstractConditionalPath | None = None
    nodes: FactorizedMixturePath = field(init=False)
    edges: FactorizedMixturePath = field(init=False)

    def __post_init__(self) -> None:
        if self.source.space != self.space:
            raise ValueError("the source lives on a different space than the path")
        if self.space.position_dim:
            if self.positions is None:
                object.__setattr__(self, "positions", AffineGaussianPath(CondOT()))
            elif not isinstance(self.positions, AbstractConditionalPath):
                raise TypeError(
                    f"positions must be an AbstractConditionalPath, got {self.positions!r}"
                )
        elif self.positions is not None:
            raise ValueError(
                "a position path was given, but the space has no positions (position_dim = 0)"
            )
        node_path = FactorizedMixturePath(self.space.node_space, self.source.nodes, self.kappa)
        edge_path = FactorizedMixturePath(self.space.edge_space, self.source.edges, self.kappa)
        object.__setattr__(self, "nodes", node_path)
        object.__setattr__(self, "edges", edge_path)

    def sample(
        self,
        z: Batch,
        t: Tensor,
        *,
        x_0: Batch | None = None,
        generator: torch.Generator | None = None,
    ) -> PathSample:
        """Draw ``G_t`` for each datum ``z`` (``B`` graphs) at ``t`` (``(B,)``); ``x_0``, when
        given, must have the sizes of ``z`` (drawn with them by the source otherwise)."""
        space = self.space
        space.check(z, "z")
        if x_0 is None:
            dtype = z.pos.dtype if space.position_dim else torch.float32
            x_0 = self.source.with_sizes(
                space.num_nodes(z), rng=generator, dtype=dtype, device=z.x.device
            )
        else:
            space.check(x_0, "x_0")
            if not torch.equal(space.num_nodes(x_0), space.num_nodes(z)):
                raise ValueError("x_0 and z must have the same node counts, graph by graph")
        vz, v0 = space.variables(z), space.variables(x_0)
        u_n = torch.rand(vz.nodes.shape, generator=generator, dtype=t.dtype, device=t.device)
        u_e = torch.rand(vz.edges.shape, generator=generator, dtype=t.dtype, device=t.device)
        kappa = self.kappa.kappa(t)
        nodes = torch.where(u_n < kappa[vz.node_graph], vz.nodes, v0.nodes)
        edges = torch.where(u_e < kappa[vz.pair_graph], vz.edges, v0.edges)
        pos = None
        if self.positions is not None:
            pos = self.positions.sample(
                z.pos, t[vz.node_graph], x_0=x_0.pos.to(z.pos.dtype), generator=generator
            ).x_t
        x_t = space.with_variables(z, nodes, edges, vz, pos)
        return PathSample(x_t=x_t, t=t, z=z, x_0=x_0)

    def log_prob(self, x: Batch, t: Tensor, z: Batch) -> Tensor:
        """``log p_{t|Z}(x|z)``, ``−inf`` for graphs of different sizes; ``(B,)``.

        Shapes:
            x, z: ``B`` graphs each; t: ``(B,)``.
        """
        space = self.space
        same = space.num_nodes(x) == space.num_nodes(z)
        n_max = int(torch.maximum(space.num_nodes(x), space.num_nodes(z)).max())
        dx, dz = space.to_dense(x, n_max), space.to_dense(z, n_max)
        b = same.shape[0]
        t_nodes = t[:, None].expand(b, n_max).reshape(-1)
        node_lp = self.nodes.log_prob(
            dx.node_types.clamp_min(0).reshape(-1, 1),
            t_nodes,
            dz.node_types.clamp_min(0).reshape(-1, 1),
        ).reshape(b, n_max)
        total = torch.where(dx.node_mask, node_lp, 0.0).sum(1)
        if self.positions is not None:
            if not isinstance(self.positions, AbstractDensityPath):
                raise TypeError(f"the position path {self.positions!r} has no density")
            assert dx.pos is not None and dz.pos is not None
            d = self.space.position_dim
            pos_lp = self.positions.log_prob(
                dx.pos.reshape(-1, d), t_nodes, dz.pos.reshape(-1, d)
            ).reshape(b, n_max)
            total = total + torch.where(dx.node_mask, pos_lp, 0.0).sum(1)
        if n_max > 1:
            i, j = torch.triu_indices(n_max, n_max, 1, device=t.device)
            pairs = i.shape[0]
            ex, ez = dx.edge_types[:, i, j], dz.edge_types[:, i, j]
            t_pairs = t[:, None].expand(b, pairs).reshape(-1)
            edge_lp = self.edges.log_prob(ex.reshape(-1, 1), t_pairs, ez.reshape(-1, 1)).reshape(
                b, pairs
            )
            total = total + torch.where(dx.node_mask[:, j], edge_lp, 0.0).sum(1)
        return torch.where(same, total, float("-inf"))
