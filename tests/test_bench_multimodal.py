"""Smoke test of bench/multimodal.py: ``--quick`` runs the image + caption and the protein
comparisons end to end and prints one JSON record each, with the joint and the unimodal
models scored the same way (it asserts nothing about which model wins at these tiny sizes,
only what a record holds)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sklearn")
SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "multimodal.py"


def _tree_finite(tree) -> bool:
    if isinstance(tree, dict):
        return all(_tree_finite(v) for v in tree.values())
    return not isinstance(tree, float) or math.isfinite(tree)


def test_bench_quick_prints_both_models_of_both_benchmarks(tmp_path):
    out = tmp_path / "records.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--steps", "60", "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 2 and json.loads(out.read_text()) == lines
    record, protein = lines
    assert protein["bench"] == "protein" and protein["steps"] == 60
    assert protein["settings"]["batch_size"] == 64 and protein["settings"]["structure"] == "frames"
    assert _tree_finite(protein) and set(protein["cost"]["seconds_per_step"]) == {
        "joint", "structure_only", "sequence_only"
    }  # fmt: skip
    assert set(protein["separate"]) == {"unconditional", "inverse_folding", "folding"}
    assert record["bench"] == "image_caption" and record["steps"] == 60
    for model in ("joint_model", "unimodal_baseline"):
        scores = record[model]
        assert set(scores["image_given_caption"]) == {"w=0", "w=1", "w=3"}
        values = [
            *scores["joint"].values(),
            *scores["caption_given_image"].values(),
            *(v for s in scores["image_given_caption"].values() for v in s.values()),
        ]
        assert all(math.isfinite(v) for v in values)
        cost = scores["train_cost"]
        parts = [v for k, v in cost.items() if k != "total_seconds"]
        assert all(p["seconds"] > 0 and p["parameters"] > 0 for p in parts)
        assert cost["total_seconds"] == pytest.approx(sum(p["seconds"] for p in parts))
    assert set(record["unimodal_baseline"]["train_cost"]) == {
        "image_flow", "caption_classifier", "total_seconds"
    }  # fmt: skip
