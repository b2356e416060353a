"""Graph-generation metrics: MMD of degree, clustering and Laplacian-spectrum histograms
against reference graphs, and validity / uniqueness / novelty (as in GraphRNN, GRAN, SPECTRE,
DiGress, DeFoG), and energy distances of node positions and edge lengths.

MMDs are the biased estimate ``MMD² = E k(X, X') + E k(Y, Y') − 2 E k(X, Y)`` over the
graphs' normalised histograms with the Gaussian total-variation kernel
``k(p, q) = exp(−TV(p, q)² / (2σ²))``, ``TV(p, q) = ½ Σ |p − q|`` (histograms zero-padded to a
common length), the kernel of the SPECTRE benchmark code. That kernel is not positive
definite, so an estimate may be slightly negative (about ``−1e−4``) for close samples.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import final

import networkx as nx
import torch
from torch import Tensor

from genmatch.metrics.euclidean import energy_distance


def degree_histogram(graph: nx.Graph) -> Tensor:
    """Share of nodes of each degree ``0 … max``, float64."""
    counts = torch.tensor(nx.degree_histogram(graph), dtype=torch.float64)
    return counts / counts.sum().clamp_min(1)


def clustering_histogram(graph: nx.Graph, bins: int = 100) -> Tensor:
    """Histogram of the local clustering coefficients over ``bins`` bins of ``[0, 1]``."""
    values = torch.tensor(list(nx.clustering(graph).values()), dtype=torch.float64)
    counts = torch.histc(values, bins=bins, min=0.0, max=1.0)
    return counts / counts.sum().clamp_min(1)


def spectrum_histogram(graph: nx.Graph, bins: int = 200) -> Tensor:
    """Histogram of the normalised Laplacian's eigenvalues over ``bins`` bins of
    ``[−1e−5, 2]``."""
    lap = torch.tensor(nx.normalized_laplacian_matrix(graph).toarray(), dtype=torch.float64)
    values = torch.linalg.eigvalsh(lap).clamp(0.0, 2.0)  # rounding may leave [0, 2]
    counts = torch.histc(values, bins=bins, min=-1e-5, max=2.0)
    return counts / counts.sum().clamp_min(1)


def gaussian_tv_mmd(x: Sequence[Tensor], y: Sequence[Tensor], sigma: float = 1.0) -> float:
    """``MMD²`` between two sets of histograms with the Gaussian TV kernel (module docstring).

    Example:
        >>> p, q = torch.tensor([0.0, 1.0]), torch.tensor([1.0, 0.0])  # TV = 1
        >>> round(gaussian_tv_mmd([p], [q]), 6)  # 2 − 2 exp(−1/2)
        0.786939
    """
    if not x or not y:
        raise ValueError("both sets of histograms must be non-empty")
    length = max(len(h) for h in [*x, *y])
    a = torch.stack([torch.nn.functional.pad(h, (0, length - len(h))) for h in x])
    b = torch.stack([torch.nn.functional.pad(h, (0, length - len(h))) for h in y])

    def kernel(u: Tensor, v: Tensor) -> Tensor:
        tv = 0.5 * (u[:, None] - v[None]).abs().sum(-1)
        return torch.exp(-(tv**2) / (2 * sigma**2))

    return float(kernel(a, a).mean() + kernel(b, b).mean() - 2 * kernel(a, b).mean())


def uniqueness(graphs: Sequence[nx.Graph]) -> float:
    """Share of graphs not isomorphic to an earlier one of the list."""
    kept: list[nx.Graph] = []
    for g in graphs:
        if not any(_same(g, h) for h in kept):
            kept.append(g)
    return len(kept) / max(len(graphs), 1)


def novelty(graphs: Sequence[nx.Graph], train: Sequence[nx.Graph]) -> float:
    """Share of graphs isomorphic to no training graph."""
    return sum(not any(_same(g, h) for h in train) for g in graphs) / max(len(graphs), 1)


def _same(a: nx.Graph, b: nx.Graph) -> bool:
    if a.number_of_nodes() != b.number_of_nodes() or a.number_of_edges() != b.number_of_edges():
        return False
    return bool(nx.faster_could_be_isomorphic(a, b)) and bool(nx.is_isomorphic(a, b))


def is_planar_connected(graph: nx.Graph) -> bool:
    """The validity of the planar family: connected and planar."""
    return graph.number_of_nodes() > 0 and nx.is_connected(graph) and nx.check_planarity(graph)[0]


def is_tree(graph: nx.Graph) -> bool:
    """The validity of the tree family."""
    return graph.number_of_nodes() > 0 and bool(nx.is_tree(graph))


@final
@dataclass(frozen=True)
class GraphMetrics:
    """Metrics of a set of generated graphs against reference (held-out) graphs.

    Attributes:
        degree, clustering, spectral: ``MMD²`` of the histograms (σ = 1, 0.1, 1).
        validity: share satisfying the family's validity predicate.
        uniqueness: share not isomorphic to an earlier generated graph.
        novelty: share isomorphic to no training graph.
        vun: share valid, unique and novel at once.
    """

    degree: float
    clustering: float
    spectral: float
    validity: float
    uniqueness: float
    novelty: float
    vun: float


def graph_metrics(
    generated: Sequence[nx.Graph],
    reference: Sequence[nx.Graph],
    train: Sequence[nx.Graph],
    valid: Callable[[nx.Graph], bool],
) -> GraphMetrics:
    """Every metric of :class:`GraphMetrics` for ``generated`` against ``reference``.

    Args:
        generated: the graphs to score.
        reference: held-out graphs of the family (the MMDs' other sample).
        train: the training graphs (novelty).
        valid: the family's validity predicate (e.g. :func:`is_planar_connected`).
    """
    if not generated:
        raise ValueError("no generated graphs to score")
    ok = [bool(valid(g)) for g in generated]
    seen: list[nx.Graph] = []
    vun = 0
    for g, v in zip(generated, ok, strict=True):
        first = not any(_same(g, h) for h in seen)
        if first:
            seen.append(g)
        vun += int(v and first and not any(_same(g, h) for h in train))
    return GraphMetrics(
        degree=gaussian_tv_mmd(
            [degree_histogram(g) for g in generated], [degree_histogram(g) for g in reference], 1.0
        ),
        clustering=gaussian_tv_mmd(
            [clustering_histogram(g) for g in generated],
            [clustering_histogram(g) for g in reference],
            0.1,
        ),
        spectral=gaussian_tv_mmd(
            [spectrum_histogram(g) for g in generated],
            [spectrum_histogram(g) for g in reference],
            1.0,
        ),
        validity=sum(ok) / len(ok),
        uniqueness=len(seen) / len(generated),
        novelty=novelty(generated, train),
        vun=vun / len(generated),
    )


@final
@dataclass(frozen=True)
class PositionMetrics:
    """Metrics of node positions (node attribute ``"pos"``) against reference graphs.

    Attributes:
        positions: the squared energy distance (:func:`~genmatch.metrics.energy_distance`) of
            all node positions, pooled over the graphs.
        edge_lengths: the squared energy distance of all edge lengths ``|r_i − r_j|``
            (joint structure: whether the edges join near or far nodes).
    """

    positions: float
    edge_lengths: float


def _positions(graphs: Sequence[nx.Graph], name: str) -> tuple[Tensor, Tensor]:
    nodes, lengths = [], []
    for g in graphs:
        if any("pos" not in d for _, d in g.nodes(data=True)):
            raise ValueError(f"every node of the {name} graphs needs a 'pos'")
        pos = torch.tensor([g.nodes[u]["pos"] for u in g.nodes], dtype=torch.float64)
        nodes.append(pos.reshape(g.number_of_nodes(), -1))
        index = {u: k for k, u in enumerate(g.nodes)}
        for u, v in g.edges:
            lengths.append(float((pos[index[u]] - pos[index[v]]).norm()))
    return torch.cat(nodes), torch.tensor(lengths, dtype=torch.float64)[:, None]


def position_metrics(
    generated: Sequence[nx.Graph], reference: Sequence[nx.Graph]
) -> PositionMetrics:
    """:class:`PositionMetrics` of ``generated`` against ``reference``; the edge-length term is
    ``nan`` when either side has fewer than two edges."""
    if not generated or not reference:
        raise ValueError("both sets of graphs must be non-empty")
    nodes_g, lengths_g = _positions(generated, "generated")
    nodes_r, lengths_r = _positions(reference, "reference")
    edges = float("nan")
    if len(lengths_g) > 1 and len(lengths_r) > 1:
        edges = float(energy_distance(lengths_g, lengths_r))
    return PositionMetrics(float(energy_distance(nodes_g, nodes_r)), edges)
