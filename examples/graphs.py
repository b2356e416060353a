"""Graph generation with a CTMC over node and pair types (DiGress / DeFoG style).

Run:  python examples/graphs.py --family planar --steps 2000 --out outputs/graphs
      python examples/graphs.py --family sbm --positions --out outputs/graphs_positions

Data: a seeded synthetic family (``planar``: maximal planar graphs, ``tree``: uniform trees,
``sbm``: two-block stochastic block models), split into training and held-out graphs. Model:
a :class:`~genmatch.nn.GraphTransformer` predicting ``p_{1|t}`` of every node and every pair
(an edge is one variable) on the :class:`~genmatch.paths.GraphMixturePath` from the marginal
prior (node and edge types at their data frequencies) or the all-mask source, trained with
the generator-matching loss (cross-entropy, edges weighed ``--edge-weight``× nodes). Sizes are
drawn from the training sizes.

With ``--positions`` (SBM family only) every node also has a position in the plane, clustered
by block (:func:`~genmatch.data.block_positions`, centred per graph): types move by the CTMC,
positions by a flow from ``N(0, I)`` per node on the CondOT path (loss weight
``--position-weight``), one network reading positions in and velocities out; the metrics add
the energy distances of node positions and of edge lengths
(:func:`~genmatch.metrics.position_metrics`) against the held-out graphs.

Reported, for the samplers ``plain`` and ``predictor-corrector`` at every ``--nfe``: the MMDs
of degree, clustering and spectrum against the held-out graphs, validity, uniqueness,
novelty and V.U.N.; next to them the *floor*, the same metrics for as many training graphs
against the held-out ones; and the training cost per step. Writes ``metrics.json`` and
``samples.png`` (sampled graphs next to data).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path

import networkx as nx
import torch

import genmatch as gm
from genmatch.data import block_positions, planar_graphs, sbm_graphs, tree_graphs
from genmatch.generators import GraphGenerator
from genmatch.metrics import (
    SBMTest,
    graph_metrics,
    is_planar_connected,
    is_tree,
    position_metrics,
)
from genmatch.nn import GraphTransformer
from genmatch.paths import GraphMixturePath, LinearKappa
from genmatch.sources import GraphSource
from genmatch.spaces import GraphSpace

FAMILIES: dict[str, tuple[Callable[..., list[nx.Graph]], Callable[[nx.Graph], bool]]] = {
    "planar": (planar_graphs, is_planar_connected),
    "tree": (tree_graphs, is_tree),
    # the block model of sbm_graphs' defaults: two blocks of 4 to 7 nodes, p_in 0.7, p_out 0.05
    "sbm": (sbm_graphs, SBMTest(2, 0.7, 0.05, level=0.05, block_sizes=(4, 7))),
}


def build(args: argparse.Namespace) -> dict:
    """Data, space, path, generator and network of a run."""
    family, valid = FAMILIES[args.family]
    rng = torch.Generator().manual_seed(args.seed)
    graphs = family(args.num_train + args.num_test, rng=rng)
    if args.positions:
        graphs = block_positions(graphs, rng=rng)
    train, test = graphs[: args.num_train], graphs[args.num_train :]
    space = GraphSpace(1, 2, mask=args.source == "masked", position_dim=2 * args.positions)
    data = space.from_networkx([_plain(g, args.positions) for g in train])
    source = (GraphSource.masked if args.source == "masked" else GraphSource.marginal)(space, data)
    path = GraphMixturePath(space, source, LinearKappa())
    gen = GraphGenerator.ctmc(
        path, edge_weight=args.edge_weight, position_weight=args.position_weight
    )
    torch.manual_seed(args.seed)
    net = GraphTransformer(
        space, gen.head_shapes(space), hidden=args.hidden, num_layers=args.layers, num_heads=4
    )
    return dict(
        train=train, test=test, valid=valid, space=space, data=data, path=path, gen=gen, net=net
    )


def _plain(graph: nx.Graph, positions: bool) -> nx.Graph:
    """The graph with its nodes in order, one node and edge type, and its positions if asked."""
    out = nx.Graph()
    for u in graph.nodes:
        out.add_node(u, **({"pos": graph.nodes[u]["pos"]} if positions else {}))
    out.add_edges_from(graph.edges)
    return out


def fit(run: dict, args: argparse.Namespace) -> float:
    """Train; returns the mean wall time of one training step (seconds)."""
    space, data, net = run["space"], run["data"], run["net"]
    loss_fn = gm.GeneratorMatchingLoss(run["path"], run["gen"], space=space)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr)
    rng = torch.Generator().manual_seed(args.seed + 1)
    n = space.batch_size(data)
    start = time.perf_counter()
    for step in range(args.steps):
        batch = space.take(data, torch.randint(0, n, (args.batch_size,), generator=rng))
        loss = loss_fn(net, batch, generator=rng)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        if args.log_every and step % args.log_every == 0:
            print(f"step {step} loss {loss.item():.3f}", flush=True)
    return (time.perf_counter() - start) / max(args.steps, 1)


def sample(run: dict, args: argparse.Namespace, nfe: int, corrected: bool) -> list[nx.Graph]:
    """``--num-samples`` graphs with ``nfe`` steps, with or without the predictor–corrector."""
    space, path = run["space"], run["path"]
    gen = run["gen"]
    if corrected:
        gen = GraphGenerator.ctmc(
            path,
            edge_weight=args.edge_weight,
            corrector=lambda t: args.beta * (1 - t),
            position_weight=args.position_weight,
        )
    rng = torch.Generator().manual_seed(args.seed + 2)
    x_0 = path.source.sample(args.num_samples, generator=rng)
    with torch.no_grad():
        x_1 = gm.simulate(gen, gen.field(run["net"]), x_0, nfe, space=space, rng=rng).x
    space.check(x_1, "samples")
    return space.to_networkx(x_1)


def draw(path: Path, samples: list[nx.Graph], data: list[nx.Graph], k: int = 8) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, k, figsize=(2 * k, 4))
    for row, (name, graphs) in enumerate((("data", data), ("samples", samples))):
        for i, ax in enumerate(axes[row]):
            ax.axis("off")
            if i < len(graphs):
                g = graphs[i]
                layout = nx.get_node_attributes(g, "pos") or nx.spring_layout(g, seed=0)
                nx.draw(g, layout, ax=ax, node_size=20)
        axes[row][0].set_title(name, loc="left")
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", choices=sorted(FAMILIES), default="planar")
    parser.add_argument("--source", choices=["marginal", "masked"], default="marginal")
    parser.add_argument("--num-train", type=int, default=200)
    parser.add_argument("--num-test", type=int, default=64)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--edge-weight", type=float, default=5.0)
    parser.add_argument("--positions", action="store_true", help="node positions (sbm only)")
    parser.add_argument("--position-weight", type=float, default=1.0)
    parser.add_argument("--beta", type=float, default=1.0, help="corrector strength β_0")
    parser.add_argument("--nfe", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("--num-samples", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--log-every", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--out", type=Path, default=Path("outputs/graphs"))
    args = parser.parse_args(argv)
    if args.positions and args.family != "sbm":
        parser.error("--positions needs --family sbm (positions clustered by block)")
    if args.threads:
        torch.set_num_threads(args.threads)
    run = build(args)
    train, test, valid = run["train"], run["test"], run["valid"]
    seconds = fit(run, args)
    floor = graph_metrics(train[: len(test)], test, train[len(test) :] or train, valid)
    results: dict = {
        "family": args.family,
        "source": args.source,
        "steps": args.steps,
        "batch_size": args.batch_size,
        "train_seconds_per_step": seconds,
        "floor": dataclasses.asdict(floor),
        "positions": args.positions,
        "samplers": {},
    }
    if args.positions:
        pos_floor = position_metrics(train[: len(test)], test)
        results["floor"]["positions"] = dataclasses.asdict(pos_floor)
    last: list[nx.Graph] = []
    for corrected in (False, True):
        name = "predictor-corrector" if corrected else "plain"
        for nfe in args.nfe:
            last = sample(run, args, nfe, corrected)
            metrics = graph_metrics(last, test, train, valid)
            row = dataclasses.asdict(metrics)
            if args.positions:
                row["positions"] = dataclasses.asdict(position_metrics(last, test))
            results["samplers"][f"{name}/nfe{nfe}"] = row
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "metrics.json").write_text(json.dumps(results, indent=2))
    draw(args.out / "samples.png", last, test)
    return results


if __name__ == "__main__":
    out = main()
    print(json.dumps(out, indent=2))
