"""genmatch side by side with its peers (flow_matching, torchcfm) on the same workloads.

Each part is a module ``bench/peers_<part>.py`` with ``run(seeds, quick=False)`` yielding one
record per measured number::

    {"part", "workload", "library", "variant", "seed", "nfe", "metric", "value"}

This driver runs the parts asked for, prints every record as a JSON line, writes each part's
records to ``<out-dir>/<part>.jsonl`` and renders ``bench/RESULTS.md`` from every ``.jsonl``
file in ``<out-dir>`` (``bench/render_results.py``: medians over seeds, libraries side by side,
and the targets met or not).

Usage::

    python bench/peers.py                         # every part, seeds 0 1 2 (hours on 2 cores)
    python bench/peers.py --parts throughput      # one part
    python bench/peers.py --quick --out-dir /tmp/peers --results /tmp/peers/RESULTS.md
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import render_results  # noqa: E402

PARTS = ("throughput", "discrete", "continuous", "superposition")


def main(argv: Sequence[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
    parser.add_argument("--out-dir", type=Path, default=HERE / "results")
    parser.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    everything: list[dict] = []
    for part in args.parts:
        module = importlib.import_module(f"peers_{part}")
        records = []
        for record in module.run(args.seeds, quick=args.quick):
            print(json.dumps(record), flush=True)
            records.append(record)
        (args.out_dir / f"{part}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
        everything += records
    render_results.write(args.out_dir, args.results)
    return everything


if __name__ == "__main__":
    main()
