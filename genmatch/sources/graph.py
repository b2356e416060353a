"""Sources on graphs: a size distribution and independent node and edge types (GM §9.1)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import final

import torch
from torch import Tensor
from torch_geometric.data import Batch, Data

from genmatch._checks import check_positive_int
from genmatch.sources.base import AbstractSource
from genmatch.sources.categorical import CategoricalSource
from genmatch.sources.gaussian import GaussianSource
from genmatch.spaces.graph import GraphSpace


@final
@dataclass(frozen=True, eq=False)
class GraphSource(AbstractSource):
    """``p(G) = p(n) Π_i q_V(x_i) q_R(r_i) Π_{i<j} q_E(e_ij)``: a node count, then every node
    type, every node's position (when the space has positions) and every pair's edge type
    independently (an edge is one variable).

    :meth:`masked` puts every node and pair at the mask token; :meth:`marginal` draws node and
    edge types from their frequencies in the data (the marginal prior of DiGress / DeFoG, where
    "no edge" is one edge type). Both take the node counts' distribution from the data.
    :meth:`with_sizes` draws graphs of given sizes (a conditional path pairs each datum with a
    source graph of its own size). Positions are drawn per node from ``positions``, by default
    ``N(0, I)`` (:class:`GaussianSource`, the source of the affine Gaussian path on positions),
    not centred per graph.

    Args:
        space: the graph space.
        nodes: the node-type distribution, on ``space.node_space``.
        edges: the edge-type distribution, on ``space.edge_space``.
        size_probs: ``(n_max + 1,)`` probabilities of the node counts ``0 … n_max``
            (zero at 0).
        positions: the distribution of one node's position, on ``space.position_space``;
            required when the space has positions (:meth:`masked` and :meth:`marginal` default
            it to ``N(0, I)``), not allowed otherwise.

    Example:
        >>> import networkx as nx
        >>> space = GraphSpace(1, 2, mask=True)
        >>> data = space.from_networkx([nx.path_graph(3), nx.path_graph(5)])
        >>> source = GraphSource.masked(space, data)
        >>> source.size_probs.tolist()
        [0.0, 0.0, 0.0, 0.5, 0.0, 0.5]
        >>> x_0 = source.with_sizes(torch.tensor([2, 3]))
        >>> x_0.x.tolist(), x_0.edge_attr.tolist()[:2]  # masked nodes, masked pairs
        ([1, 1, 1, 1, 1], [2, 2])
    """

    space: GraphSpace
    nodes: CategoricalSource
    edges: CategoricalSource
    size_probs: Tensor
    positions: AbstractSource | None = None

    def __post_init__(self) -> None:
        if self.space.position_dim:
            if not isinstance(self.positions, AbstractSource):
                raise ValueError(
                    f"the space has positions (position_dim = {self.space.position_dim}): "
                    f"positions must be an AbstractSource on R^{self.space.position_dim} "
                    f"(e.g. GaussianSource(space.position_space)), got {self.positions!r}"
                )
            shape = getattr(getattr(self.positions, "space", None), "event_shape", None)
            if shape is not None and tuple(shape) != (self.space.position_dim,):
                raise ValueError(
                    f"the position source draws points of shape {tuple(shape)}, the space's "
                    f"positions are ({self.space.position_dim},)"
                )
        elif self.positions is not None:
            raise ValueError(
                "a position source was given, but the space has no positions (position_dim = 0)"
            )
        if self.nodes.space != self.space.node_space or self.edges.space != self.space.edge_space:
            raise ValueError("the node and edge sources must live on space.node_space/edge_space")
        p = torch.as_tensor(self.size_probs, dtype=torch.float64)
        if p.dim() != 1 or p.numel() < 2 or bool((p < 0).any()) or float(p[0]) != 0.0:
            raise ValueError("size_probs must be (n_max + 1,) non-negative, 0 at size 0")
        if abs(float(p.sum()) - 1) > 1e-6:
            raise ValueError(f"size_probs must sum to 1, got {float(p.sum())}")
        object.__setattr__(self, "size_probs", p / p.sum())

    @staticmethod
    def sizes_of(space: GraphSpace, data: Batch) -> Tensor:
        """The node counts' empirical distribution in ``data``, ``(n_max + 1,)`` float64."""
        space.check(data, "data")
        counts = torch.bincount(space.num_nodes(data).cpu()).to(torch.float64)
        if float(counts[0]) > 0:
            raise ValueError("data hold graphs without nodes")
        return counts / counts.sum()

    @staticmethod
    def _default_positions(
        space: GraphSpace, positions: AbstractSource | None
    ) -> AbstractSource | None:
        if positions is None and space.position_dim:
            return GaussianSource(space.position_space)
        return positions

    @classmethod
    def masked(
        cls, space: GraphSpace, data: Batch, positions: AbstractSource | None = None
    ) -> GraphSource:
        """Every node and every pair masked; sizes as in ``data`` (needs ``space.mask``);
        positions from ``positions`` (``N(0, I)`` by default when the space has them)."""
        return cls(
            space,
            CategoricalSource.masked(space.node_space),
            CategoricalSource.masked(space.edge_space),
            cls.sizes_of(space, data),
            cls._default_positions(space, positions),
        )

    @classmethod
    def marginal(
        cls, space: GraphSpace, data: Batch, positions: AbstractSource | None = None
    ) -> GraphSource:
        """Node and edge types at their frequencies in ``data`` ("no edge" counted over every
        pair ``i < j``), sizes as in ``data``; positions as in :meth:`masked`."""
        sizes = cls.sizes_of(space, data)
        v = space.variables(data)
        node_freq = torch.bincount(v.nodes.cpu(), minlength=space.node_space.num_states).to(
            torch.float64
        )
        edge_freq = torch.bincount(v.edges.cpu(), minlength=space.edge_space.num_states).to(
            torch.float64
        )
        if float(edge_freq.sum()) == 0:
            raise ValueError("data have no pairs of nodes to count edge types on")
        return cls(
            space,
            CategoricalSource(space.node_space, node_freq / node_freq.sum()),
            CategoricalSource(space.edge_space, edge_freq / edge_freq.sum()),
            sizes,
            cls._default_positions(space, positions),
        )

    def sample_sizes(
        self,
        n: int,
        *,
        rng: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> Tensor:
        """``n`` node counts drawn from :attr:`size_probs`, ``(n,)`` int64."""
        n = check_positive_int(n, "n")
        return torch.multinomial(self.size_probs, n, replacement=True, generator=rng).to(device)

    def with_sizes(
        self,
        num_nodes: Tensor,
        *,
        rng: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> Batch:
        """Graphs with the given node counts (``(B,)``), types (and positions, of ``dtype``)
        drawn from the source."""
        sizes = [int(s) for s in num_nodes.tolist()]
        if not sizes or min(sizes) < 1:
            raise ValueError(f"node counts must be >= 1, got {sizes}")
        empty = torch.zeros(2, 0, dtype=torch.int64)
        template = Batch.from_data_list(
            [
                Data(
                    x=torch.zeros(s, dtype=torch.int64),
                    edge_index=empty,
                    edge_attr=torch.zeros(0, dtype=torch.int64),
                    num_nodes=s,
                )
                for s in sizes
            ]
        ).to(device)
        v = self.space.variables(template)
        nodes = self.nodes.sample(len(v.nodes), generator=rng, device=device)[:, 0]
        edges = (
            self.edges.sample(len(v.edges), generator=rng, device=device)[:, 0]
            if len(v.edges)
            else v.edges
        )
        pos = None
        if self.positions is not None:
            pos = self.positions.sample(len(v.nodes), generator=rng, dtype=dtype, device=device)
        return self.space.with_variables(template, nodes, edges, v, pos)

    def sample(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> Batch:
        """``n`` graphs: sizes from :attr:`size_probs`, then types and positions
        (:meth:`with_sizes`)."""
        sizes = self.sample_sizes(n, rng=generator)
        return self.with_sizes(sizes, rng=generator, dtype=dtype, device=device)
