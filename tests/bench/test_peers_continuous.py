"""Smoke test of ``bench/peers_continuous.py --quick``: the records' format, and the checks
that hold at any size (the three independent trainings see the same batches and draws)."""

from __future__ import annotations

import math


def test_peers_continuous_quick_prints_records(run_part):
    records = run_part("continuous", "--seeds", "0")
    for r in records:
        assert r["workload"] == "checkerboard"
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
