"""Smoke tests: the manifold examples run a few steps on CPU and write their outputs."""

import importlib.util
import json
import math
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _common(metrics, out, figure):
    assert (out / figure).stat().st_size > 0
    assert json.loads((out / "metrics.json").read_text()) == metrics
    assert all(math.isfinite(v) for v in metrics.values())


def test_sphere_example(tmp_path):
    metrics = _load("sphere").main(
        ["--steps", "5", "--num-samples", "100", "--sample-steps", "2", "--out", str(tmp_path)]
    )
    _common(metrics, tmp_path, "sphere.png")
    # even untrained, the oracle on the training points is far closer to the data than noise
    assert metrics["mmd_oracle_500"] < metrics["mmd_source"]


def test_torus_dihedrals_example(tmp_path):
    module = _load("torus_dihedrals")
    angles = module.load_dihedrals()
    assert angles.shape[0] > 2000 and angles.abs().max() <= math.pi
    # α-helix region (φ ≈ −63°, ψ ≈ −43°) is the most populated in real proteins
    helix = ((angles[:, 0] + 1.1).abs() < 0.4) & ((angles[:, 1] + 0.75).abs() < 0.4)
    assert helix.float().mean() > 0.2
    metrics = module.main(["--steps", "5", "--sample-steps", "2", "--out", str(tmp_path)])
    _common(metrics, tmp_path, "ramachandran.png")


def test_so3_example(tmp_path):
    module = _load("so3")
    group = module.tetrahedral_group()
    # a group: closed under products (every product is one of the 12 elements)
    prods = (group[:, None] @ group[None]).reshape(-1, 1, 3, 3)
    assert ((prods - group[None]).abs().amax((-1, -2)).min(1).values < 1e-5).all()
    metrics = module.main(
        ["--steps", "5", "--num-samples", "100", "--sample-steps", "2", "--out", str(tmp_path)]
    )
    _common(metrics, tmp_path, "so3.png")
