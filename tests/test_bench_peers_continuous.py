"""Smoke test of ``bench/peers_continuous.py --quick``: the records' format, and the checks
that hold at any size (the three independent trainings see the same batches and draws)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "peers_continuous.py"
KEYS = {"part", "workload", "library", "variant", "seed", "nfe", "metric", "value"}


def test_peers_continuous_quick_prints_records(tmp_path):
    out = tmp_path / "continuous.jsonl"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--seeds", "0", "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert [json.loads(line) for line in out.read_text().splitlines()] == records
    for r in records:
        assert set(r) == KEYS and r["part"] == "continuous" and r["workload"] == "checkerboard"
        assert math.isfinite(r["value"]) and r["value"] > 0, r
    value = {(r["library"], r["variant"], r["metric"]): r["value"] for r in records}
    for method in ("euler", "midpoint"):
        for variant in ("independent", "independent-ema0.9", "block16", "block16-ema0.99"):
            assert ("genmatch", f"{variant}-{method}", "energy") in value
            assert ("genmatch", f"{variant}-euler-late2", "energy") in value
        # same weights, batches, times and the same loss: the same network, the same samples
        fm = value["flow_matching", f"independent-{method}", "energy"]
        assert value["genmatch", f"independent-{method}", "energy"] == fm
        assert value["torchcfm", f"independent-{method}", "energy"] == fm
    for name in (("genmatch", "block16"), ("genmatch", "exact"), ("torchcfm", "exact-ot")):
        assert (*name[:1], f"{name[1]}-batch64", "step_cost_ratio") in value
    assert all(r["nfe"] == 8 for r in records if r["metric"] == "energy")
