"""Undirected graphs with typed nodes and typed edges, batched as torch-geometric ``Batch``es."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, final

import networkx as nx
import torch
from torch import Tensor
from torch_geometric.data import Batch, Data

from genmatch._checks import value_checks_enabled
from genmatch.spaces._graph_parts import (
    DenseGraphs,
    GraphVariables,
    _assemble,
    _check_range,
    _gather,
    _keys,
    _offsets,
)
from genmatch.spaces.base import AbstractStateSpace
from genmatch.spaces.discrete import DiscreteSpace
from genmatch.spaces.euclidean import EuclideanSpace
from genmatch.types import State


@final
@dataclass(frozen=True)
class GraphSpace(AbstractStateSpace):
    """Simple undirected graphs with ``num_node_types`` node types and ``num_edge_types`` edge
    types, type ``0`` being "no edge"; optionally node positions in ``R^position_dim``.

    A batch of points is a torch-geometric :class:`~torch_geometric.data.Batch` of graphs of
    any sizes with ``x`` the node types, ``edge_index`` every edge in both directions,
    ``edge_attr`` their types (``1 …``; pairs without an edge are not stored), and ``pos`` when
    the space has positions. With ``mask=True`` one more node type and one more edge type, the
    mask tokens ``num_node_types`` and ``num_edge_types``, are states (the source of masked
    models). Self loops are not allowed.

    Args:
        num_node_types: node types (``≥ 1``).
        num_edge_types: edge types including "no edge" (``≥ 2``).
        mask: whether the mask tokens are states.
        position_dim: dimension of node positions (0: none).

    Shapes:
        points: ``Batch`` with ``x (N,)`` int64, ``edge_index (2, E)``, ``edge_attr (E,)`` int64,
        ``batch (N,)``, ``ptr (B + 1,)``, and ``pos (N, position_dim)`` when positions are on.

    Example:
        >>> import networkx as nx
        >>> space = GraphSpace(num_node_types=1, num_edge_types=2)
        >>> x = space.from_networkx([nx.path_graph(3), nx.complete_graph(4)])
        >>> space.check(x)
        >>> space.batch_size(x), space.num_nodes(x).tolist(), x.edge_index.shape
        (2, [3, 4], torch.Size([2, 16]))
        >>> space.variables(x).edges.tolist()  # pairs (0,1) (0,2) (1,2), then the 6 of K4
        [1, 0, 1, 1, 1, 1, 1, 1, 1]
        >>> x.edge_attr[0] = 5
        >>> space.check(x)
        Traceback (most recent call last):
        ...
        ValueError: x.edge_attr has edge types outside [1, 2): found 5 (0 is no edge, not stored)
    """

    num_node_types: int
    num_edge_types: int
    mask: bool = False
    position_dim: int = 0

    def __post_init__(self) -> None:
        for name, low in (("num_node_types", 1), ("num_edge_types", 2), ("position_dim", 0)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")

    @property
    def node_states(self) -> int:
        """Node types, the mask included."""
        return self.num_node_types + int(self.mask)

    @property
    def edge_states(self) -> int:
        """Edge types ("no edge" and the mask included)."""
        return self.num_edge_types + int(self.mask)

    @property
    def node_space(self) -> DiscreteSpace:
        """The space of one node variable, ``DiscreteSpace(1, num_node_types, mask)``; with a
        single node type and no mask it has one unused type more (a discrete space has two
        states at least), which models give probability 0."""
        return DiscreteSpace(1, max(self.num_node_types, 2 - int(self.mask)), self.mask)

    @property
    def edge_space(self) -> DiscreteSpace:
        """The space of one edge variable, ``DiscreteSpace(1, num_edge_types, mask)``."""
        return DiscreteSpace(1, self.num_edge_types, self.mask)

    @property
    def position_space(self) -> EuclideanSpace:
        """The space of one node's position, ``EuclideanSpace(position_dim)`` (positions of a
        batch are a batch of ``N`` points of it)."""
        if not self.position_dim:
            raise ValueError("this graph space has no positions (position_dim = 0)")
        return EuclideanSpace(self.position_dim)

    # ---------------------------------------------------------------- validation

    def check(self, x: State, name: str = "x") -> None:
        if not isinstance(x, Batch):
            raise TypeError(f"{name} must be a torch_geometric Batch, got {type(x).__name__}")
        for key in ("x", "edge_index", "edge_attr", "batch", "ptr"):
            if getattr(x, key, None) is None:
                raise ValueError(f"{name} has no {key!r} (a Batch of this space needs one)")
        nodes, ei, ea, batch, ptr = x.x, x.edge_index, x.edge_attr, x.batch, x.ptr
        for key, a, dim in (
            ("x", nodes, 1),
            ("edge_attr", ea, 1),
            ("batch", batch, 1),
            ("ptr", ptr, 1),
            ("edge_index", ei, 2),
        ):
            if a.dtype != torch.int64 or a.dim() != dim:
                raise TypeError(
                    f"{name}.{key} must be a {dim}-d int64 tensor, got "
                    f"{a.dtype} of shape {tuple(a.shape)}"
                )
        n = nodes.shape[0]
        if ei.shape[0] != 2 or ea.shape[0] != ei.shape[1]:
            raise ValueError(
                f"{name}.edge_index must be (2, E) with edge_attr (E,), got "
                f"{tuple(ei.shape)} and {tuple(ea.shape)}"
            )
        counts = ptr.diff()
        if ptr.numel() < 2 or int(ptr[0]) != 0 or int(ptr[-1]) != n or bool((counts < 0).any()):
            raise ValueError(f"{name} is ragged: ptr {ptr.tolist()} does not split its {n} nodes")
        expected = torch.repeat_interleave(torch.arange(len(counts), device=ptr.device), counts)
        if batch.shape != expected.shape or not torch.equal(batch, expected):
            raise ValueError(f"{name} is ragged: its batch vector does not match ptr")
        if self.position_dim:
            pos = getattr(x, "pos", None)
            if not isinstance(pos, Tensor) or pos.shape != (n, self.position_dim):
                shape = None if not isinstance(pos, Tensor) else tuple(pos.shape)
                raise ValueError(f"{name}.pos must be ({n}, {self.position_dim}), got {shape}")
            if not pos.is_floating_point():
                raise TypeError(f"{name}.pos must be floating point, got {pos.dtype}")
        if not value_checks_enabled():
            return
        _check_range(nodes, 0, self.node_states, f"{name}.x", "node types", "")
        suffix = " (0 is no edge, not stored)"
        _check_range(ea, 1, self.edge_states, f"{name}.edge_attr", "edge types", suffix)
        if ei.numel() == 0:
            return
        if int(ei.min()) < 0 or int(ei.max()) >= n:
            raise ValueError(f"{name}.edge_index refers to nodes outside [0, {n})")
        if bool((ei[0] == ei[1]).any()):
            raise ValueError(f"{name} has self loops, which graphs of this space do not allow")
        if not torch.equal(batch[ei[0]], batch[ei[1]]):
            raise ValueError(f"{name} has edges between nodes of different graphs")
        forward = _keys(ei[0], ei[1], ea, n, self.edge_states)
        if forward.unique().numel() != forward.numel():
            raise ValueError(f"{name} has duplicate edges")
        backward = _keys(ei[1], ei[0], ea, n, self.edge_states)
        if not torch.equal(forward.sort().values, backward.sort().values):
            raise ValueError(
                f"{name} has an asymmetric adjacency: every edge (i, j) of type k needs (j, i) "
                "of type k"
            )
        if self.position_dim and not bool(torch.isfinite(x.pos).all()):
            raise ValueError(f"{name}.pos has NaN or infinite positions")

    # ---------------------------------------------------------------- batch operations

    def batch_size(self, x: State) -> int:
        return int(x.num_graphs)

    def num_nodes(self, x: Batch) -> Tensor:
        """Nodes of each graph, ``(B,)`` int64."""
        return x.ptr.diff()

    def take(self, x: State, index: Tensor) -> State:
        """The graphs ``x[index[j]]``, gathered without leaving tensors (no Python loop)."""
        ptr, device = x.ptr, x.x.device
        index = index.to(device)
        counts = ptr.diff()
        edge_graph = x.batch[x.edge_index[0]]
        order = torch.sort(edge_graph, stable=True).indices
        edge_counts = torch.bincount(edge_graph, minlength=len(counts))
        eptr = _offsets(edge_counts)
        node_ids, new_counts = _gather(ptr, counts, index)
        edge_ids, new_edge_counts = _gather(eptr, edge_counts, index)
        edge_ids = order[edge_ids]
        new_ptr = _offsets(new_counts)
        graph_of_edge = torch.repeat_interleave(
            torch.arange(len(index), device=device), new_edge_counts
        )
        shift = (new_ptr[:-1] - ptr[index])[graph_of_edge]
        pos = x.pos[node_ids] if self.position_dim else None
        return _assemble(
            x.x[node_ids],
            x.edge_index[:, edge_ids] + shift,
            x.edge_attr[edge_ids],
            pos,
            new_counts,
            new_edge_counts,
        )

    def where(self, mask: Tensor, a: State, b: State) -> State:
        n = self.batch_size(a)
        index = torch.arange(n, device=a.x.device)
        return self.take(self.cat([a, b]), torch.where(mask.to(index.device), index, index + n))

    def cat(self, parts: Sequence[State]) -> State:
        if len(parts) == 1:
            return parts[0]
        counts = torch.cat([p.ptr.diff() for p in parts])
        edge_counts = torch.cat(
            [torch.bincount(p.batch[p.edge_index[0]], minlength=p.num_graphs) for p in parts]
        )
        shifts = _offsets(torch.stack([p.ptr[-1] for p in parts]))
        edge_index = torch.cat([p.edge_index + shifts[k] for k, p in enumerate(parts)], 1)
        pos = torch.cat([p.pos for p in parts]) if self.position_dim else None
        edge_attr = torch.cat([p.edge_attr for p in parts])
        nodes = torch.cat([p.x for p in parts])
        # edges of each part grouped graph by graph, as _assemble expects
        edge_graph = torch.repeat_interleave(_offsets(counts)[:-1], counts)[edge_index[0]]
        order = torch.sort(edge_graph, stable=True).indices
        return _assemble(nodes, edge_index[:, order], edge_attr[order], pos, counts, edge_counts)

    def reference(self, x: State) -> Tensor:
        """The positions when the space has them (float), else the node types (int64)."""
        return x.pos if self.position_dim else x.x

    # ---------------------------------------------------------------- variables

    def variables(self, x: Batch) -> GraphVariables:
        """The node and pair variables of a batch (see :class:`GraphVariables`)."""
        counts = self.num_nodes(x)
        b = len(counts)
        device = x.x.device
        rows, cols, graphs = [], [], []
        for size in counts.unique().tolist():
            which = (counts == size).nonzero()[:, 0]
            tri = torch.triu_indices(size, size, 1, device=device)
            start = x.ptr[which][:, None]
            rows.append((tri[0][None] + start).reshape(-1))
            cols.append((tri[1][None] + start).reshape(-1))
            graphs.append(which.repeat_interleave(tri.shape[1]))
        i, j, g = torch.cat(rows), torch.cat(cols), torch.cat(graphs)
        order = torch.sort(g, stable=True).indices
        i, j, g = i[order], j[order], g[order]
        n = x.x.shape[0]
        ei = x.edge_index
        keep = ei[0] < ei[1]
        stored = ei[0][keep] * n + ei[1][keep]
        types = x.edge_attr[keep]
        edges = torch.zeros(i.shape[0], dtype=torch.int64, device=device)
        if stored.numel():
            sorted_keys, perm = stored.sort()
            key = i * n + j
            pos = torch.searchsorted(sorted_keys, key).clamp_max(len(sorted_keys) - 1)
            hit = sorted_keys[pos] == key
            edges = torch.where(hit, types[perm][pos], edges)
        return GraphVariables(x.x, edges, x.batch, torch.stack([i, j]), g, b)

    def with_variables(
        self,
        x: Batch,
        nodes: Tensor,
        edges: Tensor,
        variables: GraphVariables | None = None,
        pos: Tensor | None = None,
    ) -> Batch:
        """A batch with the node counts of ``x``, the given node types and pair types (in
        :meth:`variables` order), and the positions ``pos`` (those of ``x`` when ``None``).

        Shapes:
            nodes: ``(N,)``; edges: ``(P,)``; pos: ``(N, position_dim)``; returns a ``Batch``
            of ``B`` graphs.
        """
        v = self.variables(x) if variables is None else variables
        on = edges > 0
        i, j, g = v.pairs[0][on], v.pairs[1][on], v.pair_graph[on]
        kinds = edges[on]
        # both directions, grouped graph by graph
        src, dst = torch.stack([i, j], 1).reshape(-1), torch.stack([j, i], 1).reshape(-1)
        per_graph = torch.bincount(g, minlength=v.num_graphs) * 2
        return _assemble(
            nodes,
            torch.stack([src, dst]),
            kinds.repeat_interleave(2),
            (x.pos if pos is None else pos) if self.position_dim else None,
            self.num_nodes(x),
            per_graph,
        )

    # ---------------------------------------------------------------- conversions

    def to_dense(self, x: Batch, n_max: int | None = None) -> DenseGraphs:
        """Padded dense tensors of a batch (:class:`DenseGraphs`), padded to ``n_max`` nodes
        (the largest graph's by default)."""
        counts = self.num_nodes(x)
        b = len(counts)
        if n_max is None:
            n_max = int(counts.max()) if b else 0
        device = x.x.device
        local = torch.arange(x.x.shape[0], device=device) - x.ptr[x.batch]
        node_types = torch.full((b, n_max), -1, dtype=torch.int64, device=device)
        node_types[x.batch, local] = x.x
        node_mask = node_types >= 0
        edge_types = torch.zeros(b, n_max, n_max, dtype=torch.int64, device=device)
        src, dst = x.edge_index
        edge_types[x.batch[src], local[src], local[dst]] = x.edge_attr
        pos = None
        if self.position_dim:
            pos = torch.zeros(b, n_max, self.position_dim, dtype=x.pos.dtype, device=device)
            pos[x.batch, local] = x.pos
        return DenseGraphs(node_types, edge_types, node_mask, pos)

    def from_dense(self, dense: DenseGraphs) -> Batch:
        """The batch of padded dense tensors; raises unless they are valid graphs of the space."""
        graphs = []
        for k in range(dense.node_types.shape[0]):
            keep = dense.node_mask[k]
            adj = dense.edge_types[k][keep][:, keep]
            if not torch.equal(adj, adj.T):
                raise ValueError(f"dense graph {k} has an asymmetric adjacency")
            if bool(adj.diagonal().ne(0).any()):
                raise ValueError(f"dense graph {k} has self loops")
            edge_index = adj.nonzero().T
            data = Data(
                x=dense.node_types[k][keep],
                edge_index=edge_index,
                edge_attr=adj[edge_index[0], edge_index[1]],
                num_nodes=int(keep.sum()),
            )
            if self.position_dim:
                assert dense.pos is not None
                data.pos = dense.pos[k][keep]
            graphs.append(data)
        out = Batch.from_data_list(graphs)
        self.check(out, "the dense graphs")
        return out

    def to_networkx(self, x: Batch) -> list[nx.Graph]:
        """One :class:`networkx.Graph` per graph, nodes ``0 … n−1`` with attribute ``"type"``
        (and ``"pos"``), edges with attribute ``"type"``."""
        out = []
        for data in x.to_data_list():
            graph = nx.Graph()
            for i, kind in enumerate(data.x.tolist()):
                attrs: dict[str, Any] = {"type": kind}
                if self.position_dim:
                    attrs["pos"] = data.pos[i].tolist()
                graph.add_node(i, **attrs)
            for (i, j), kind in zip(
                data.edge_index.T.tolist(), data.edge_attr.tolist(), strict=True
            ):
                if i < j:
                    graph.add_edge(i, j, type=kind)
            out.append(graph)
        return out

    def from_networkx(
        self, graphs: Sequence[nx.Graph], dtype: torch.dtype = torch.float32
    ) -> Batch:
        """The batch of networkx graphs. Node and edge attribute ``"type"`` default to ``0``
        and ``1`` (so plain graphs are one node type, one edge type); nodes are renumbered in
        their iteration order; ``"pos"`` is read when the space has positions."""
        out = []
        for graph in graphs:
            ids = {u: k for k, u in enumerate(graph.nodes)}
            nodes = torch.tensor(
                [graph.nodes[u].get("type", 0) for u in graph.nodes], dtype=torch.int64
            )
            pairs = [(ids[u], ids[v], d.get("type", 1)) for u, v, d in graph.edges(data=True)]
            e = torch.tensor(pairs, dtype=torch.int64).reshape(-1, 3)
            edge_index = torch.cat([e[:, :2].T, e[:, :2].T.flip(0)], 1)
            data = Data(
                x=nodes,
                edge_index=edge_index,
                edge_attr=torch.cat([e[:, 2], e[:, 2]]),
                num_nodes=len(ids),
            )
            if self.position_dim:
                missing = [u for u in graph.nodes if "pos" not in graph.nodes[u]]
                if missing:
                    raise ValueError(f"nodes {missing[:5]} of a networkx graph have no 'pos'")
                data.pos = torch.tensor([graph.nodes[u]["pos"] for u in graph.nodes], dtype=dtype)
                data.pos = data.pos.reshape(len(ids), self.position_dim)
            out.append(data)
        batch = Batch.from_data_list(out)
        self.check(batch, "the networkx graphs")
        return batch
