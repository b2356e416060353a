"""Graph generation on a synthetic family: the metric table against the train-vs-held-out floor.

Trains the model of ``examples/graphs.py`` (a :class:`~genmatch.nn.GraphTransformer`
predicting node and pair posteriors on the :class:`~genmatch.paths.GraphMixturePath` from the
marginal prior, edges weighed 5×) and samples it at NFE 16 / 64 / 256 with the plain CTMC
sampler and with the mixture predictor–corrector. Every row has the MMDs of degree,
clustering and spectrum against held-out graphs, validity, uniqueness, novelty and V.U.N.;
the ``floor`` row scores as many training graphs against the same held-out graphs. The
training cost per step is reported too.

Usage::

    python bench/graphs.py --family planar            # a few CPU minutes on one thread
    python bench/graphs.py --family sbm --positions   # SBM graphs with node positions
    python bench/graphs.py --quick                    # a smoke test of the script

With ``--positions`` every row also has the energy distances of node positions and of edge
lengths against the held-out graphs (``positions``).

Prints one JSON line per row (``{"bench": "graphs", "row": ..., ...}``) and a summary line.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "graphs.py"


def _example():
    spec = importlib.util.spec_from_file_location("graphs_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["graphs_example"] = module
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="planar")
    parser.add_argument("--source", default="marginal")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="outputs/bench_graphs")
    parser.add_argument("--positions", action="store_true")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    run = [
        "--family",
        args.family,
        "--source",
        args.source,
        "--threads",
        str(args.threads),
        "--out",
        args.out,
    ]
    if args.positions:
        run.append("--positions")
    if args.quick:
        run += [
            "--steps",
            "3",
            "--num-train",
            "24",
            "--num-test",
            "8",
            "--num-samples",
            "6",
            "--nfe",
            "2",
            "4",
            "--hidden",
            "16",
            "--layers",
            "1",
            "--batch-size",
            "4",
        ]
    else:
        run += ["--steps", str(args.steps)]
    results = _example().main(run)
    print(json.dumps({"bench": "graphs", "row": "floor", **results["floor"]}))
    for row, metrics in results["samplers"].items():
        print(json.dumps({"bench": "graphs", "row": row, **metrics}))
    summary = {k: v for k, v in results.items() if k not in ("floor", "samplers")}
    print(json.dumps({"bench": "graphs", "row": "summary", **summary}))
    return results


if __name__ == "__main__":
    main()
