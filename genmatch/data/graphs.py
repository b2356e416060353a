"""Seeded synthetic graph families at small sizes (as in the SPECTRE / DiGress / DeFoG
benchmarks): stochastic block models, planar graphs, trees.

Every sampler is a pure function of its arguments and ``rng``: it returns ``n`` networkx
graphs with nodes ``0 … k−1`` and draws all randomness from ``rng`` (torch's default generator
when ``None``).
"""

from __future__ import annotations

import networkx as nx
import torch

from genmatch._checks import check_positive_int


def _size(sizes: tuple[int, int], rng: torch.Generator | None) -> int:
    low, high = sizes
    if not 1 <= low <= high:
        raise ValueError(f"sizes must be (low, high) with 1 <= low <= high, got {sizes}")
    return int(torch.randint(low, high + 1, (), generator=rng))


def sbm_graphs(
    n: int,
    *,
    blocks: int = 2,
    block_sizes: tuple[int, int] = (4, 7),
    p_in: float = 0.7,
    p_out: float = 0.05,
    rng: torch.Generator | None = None,
) -> list[nx.Graph]:
    """Stochastic block models: ``blocks`` blocks of uniform sizes in ``block_sizes``, each
    pair linked with probability ``p_in`` inside a block and ``p_out`` across. Node attribute
    ``"block"`` holds each node's block; nodes are numbered block by block.

    Example:
        >>> graphs = sbm_graphs(2, rng=torch.Generator().manual_seed(0))
        >>> [g.number_of_nodes() for g in graphs], graphs[0].nodes[0]["block"]
        ([11, 10], 0)
    """
    n = check_positive_int(n, "n")
    if not (0 <= p_out <= 1 and 0 <= p_in <= 1):
        raise ValueError(f"p_in and p_out must be probabilities, got {p_in}, {p_out}")
    out = []
    for _ in range(n):
        sizes = [_size(block_sizes, rng) for _ in range(blocks)]
        block = torch.repeat_interleave(torch.arange(blocks), torch.tensor(sizes))
        k = len(block)
        same = block[:, None] == block[None, :]
        p = torch.where(same, p_in, p_out)
        u = torch.rand(k, k, generator=rng)
        adj = torch.triu(u < p, 1)
        g = nx.Graph()
        g.add_nodes_from((i, {"block": int(block[i])}) for i in range(k))
        g.add_edges_from(adj.nonzero().tolist())
        out.append(g)
    return out


def planar_graphs(
    n: int, *, sizes: tuple[int, int] = (8, 12), rng: torch.Generator | None = None
) -> list[nx.Graph]:
    """Random maximal planar graphs: every pair, in a random order, is added when the graph
    stays planar (so each graph has ``3k − 6`` edges and is connected for ``k ≥ 3``).

    Example:
        >>> g = planar_graphs(1, sizes=(8, 8), rng=torch.Generator().manual_seed(0))[0]
        >>> g.number_of_edges(), nx.check_planarity(g)[0]
        (18, True)
    """
    n = check_positive_int(n, "n")
    out = []
    for _ in range(n):
        k = _size(sizes, rng)
        g = nx.empty_graph(k)
        pairs = torch.triu_indices(k, k, 1).T
        for i, j in pairs[torch.randperm(len(pairs), generator=rng)].tolist():
            g.add_edge(i, j)
            if not nx.check_planarity(g)[0]:
                g.remove_edge(i, j)
        out.append(g)
    return out


def tree_graphs(
    n: int, *, sizes: tuple[int, int] = (8, 12), rng: torch.Generator | None = None
) -> list[nx.Graph]:
    """Uniform random labelled trees (Prüfer sequences) with a uniform number of nodes.

    Example:
        >>> g = tree_graphs(1, sizes=(9, 9), rng=torch.Generator().manual_seed(0))[0]
        >>> g.number_of_nodes(), g.number_of_edges(), nx.is_tree(g)
        (9, 8, True)
    """
    n = check_positive_int(n, "n")
    out = []
    for _ in range(n):
        k = _size(sizes, rng)
        if k < 3:
            out.append(nx.path_graph(k))
            continue
        code = torch.randint(0, k, (k - 2,), generator=rng).tolist()
        out.append(nx.from_prufer_sequence(code))
    return out


def block_positions(
    graphs: list[nx.Graph],
    *,
    dim: int = 2,
    radius: float = 2.0,
    spread: float = 0.3,
    rng: torch.Generator | None = None,
) -> list[nx.Graph]:
    """Copies of block-model graphs (node attribute ``"block"``, as :func:`sbm_graphs` gives)
    with node positions ``"pos"`` in ``R^dim`` clustered by block: node ``i`` of block ``b`` at
    ``c_b + spread · ε_i``, ``ε_i ~ N(0, I)``, the block centres ``c_b`` on a circle of
    ``radius`` in the first two coordinates (at a random common angle), then centred per graph
    (the mean position of every graph is 0). Edges are short within blocks and long across.

    Example:
        >>> g = block_positions(sbm_graphs(1, rng=torch.Generator().manual_seed(0)))[0]
        >>> len(g.nodes[0]["pos"]), abs(sum(p["pos"][0] for _, p in g.nodes(data=True))) < 1e-12
        (2, True)
    """
    if dim < 2:
        raise ValueError(f"dim must be >= 2 (block centres lie on a circle), got {dim}")
    out = []
    for graph in graphs:
        blocks = torch.tensor([graph.nodes[u]["block"] for u in graph.nodes])
        k = int(blocks.max()) + 1 if len(blocks) else 1
        angle = 2 * torch.pi * (torch.arange(k) / k + torch.rand((), generator=rng))
        centres = torch.zeros(k, dim, dtype=torch.float64)
        centres[:, 0], centres[:, 1] = radius * angle.cos(), radius * angle.sin()
        noise = torch.randn(len(blocks), dim, generator=rng, dtype=torch.float64)
        pos = centres[blocks] + spread * noise
        pos = pos - pos.mean(0)
        g = nx.Graph()
        g.add_nodes_from(
            (u, {"block": graph.nodes[u]["block"], "pos": pos[index].tolist()})
            for index, u in enumerate(graph.nodes)
        )
        g.add_edges_from(graph.edges)
        out.append(g)
    return out
