"""Smoke test of ``bench/riemannian.py``: it runs quickly and prints JSON lines and tables."""

import json
import math
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "riemannian.py"


def test_riemannian_bench_quick():
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--threads", "1"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    kinds = {r["bench"] for r in records}
    assert kinds == {"train", "sample", "floor", "solver_error"}
    assert {r["library"] for r in records if r["bench"] == "train"} == {"genmatch", "flow_matching"}
    assert len([r for r in records if r["bench"] == "sample"]) == 12
    for r in records:
        for key, value in r.items():
            if isinstance(value, float):
                assert math.isfinite(value), (r, key)
    # both libraries' solvers have their order on the exact rotation flow
    errors = [r for r in records if r["bench"] == "solver_error" and r["method"] == "rk4"]
    assert errors[-1]["genmatch"] < 1e-6
    assert "empirical order rk4" in proc.stdout
