"""Render ``bench/RESULTS.md`` from the peer-benchmark records in ``bench/results/*.jsonl``.

Every number in the page is a median over the seeds of its records, with the per-seed values
beside it. The targets table reads its rows from :data:`TARGETS`; a target whose records are
missing is shown as "not measured", never as met.

Usage::

    python bench/render_results.py [--results-dir bench/results] [--out bench/RESULTS.md]
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path

HERE = Path(__file__).resolve().parent
KEY = ("part", "workload", "library", "variant", "nfe", "metric")

#: One row per target: the genmatch records (``ours``), the reference's (``peer``: a peer
#: library, or another genmatch variant; or None), the bound (a number, or ``"reference"``:
#: the reference's median) and whether lower or higher is better.
TARGETS: list[dict] = [
    {
        "name": "training throughput vs flow_matching (hand-written loop)",
        "ours": {
            "part": "throughput",
            "library": "genmatch",
            "variant": "train",
            "metric": "ratio_vs_flow_matching",
        },
        "peer": None,
        "bound": 1.0,
        "better": "higher",
    },
    {
        "name": "training throughput vs flow_matching (genmatch.train)",
        "ours": {
            "part": "throughput",
            "library": "genmatch",
            "variant": "train-loop",
            "metric": "ratio_vs_flow_matching",
        },
        "peer": None,
        "bound": 1.0,
        "better": "higher",
    },
    {
        "name": "Euler sampling throughput vs flow_matching, NFE 8",
        "ours": {
            "part": "throughput",
            "library": "genmatch",
            "variant": "sample-euler",
            "metric": "ratio_vs_flow_matching",
        },
        "peer": None,
        "bound": 1.0,
        "better": "higher",
    },
    {
        "name": "midpoint sampling throughput vs flow_matching, NFE 8",
        "ours": {
            "part": "throughput",
            "library": "genmatch",
            "variant": "sample-midpoint",
            "metric": "ratio_vs_flow_matching",
        },
        "peer": None,
        "bound": 1.0,
        "better": "higher",
    },
    *(
        {
            "name": f"discrete toy, masked, NFE {nfe}: pair KL to the exact chain",
            "ours": {
                "part": "discrete",
                "workload": "markov16x8-masked",
                "nfe": nfe,
                "library": "genmatch",
                "variant": "own",
                "metric": "pair_kl",
            },
            "peer": {
                "part": "discrete",
                "workload": "markov16x8-masked",
                "nfe": nfe,
                "library": "flow_matching",
                "variant": "own",
                "metric": "pair_kl",
            },
            "bound": bound,
            "better": "lower",
        }
        for nfe, bound in ((8, "reference"), (32, 0.64), (128, 0.55))
    ),
    *(
        {
            "name": f"checkerboard, NFE 8, {solver}: energy distance (block OT, EMA 0.995)",
            "ours": {
                "part": "continuous",
                "workload": "checkerboard",
                "nfe": 8,
                "library": "genmatch",
                "variant": f"block16-ema0.995-{solver}",
                "metric": "energy",
            },
            "peer": {
                "part": "continuous",
                "workload": "checkerboard",
                "nfe": 8,
                "library": "flow_matching",
                "variant": f"independent-{solver}",
                "metric": "energy",
            },
            "bound": 0.003,
            "better": "lower",
        }
        for solver in ("euler", "midpoint")
    ),
    {
        "name": "checkerboard, OT-coupled step at batch 4 096 / independent step (block OT)",
        "ours": {
            "part": "continuous",
            "library": "genmatch",
            "variant": "block16-batch4096",
            "metric": "step_cost_ratio",
        },
        "peer": {
            "part": "continuous",
            "library": "torchcfm",
            "variant": "exact-ot-batch4096",
            "metric": "step_cost_ratio",
        },
        "bound": 1.25,
        "better": "lower",
    },
    *(
        {
            "name": f"{w}, NFE 8, trained: jump + flow (switch at ½) vs flow ({solver})",
            "ours": {
                "part": "superposition",
                "workload": w,
                "nfe": 8,
                "metric": "energy",
                "variant": "trained/jump+flow[switch0.5]",
            },
            "peer": {
                "part": "superposition",
                "workload": w,
                "nfe": 8,
                "metric": "energy",
                "variant": f"trained/flow-{solver}",
            },
            "bound": "reference",
            "better": "lower",
        }
        for solver in ("euler", "midpoint")
        for w in ("checkerboard", "gaussians8", "moons")
    ),
]


def load(results_dir: Path) -> list[dict]:
    """Every record of every ``.jsonl`` file in ``results_dir`` (sorted by file name)."""
    records = []
    for path in sorted(results_dir.glob("*.jsonl")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            record = json.loads(line)
            missing = [k for k in (*KEY, "seed", "value") if k not in record]
            if missing:
                raise ValueError(f"{path}:{n}: record lacks {missing}")
            records.append(record)
    return records


def _matches(record: Mapping, select: Mapping) -> bool:
    return all(record.get(k) == v for k, v in select.items())


def _values(records: Iterable[dict], select: Mapping) -> list[float]:
    return [float(r["value"]) for r in records if _matches(r, select)]


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _cell(values: list[float]) -> str:
    if not values:
        return "not measured"
    per_seed = " / ".join(_fmt(v) for v in values)
    if len(values) == 1:
        return _fmt(values[0])
    return f"**{_fmt(statistics.median(values))}** ({per_seed})"


def targets_table(records: list[dict]) -> list[str]:
    """One row per target; ``bound = "reference"`` compares with the reference's median."""
    lines = ["| target | reference | genmatch | bound | met |", "|---|---|---|---|---|"]
    for t in TARGETS:
        ours = _values(records, t["ours"])
        reference = _values(records, t["peer"]) if t["peer"] else []
        relative = t["bound"] == "reference"
        bound = statistics.median(reference) if relative and reference else t["bound"]
        if not ours or (relative and not reference):
            met = "not measured"
        else:
            med = statistics.median(ours)
            ok = med <= bound if t["better"] == "lower" else med >= bound
            met = "yes" if ok else "**no**"
        sign = "≤" if t["better"] == "lower" else "≥"
        ref_cell = _cell(reference) if t["peer"] else "—"
        shown = "the reference" if relative else t["bound"]
        lines.append(f"| {t['name']} | {ref_cell} | {_cell(ours)} | {sign} {shown} | {met} |")
    return lines


def part_tables(records: list[dict]) -> list[str]:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        groups[(r["part"], r["workload"], r["metric"])].append(r)
    lines: list[str] = []
    for (part, workload, metric), rows in groups.items():
        lines += ["", f"### {part} · {workload} · `{metric}`", ""]
        lines += ["| NFE | library | variant | median (per seed) |", "|---|---|---|---|"]
        cells: dict[tuple, list[float]] = defaultdict(list)
        for r in rows:
            cells[(r["nfe"], r["library"], r["variant"])].append(float(r["value"]))
        for (nfe, library, variant), values in sorted(
            cells.items(), key=lambda kv: (kv[0][0] or 0, kv[0][1], kv[0][2])
        ):
            shown = "—" if nfe is None else nfe
            lines.append(f"| {shown} | {library} | {variant} | {_cell(values)} |")
    return lines


def render(records: list[dict]) -> str:
    seeds = sorted({r["seed"] for r in records})
    lines = [
        "# Peer benchmark results",
        "",
        "Generated by `python bench/render_results.py` from `bench/results/*.jsonl`, which",
        "`python bench/peers.py` writes; see `bench/README.md` for the workloads and how each",
        f"number is measured. Seeds: {', '.join(map(str, seeds)) or 'none'}. Bold: the median.",
        "",
        "## Targets",
        "",
        *targets_table(records),
        "",
        "## Every measurement",
        *part_tables(records),
    ]
    return "\n".join(lines) + "\n"


def write(results_dir: Path, out: Path) -> str:
    """Render the records of ``results_dir`` into ``out``; return the text."""
    text = render(load(results_dir))
    out.write_text(text)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", type=Path, default=HERE / "results")
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()
    write(args.results_dir, args.out)


if __name__ == "__main__":
    main()
