"""The peer benchmark (``bench/peers.py``): its parts run ``--quick`` and print well-formed
records, and ``bench/render_results.py`` renders medians and targets from them (it asserts
nothing about speed or quality: those numbers live in ``bench/RESULTS.md``)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import render_results  # noqa: E402

FIELDS = {"part", "workload", "library", "variant", "seed", "nfe", "metric", "value"}


def record(value: float, seed: int, **fields: object) -> dict:
    base = {
        "part": "p",
        "workload": "w",
        "library": "genmatch",
        "variant": "v",
        "nfe": 8,
        "metric": "m",
    }
    return {**base, **fields, "seed": seed, "value": value}


def test_quick_run_of_the_throughput_part_writes_records_and_the_page(tmp_path):
    out = tmp_path / "RESULTS.md"
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH / "peers.py"),
            "--quick",
            "--parts",
            "throughput",
            "--seeds",
            "0",
            "--out-dir",
            str(tmp_path),
            "--results",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert records and all(set(r) == FIELDS for r in records)
    assert all(math.isfinite(r["value"]) for r in records)
    libraries = {r["library"] for r in records if r["metric"] == "steps_per_s"}
    assert libraries == {"genmatch", "flow_matching", "torchcfm"}
    # The same network, the same x_0, the same grid: both libraries integrate the same ODE.
    gaps = [r["value"] for r in records if r["metric"] == "max_abs_diff_vs_flow_matching"]
    assert len(gaps) == 2 and max(gaps) < 1e-5
    assert (tmp_path / "throughput.jsonl").read_text().count("\n") == len(records)
    assert "## Targets" in out.read_text()


def test_render_takes_the_median_over_seeds_and_lists_each_seed(tmp_path):
    rows = [record(v, s) for s, v in enumerate((0.5, 0.1, 0.3))]
    (tmp_path / "p.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    text = render_results.render(render_results.load(tmp_path))
    assert "| 8 | genmatch | v | **0.3** (0.5 / 0.1 / 0.3) |" in text


def test_targets_are_met_only_by_measured_medians(monkeypatch):
    target = {"name": "t", "ours": {"metric": "m"}, "peer": None, "bound": 0.3, "better": "lower"}
    monkeypatch.setattr(render_results, "TARGETS", [target])
    met = render_results.targets_table([record(0.2, 0), record(0.3, 1), record(0.9, 2)])
    assert met[-1].endswith("| yes |")
    missed = render_results.targets_table([record(0.2, 0), record(0.4, 1), record(0.9, 2)])
    assert missed[-1].endswith("| **no** |")
    assert render_results.targets_table([])[-1].endswith("| not measured |")
    higher = {**target, "better": "higher"}
    monkeypatch.setattr(render_results, "TARGETS", [higher])
    assert render_results.targets_table([record(0.3, 0)])[-1].endswith("| yes |")


def test_a_record_without_a_field_is_a_clear_error(tmp_path):
    bad = record(1.0, 0)
    del bad["metric"]
    (tmp_path / "bad.jsonl").write_text(json.dumps(bad) + "\n")
    with pytest.raises(ValueError, match=r"bad.jsonl:1: record lacks \['metric'\]"):
        render_results.load(tmp_path)
