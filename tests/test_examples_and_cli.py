"""Smoke tests: every example and the demo run a few steps on CPU."""

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def _load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_flow_2d_example(tmp_path):
    results = _load("flow_2d").main(
        ["--steps", "30", "--num-samples", "200", "--out", str(tmp_path)]
    )
    assert (tmp_path / "metrics.json").exists()
    assert {"independent/RK4/nfe32", "ot/RK4/nfe32", "oracle/RK4/nfe32"} <= set(results)
    # the oracle is exact: far better than a 30-step network
    assert results["oracle/RK4/nfe32"]["sliced_w2"] < results["ot/RK4/nfe32"]["sliced_w2"]


def test_demo_cli(tmp_path):
    out = tmp_path / "demo"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "genmatch",
            "demo",
            "--steps",
            "60",
            "--num-samples",
            "300",
            "--sample-steps",
            "4",
            "--out",
            str(out),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    for key in (
        "energy_distance_model",
        "energy_distance_oracle",
        "train_seconds",
        "train_steps_per_second",
        "nfe",
    ):
        assert key in metrics
    assert metrics["nfe"] == 16 and metrics["train_steps"] == 60
    assert (out / "samples.png").stat().st_size > 10_000
    # quality: the exact oracle is as close to the data as fresh data are (its energy distance
    # is within the floor's noise), and even a 60-step network is within 0.1
    assert metrics["energy_distance_oracle"] < metrics["energy_distance_data_floor"] + 0.02
    assert metrics["energy_distance_model"] < 0.1
    assert metrics["sliced_w2_oracle"] < metrics["sliced_w2_model"]


def test_jump_flow_2d_example(tmp_path):
    results = _load("jump_flow_2d").main(
        ["--steps", "20", "--num-samples", "200", "--nfe", "4", "8", "--out", str(tmp_path)]
    )
    res = results["checkerboard"]
    assert set(res) == {"data_floor", "flow", "jump", "jump+flow"}
    for kind in ("flow", "jump", "jump+flow"):
        assert set(res[kind]["model"]) == {4, 8} and set(res[kind]["oracle"]) == {4, 8}
        # the exact oracle's only error is the discretisation: doubling the NFE at least
        # halves its energy distance to the data
        oracle = res[kind]["oracle"]
        assert oracle[8]["energy_distance"] < 0.5 * oracle[4]["energy_distance"], (kind, oracle)
    assert (tmp_path / "quality_vs_nfe.png").stat().st_size > 10_000


def test_superposition_bench_smoke(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "superposition.py"),
            "--steps",
            "10",
            "--num-samples",
            "100",
            "--nfe",
            "4",
            "--data",
            "two_moons",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 6 and all(line["nfe"] == 4 for line in lines)
    assert "| two_moons | jump+flow (model) |" in proc.stdout


def test_diffusion_2d_example(tmp_path):
    metrics = _load("diffusion_2d").main(
        ["--steps", "100", "--num-samples", "200", "--nfe", "4", "8", "--out", str(tmp_path)]
    )
    assert {p.name for p in tmp_path.iterdir()} >= {
        "metrics.json",
        "samples.png",
        "quality_vs_nfe.png",
    }
    assert set(metrics["samplers"]) == {
        "PF-ODE (β=0)",
        "Langevin β=0.5",
        "Langevin β=1",
        "reverse SDE β_t",
        "DDIM (η=0)",
        "DDPM (η=1)",
    }
    for scores in metrics["samplers"].values():
        assert set(scores) == {4, 8} and all(v == v for v in scores.values())  # no NaN
    # quality: after 100 training steps the ODE and SDE samplers at NFE 8 are much closer to the
    # data than the Gaussian source is (energy distance ≈ 0.65 on the checkerboard)
    from genmatch.metrics import energy_distance

    example = _load("diffusion_2d")
    g = torch.Generator().manual_seed(5)
    fresh = example.DATASETS["checkerboard"](200, generator=g)
    noise = float(energy_distance(torch.randn(200, 2, generator=g), fresh))
    for name in ("PF-ODE (β=0)", "Langevin β=1", "reverse SDE β_t", "DDPM (η=1)"):
        assert metrics["samplers"][name][8] < 0.5 * noise, (name, metrics["samplers"][name])


def test_text_ctmc_example(tmp_path):
    metrics = _load("text_ctmc").main(
        [
            "--steps", "3", "--length", "16", "--batch-size", "8", "--d-model", "16",
            "--layers", "1", "--sample-steps", "8", "--num-samples", "4",
            "--eval-windows", "8", "--out", str(tmp_path),
        ]
    )  # fmt: skip
    assert (tmp_path / "metrics.json").exists() and (tmp_path / "samples.txt").exists()
    assert set(metrics["samplers"]) == {"plain", "predictor-corrector"}
    # an untrained model cannot beat the uniform log2(94) ≈ 6.6 bits per character, and its
    # ELBO is a loose but finite bound
    assert 6.0 < metrics["elbo_bits_per_char"] < 60.0


def test_guidance_2d_example(tmp_path):
    metrics = _load("guidance_2d").main(
        ["--steps", "30", "--batch-size", "128", "--num-samples", "400", "--sample-steps", "8",
         "--out", str(tmp_path)]
    )  # fmt: skip
    assert {p.name for p in tmp_path.iterdir()} >= {"metrics.json", "guidance.png"}
    oracle = [metrics[f"w={w}"]["oracle"]["accuracy"] for w in (0, 1, 3)]
    assert oracle[0] < oracle[1] <= oracle[2]  # guidance trades diversity for accuracy
    spread = [metrics[f"w={w}"]["oracle"]["spread"] for w in (0, 1, 3)]
    assert spread[0] > spread[2]
    exact = metrics["predictor_guidance_oracle"]
    assert abs(exact["accuracy"] - metrics["bayes_rate"]) < 0.06  # exact p(x | k): Bayes rate


def test_guidance_text_example(tmp_path):
    metrics = _load("guidance_text").main(
        ["--steps", "20", "--length", "12", "--d-model", "32", "--layers", "1",
         "--num-samples", "6", "--sample-steps", "12", "--weights", "0", "2",
         "--out", str(tmp_path)]
    )  # fmt: skip
    assert {p.name for p in tmp_path.iterdir()} >= {"metrics.json", "samples.txt", "guidance.png"}
    # the evaluation classifier is far above chance (1/4) on real held-out windows
    assert metrics["classifier_held_out_accuracy"] > 0.5
    for w in ("w=0", "w=2"):
        row = metrics[w]["model"]
        assert 0.0 <= row["accuracy"] <= 1.0 and 0.0 < row["hamming"] <= 1.0
    assert "\u2588" not in (tmp_path / "samples.txt").read_text()  # every position unmasked


def test_multimodal_2d_example(tmp_path):
    metrics = _load("multimodal_2d").main(
        ["--steps", "20", "--batch-size", "64", "--num-samples", "160", "--sample-steps", "4",
         "--out", str(tmp_path)]
    )  # fmt: skip
    assert {p.name for p in tmp_path.iterdir()} >= {"metrics.json", "samples.png"}
    model, oracle = metrics["model"], metrics["oracle"]
    # the exact product oracle (2 000 data points) already matches the exact conditionals;
    # a 20-step network does not yet, and is scored by the same code
    assert oracle["label_given_x"] > 0.85 * oracle["sampling_rate"]
    assert oracle["x_given_label"] > 0.85 * oracle["bayes_rate"]
    assert oracle["x_given_label"] > model["x_given_label"]
    assert 0 <= model["label_given_x_tv"] <= 1 and model["bayes_rate"] > 0.8


def test_graphs_example(tmp_path):
    metrics = _load("graphs").main(
        ["--family", "tree", "--steps", "3", "--num-train", "24", "--num-test", "8",
         "--num-samples", "6", "--nfe", "4", "--hidden", "16", "--layers", "1",
         "--batch-size", "4", "--out", str(tmp_path)]
    )  # fmt: skip
    assert {p.name for p in tmp_path.iterdir()} >= {"metrics.json", "samples.png"}
    assert set(metrics["samplers"]) == {"plain/nfe4", "predictor-corrector/nfe4"}
    # the floor compares valid training trees with held-out ones
    assert metrics["floor"]["validity"] == 1.0 and metrics["train_seconds_per_step"] > 0
    for row in metrics["samplers"].values():
        assert 0 <= row["validity"] <= 1 and row["degree"] > -1e-3


def test_graphs_example_with_positions(tmp_path):
    metrics = _load("graphs").main(
        ["--family", "sbm", "--positions", "--steps", "3", "--num-train", "24",
         "--num-test", "8", "--num-samples", "6", "--nfe", "4", "--hidden", "16",
         "--layers", "1", "--batch-size", "4", "--out", str(tmp_path)]
    )  # fmt: skip
    assert (tmp_path / "samples.png").exists() and metrics["positions"]
    floor = metrics["floor"]
    # the SBM test accepts most training graphs (their own model); 3 training steps leave the
    # positions farther from the held-out ones than the training graphs' are
    assert floor["validity"] > 0.5
    for row in metrics["samplers"].values():
        pos = row["positions"]
        assert math.isfinite(pos["positions"])
        assert pos["positions"] > floor["positions"]["positions"]
    with pytest.raises(SystemExit):
        _load("graphs").main(["--family", "tree", "--positions"])
