"""Smoke test of ``bench/manifold_likelihood.py``: it runs quickly and prints JSON lines."""

import json
import math
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "manifold_likelihood.py"


def test_manifold_likelihood_bench_quick():
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--threads", "1"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
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
