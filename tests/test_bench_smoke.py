"""Smoke tests of the benchmarks in ``bench/``: each runs ``--quick``, exits 0 and prints JSON
lines (they assert nothing about speed)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "throughput.py"


def run_quick(name: str, *args: str) -> list[dict]:
    """Run ``bench/<name> --quick *args``; its JSON lines, after checking it exited 0."""
    proc = subprocess.run(
        [sys.executable, str(SCRIPT.parent / name), "--quick", *args],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def test_throughput_quick_prints_json_summary():
    records = run_quick("throughput.py", "--threads", "1")
    by_name = {r["bench"]: r for r in records}
    assert set(by_name) == {"train", "train_loop", "sample_euler", "sample_rk4", "summary"}
    for name in ("train", "train_loop", "sample_euler", "sample_rk4"):
        rec = by_name[name]
        for key in ("raw_steps_per_s", "genmatch_steps_per_s", "ratio"):
            assert math.isfinite(rec[key]) and rec[key] > 0, (name, key, rec[key])
        assert rec["threads"] == 1
    # Same seeds and draw order: raw and genmatch compute the same numbers.
    assert by_name["train"]["max_abs_weight_diff"] == 0.0
    assert by_name["sample_euler"]["max_abs_diff"] < 1e-5
    assert by_name["sample_rk4"]["max_abs_diff"] < 1e-5
    summary = by_name["summary"]
    for key in ("train_ratio", "sample_ratio"):
        assert math.isfinite(summary[key]) and summary[key] > 0
    assert summary["target"] == 0.95
    assert isinstance(summary["met"], bool)


def test_sde_bench_quick_prints_json_summary():
    records = {r["bench"]: r for r in run_quick("sde.py", "--threads", "1")}
    assert set(records) == {"sde_langevin", "sde_diffusion", "summary"}
    for name in ("sde_langevin", "sde_diffusion"):
        assert math.isfinite(records[name]["ratio"]) and records[name]["ratio"] > 0
        # same noise in the same order: the hand-written loop and genmatch agree
        assert records[name]["max_abs_diff"] < 1e-5
    assert records["summary"]["target"] == 0.95


def test_discrete_bench_quick_runs_against_flow_matching():
    record = run_quick("discrete.py")[-1]
    results = record["results"]
    rows = [k for k in results if k.count(" / ") == 2]
    samplers = {k.split(" / ")[1] for k in rows}
    assert {"genmatch euler", "genmatch tau-leaping", "flow_matching euler"} <= samplers
    assert all(math.isfinite(results[k]["pair_tv"]) for k in rows)


def test_manifold_likelihood_bench_quick():
    records = run_quick("manifold_likelihood.py", "--threads", "1")
    assert [(r["bench"], r["frames"]) for r in records] == [
        (bench, n) for n in (1, 2) for bench in ("divergence", "power_vs_product", "log_likelihood")
    ]
    for r in records:
        for key, value in r.items():
            if isinstance(value, float):
                assert math.isfinite(value), (r, key)
        assert r["speedup"] > 0
    for r in records:
        if r["bench"] == "log_likelihood":
            assert r["probe_std"] > 0  # a real estimate, not the exact trace
        if r["bench"] == "power_vs_product":
            assert r["max_abs_diff"] < 1e-3  # the same states and probes, two representations


def test_graphs_bench_quick_prints_the_table(tmp_path):
    records = run_quick("graphs.py", "--out", str(tmp_path))
    rows = {r["row"]: r for r in records}
    expected = {"floor", "summary"} | {
        f"{s}/nfe{n}" for s in ("plain", "predictor-corrector") for n in (2, 4)
    }
    assert set(rows) == expected
    for name in expected - {"summary"}:
        for key in ("degree", "clustering", "spectral"):
            assert math.isfinite(rows[name][key]) and rows[name][key] > -1e-3
        for key in ("validity", "uniqueness", "novelty", "vun"):
            assert 0 <= rows[name][key] <= 1
    assert rows["floor"]["validity"] == 1.0  # training graphs are valid planar graphs
    assert rows["summary"]["train_seconds_per_step"] > 0


def test_graphs_bench_quick_with_positions(tmp_path):
    records = run_quick("graphs.py", "--family", "sbm", "--positions", "--out", str(tmp_path))
    rows = {r["row"]: r for r in records}
    assert rows["summary"]["positions"] is True
    for name in set(rows) - {"summary"}:
        assert set(rows[name]["positions"]) == {"positions", "edge_lengths"}
        assert all(math.isfinite(v) for v in rows[name]["positions"].values())


def test_training_bench_quick_prints_json_lines():
    records = run_quick("training.py", "--variants", "fp32,ddp1,ddp2")
    runs = [r for r in records if r["bench"] == "training"]
    assert sorted(r["variant"] for r in runs) == ["ddp1", "ddp2", "fp32"]
    for r in runs:
        assert math.isfinite(r["steps_per_s"]) and r["steps_per_s"] > 0
        assert r["peak_mb"] > 0
    summary = records[-1]
    assert summary["bench"] == "summary" and summary["ratios"]["ddp2/ddp1"] > 0
