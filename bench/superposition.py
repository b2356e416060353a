"""Flow vs jump vs jump + flow on three 2-D data sets, at NFE 4–64, with exact-marginal oracles.

Run:  python bench/superposition.py [--steps 3000] [--out outputs/bench_superposition]

Trains the three model kinds of ``examples/jump_flow_2d.py`` (same network size, optimiser,
steps, batch and seed) on checkerboard, 8 Gaussians and two moons; prints one JSON line per
(data set, model kind, source, NFE) with energy distance and sliced Wasserstein-2 to fresh data,
then a Markdown table, and writes ``quality_vs_nfe.png`` and ``metrics.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _example():
    spec = importlib.util.spec_from_file_location(
        "jump_flow_2d", ROOT / "examples" / "jump_flow_2d.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["jump_flow_2d"] = module
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> None:
    ex = _example()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--num-samples", type=int, default=2000)
    parser.add_argument("--nfe", type=int, nargs="+", default=list(ex.NFES))
    parser.add_argument("--data", nargs="+", default=sorted(ex.DATASETS))
    parser.add_argument("--out", default="outputs/bench_superposition")
    args = parser.parse_args(argv)
    tic = time.perf_counter()
    results = {}
    for name in args.data:
        res = ex.run_dataset(
            name, steps=args.steps, num_samples=args.num_samples, nfes=tuple(args.nfe)
        )
        results[name] = res
        for kind in ex.KINDS:
            for source in ("model", "oracle"):
                for nfe, scores in sorted(res[kind][source].items()):
                    print(
                        json.dumps(
                            {
                                "bench": "superposition",
                                "data": name,
                                "kind": kind,
                                "source": source,
                                "nfe": nfe,
                                **scores,
                            }
                        )
                    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(results, indent=2))
    ex.plot(results, out / "quality_vs_nfe.png")
    nfes = sorted(next(iter(results.values()))["flow"]["model"])
    print()
    print("| data | model | " + " | ".join(f"NFE {n}" for n in nfes) + " |")
    print("|---|---|" + "---|" * len(nfes))
    for name, res in results.items():
        for kind in ex.KINDS:
            for source in ("model", "oracle"):
                cells = [
                    f"{res[kind][source][n]['energy_distance']:.4f} / "
                    f"{res[kind][source][n]['sliced_w2']:.3f}"
                    for n in nfes
                ]
                print(f"| {name} | {kind} ({source}) | " + " | ".join(cells) + " |")
        floor = res["data_floor"]
        print(
            f"| {name} | data vs data | {floor['energy_distance']:.4f} / {floor['sliced_w2']:.3f} |"
        )
    print(
        "\ncells: energy distance / sliced W2 to fresh data; "
        f"wall time {time.perf_counter() - tic:.0f} s"
    )


if __name__ == "__main__":
    main()
