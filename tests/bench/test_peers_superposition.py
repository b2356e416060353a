"""``bench/peers_superposition.py --quick``: well-formed records for every variant (it asserts
nothing about quality: those numbers live in ``bench/results/superposition.jsonl``)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"

sys.path.insert(0, str(BENCH))

import peers_superposition  # noqa: E402

from genmatch import EuclideanSpace  # noqa: E402


def test_quick_run_prints_and_writes_one_record_per_number(run_part):
    records = run_part("superposition", "--seeds", "3", "--workloads", "moons")
    assert {(r["part"], r["workload"], r["library"], r["seed"]) for r in records} == {
        ("superposition", "moons", "genmatch", 3)
    }
    variants = {r["variant"] for r in records}
    expected = {f"oracle/{v}" for v in peers_superposition.ORACLE_VARIANTS} | {
        f"trained/{v}" for vs in peers_superposition.TRAINED_VARIANTS.values() for v in vs
    }
    assert variants == expected | {"oracle/data-points"}
    energy = {(r["variant"], r["nfe"]) for r in records if r["metric"] == "energy"}
    assert energy == {(v, n) for v in expected for n in (4, 8)} | {("oracle/data-points", None)}
    assert all(math.isfinite(r["value"]) and r["value"] >= 0 for r in records)


def test_variants_build_their_generators():
    flow, _ = peers_superposition.build("flow-midpoint")
    assert flow.nfe_per_step == 2
    model, weighting = peers_superposition.build("jump+flow[switch0.5]-midpoint")
    assert model.nfe_per_step == 2 and weighting is None
    joint, _ = peers_superposition.build("jump[joint-net]")
    assert set(joint.head_shapes(EuclideanSpace(2))) == {"jump_intensity", "jump_logits"}
    with pytest.raises(ValueError, match="unknown variant"):
        peers_superposition.build("jump+flow[nope]")
