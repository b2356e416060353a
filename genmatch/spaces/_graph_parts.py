"""The containers and flat-tensor helpers of graph batches (:class:`GraphSpace
<genmatch.spaces.GraphSpace>`): node and pair variables, dense tensors, building a ``Batch``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import final

import torch
from torch import Tensor
from torch_geometric.data import Batch


@final
@dataclass(frozen=True)
class GraphVariables:
    """The categorical variables of a graph batch: one per node, one per unordered pair.

    An edge is one variable (the upper triangle ``i < j``, sampled once); its type ``0`` means
    "no edge". Variables are ordered graph by graph, pairs in ``torch.triu_indices`` order.

    Attributes:
        nodes: node types, ``(N,)`` int64.
        edges: edge types of every pair ``i < j`` of the same graph, ``(P,)`` int64.
        node_graph: the graph of each node, ``(N,)``.
        pairs: global node ids ``(i, j)`` of each pair, ``(2, P)``, ``i < j``.
        pair_graph: the graph of each pair, ``(P,)``.
        num_graphs: ``B``.
    """

    nodes: Tensor
    edges: Tensor
    node_graph: Tensor
    pairs: Tensor
    pair_graph: Tensor
    num_graphs: int


@final
@dataclass(frozen=True)
class DenseGraphs:
    """A graph batch as padded dense tensors.

    Attributes:
        node_types: ``(B, n_max)`` int64, ``-1`` at padding.
        edge_types: ``(B, n_max, n_max)`` int64, symmetric, ``0`` on the diagonal and at padding.
        node_mask: ``(B, n_max)`` bool, which nodes exist.
        pos: ``(B, n_max, d)`` node positions (zero at padding), or ``None``.
    """

    node_types: Tensor
    edge_types: Tensor
    node_mask: Tensor
    pos: Tensor | None = None


def _check_range(a: Tensor, low: int, high: int, name: str, what: str, suffix: str) -> None:
    if a.numel() == 0:
        return
    lo, hi = int(a.min()), int(a.max())
    if lo < low or hi >= high:
        raise ValueError(
            f"{name} has {what} outside [{low}, {high}): found {lo if lo < low else hi}{suffix}"
        )


def _offsets(counts: Tensor) -> Tensor:
    """``[0, c_0, c_0 + c_1, …]``, ``(len(counts) + 1,)``."""
    return torch.cat([counts.new_zeros(1), counts.cumsum(0)])


def _gather(ptr: Tensor, counts: Tensor, index: Tensor) -> tuple[Tensor, Tensor]:
    """The ids of the items of the groups ``index`` (group ``k`` is ``ptr[k] … ptr[k+1]−1``),
    in order, and each picked group's size."""
    picked = counts[index]
    starts = ptr[index]
    group = torch.repeat_interleave(torch.arange(len(index), device=ptr.device), picked)
    within = torch.arange(int(picked.sum()), device=ptr.device) - _offsets(picked)[:-1][group]
    return starts[group] + within, picked


def _assemble(
    nodes: Tensor,
    edge_index: Tensor,
    edge_attr: Tensor,
    pos: Tensor | None,
    node_counts: Tensor,
    edge_counts: Tensor,
) -> Batch:
    """A ``Batch`` from flat tensors, edges grouped graph by graph, with the bookkeeping
    ``Batch.from_data_list`` would give it (so ``to_data_list`` and ``get_example`` work)."""
    device = nodes.device
    b = len(node_counts)
    ptr, eptr = _offsets(node_counts), _offsets(edge_counts)
    batch = torch.repeat_interleave(torch.arange(b, device=device), node_counts)
    out = Batch(x=nodes, edge_index=edge_index, edge_attr=edge_attr, batch=batch, ptr=ptr)
    zeros = torch.zeros(b, dtype=torch.long, device=device)
    slices = {"x": ptr, "edge_index": eptr, "edge_attr": eptr}
    incs = {"x": zeros, "edge_index": ptr[:-1], "edge_attr": zeros}
    if pos is not None:
        out.pos = pos
        slices["pos"], incs["pos"] = ptr, zeros
    out._slice_dict = slices
    out._inc_dict = incs
    out._num_graphs = b
    return out


def _keys(i: Tensor, j: Tensor, kind: Tensor, n: int, kinds: int) -> Tensor:
    return (i * n + j) * kinds + kind
