"""A permutation-equivariant graph transformer with node, pair and position read-outs."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.data import Batch
from torch_geometric.nn import TransformerConv

from genmatch.nn.embeddings import SinusoidalTimeEmbedding
from genmatch.spaces.graph import GraphSpace
from genmatch.types import HeadShapes


class GraphTransformer(nn.Module):
    """``(G_t, t) ↦ {"nodes/…": (N, 1, K), "edges/…": (P, 1, K), "positions/…": (N, d)}``:
    message passing over every pair of a graph with :class:`torch_geometric.nn.TransformerConv`
    (edge-type features on every pair, "no edge" included, as in DiGress), time conditioning in
    every layer.

    Node inputs: the node type's embedding, each node's count of neighbours of every edge type
    (divided by the graph's size) and the projected sinusoidal time embedding. Each layer
    attends along the pairs with their features, then updates every pair's feature from its
    two endpoints symmetrically (``h_i + h_j``, ``h_i ⊙ h_j``). Heads read out nodes from
    their features and a pair ``{i, j}`` from ``(h_i + h_j, h_i ⊙ h_j, e_ij)``: one output per
    unordered pair, symmetric by construction, and every output permutes with the nodes.

    With positions (``space.position_dim = d``), each node's position ``r_i`` enters its input
    features (a linear embedding) and each pair's squared distance ``|r_i − r_j|²`` its pair
    feature; a ``"positions/<head>"`` ``(d,)`` is read out per node as
    ``W h_i + Σ_{j≠i} (r_i − r_j) φ(e_ij) / n`` (a linear read-out plus relative positions
    weighted by a scalar per pair). Positions need not be centred. Every output still permutes
    with the nodes; the network is not E(n) equivariant (raw positions are input features).

    Args:
        space: the graph space.
        heads: head shapes by name, ``"nodes/<head>"`` and ``"edges/<head>"`` each ``(1, K)``,
            ``"positions/<head>"`` ``(d,)`` (as :class:`~genmatch.generators.GraphGenerator`
            declares them).
        hidden: width (divisible by ``num_heads``).
        num_layers: message-passing layers.
        num_heads: attention heads.

    Shapes:
        x_t: a ``Batch`` of ``B`` graphs with ``N`` nodes and ``P`` pairs; t: ``(B,)``.

    Example:
        >>> import networkx as nx
        >>> space = GraphSpace(2, 3)
        >>> net = GraphTransformer(space, {"nodes/logits": (1, 2), "edges/logits": (1, 3)},
        ...                        hidden=16, num_heads=2)
        >>> x = space.from_networkx([nx.path_graph(3), nx.path_graph(4)])
        >>> out = net(x, torch.tensor([0.1, 0.9]))
        >>> out["nodes/logits"].shape, out["edges/logits"].shape  # 7 nodes, 3 + 6 pairs
        (torch.Size([7, 1, 2]), torch.Size([9, 1, 3]))
    """

    def __init__(
        self,
        space: GraphSpace,
        heads: HeadShapes,
        *,
        hidden: int = 64,
        num_layers: int = 3,
        num_heads: int = 4,
    ) -> None:
        super().__init__()
        if hidden % num_heads:
            raise ValueError(f"hidden ({hidden}) must be divisible by num_heads ({num_heads})")
        node_heads: dict[str, int] = {}
        edge_heads: dict[str, int] = {}
        position_heads: list[str] = []
        d = space.position_dim
        for name, shape in heads.items():
            kind, _, head = name.partition("/")
            if kind == "positions" and head:
                if not d or tuple(shape) != (d,):
                    raise ValueError(
                        f"a 'positions/<head>' must be shaped (position_dim,) = ({d},) on a "
                        f"space with positions, got {name!r}: {shape}"
                    )
                position_heads.append(name)
                continue
            if kind not in ("nodes", "edges") or not head or len(shape) != 2 or shape[0] != 1:
                raise ValueError(
                    f"heads must be named 'nodes/<head>' or 'edges/<head>' and shaped (1, K) "
                    f"(or 'positions/<head>' shaped (d,)), got {name!r}: {shape}"
                )
            (node_heads if kind == "nodes" else edge_heads)[name] = shape[1]
        self.space = space
        edge_states = space.edge_space.num_states
        self.node_embedding = nn.Embedding(space.node_space.num_states, hidden)
        self.degree = nn.Linear(edge_states, hidden)
        self.edge_embedding = nn.Embedding(edge_states, hidden)
        self.time = nn.Sequential(
            SinusoidalTimeEmbedding(hidden), nn.Linear(hidden, hidden), nn.SiLU()
        )
        self.convs = nn.ModuleList(
            TransformerConv(hidden, hidden // num_heads, heads=num_heads, edge_dim=hidden)
            for _ in range(num_layers)
        )
        self.time_shift = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(num_layers))
        self.node_norm = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(num_layers))
        self.node_ff = nn.ModuleList(_mlp(hidden, hidden, hidden) for _ in range(num_layers))
        self.edge_ff = nn.ModuleList(_mlp(2 * hidden, hidden, hidden) for _ in range(num_layers))
        self.node_out = nn.ModuleDict(
            {k.replace("/", "_"): nn.Linear(hidden, v) for k, v in node_heads.items()}
        )
        self.edge_out = nn.ModuleDict(
            {k.replace("/", "_"): _mlp(3 * hidden, hidden, v) for k, v in edge_heads.items()}
        )
        self.head_names = {k.replace("/", "_"): k for k in heads}
        if d:
            self.position_in = nn.Linear(d, hidden)
            self.distance_in = _mlp(1, hidden, hidden)
        self.position_out = nn.ModuleDict(
            {k.replace("/", "_"): nn.Linear(hidden, d) for k in position_heads}
        )
        self.position_pair = nn.ModuleDict(
            {k.replace("/", "_"): _mlp(3 * hidden, hidden, 1) for k in position_heads}
        )

    def forward(self, x_t: Batch, t: Tensor) -> dict[str, Tensor]:
        v = self.space.variables(x_t)
        i, j = v.pairs
        n = x_t.x.shape[0]
        edge_states = self.space.edge_space.num_states
        sizes = self.space.num_nodes(x_t).clamp_min(1).to(t.dtype)
        counts = torch.zeros(n, edge_states, dtype=t.dtype, device=t.device)
        one_hot = nn.functional.one_hot(v.edges, edge_states).to(t.dtype)
        counts = counts.index_add(0, i, one_hot).index_add(0, j, one_hot)
        time = self.time(t)
        h = self.node_embedding(x_t.x) + self.degree(counts / sizes[v.node_graph, None])
        h = h + time[v.node_graph]
        e = self.edge_embedding(v.edges)
        if self.space.position_dim:
            pos = x_t.pos.to(t.dtype)
            rel = pos[i] - pos[j]
            h = h + self.position_in(pos)
            e = e + self.distance_in((rel**2).sum(-1, keepdim=True))
        both = torch.stack([torch.cat([i, j]), torch.cat([j, i])])
        for conv, shift, norm, node_ff, edge_ff in zip(
            self.convs, self.time_shift, self.node_norm, self.node_ff, self.edge_ff, strict=True
        ):
            h = h + conv(norm(h), both, torch.cat([e, e]))
            h = h + node_ff(h) + shift(time)[v.node_graph]
            e = e + edge_ff(torch.cat([h[i] + h[j], h[i] * h[j]], -1))
        out = {}
        for key, layer in self.node_out.items():
            out[self.head_names[key]] = layer(h)[:, None, :]
        pair = torch.cat([h[i] + h[j], h[i] * h[j], e], -1)
        for key, layer in self.edge_out.items():
            out[self.head_names[key]] = layer(pair)[:, None, :]
        for key, layer in self.position_out.items():
            scaled = rel * self.position_pair[key](pair) / sizes[v.pair_graph, None]
            moved = torch.zeros_like(pos).index_add(0, i, scaled).index_add(0, j, -scaled)
            out[self.head_names[key]] = layer(h) + moved
        return out


def _mlp(inputs: int, hidden: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(
        nn.LayerNorm(inputs), nn.Linear(inputs, hidden), nn.SiLU(), nn.Linear(hidden, outputs)
    )
