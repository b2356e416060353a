"""TOML configs and the `genmatch train` / `genmatch sample` command line."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from genmatch.cli import main
from genmatch.training import Precision, load_checkpoint
from genmatch.training.config import ConfigError, DataSet, TrainConfig, load_config, parse_config
from genmatch.training.experiment import run_training

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "configs").glob("*.toml"))


def _tiny(out):
    return [
        "run.steps=4",
        "run.check_every=2",
        "run.checkpoint_every=2",
        "optim.warmup_steps=1",
        "data.size=300",
        "sample.num_samples=64",
        "sample.steps=4",
        f'log.out="{out}"',
        "log.progress=false",
        "model.hidden=16",
        "run.batch_size=16",
    ]


def test_configs_are_shipped():
    assert len(CONFIGS) >= 2


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_loads_and_trains_a_few_steps(path, tmp_path):
    config = load_config(path, _tiny(tmp_path))
    assert config.run.steps == 4 and config.log.out == str(tmp_path)
    metrics = run_training(config)
    assert metrics["train_steps"] == 4
    assert {"checkpoint.pt", "log.csv", "metrics.json", "samples.pt"} <= {
        p.name for p in tmp_path.iterdir()
    }
    assert torch.load(tmp_path / "samples.pt", weights_only=True).shape == (64, 2)
    rows = (tmp_path / "log.csv").read_text().splitlines()
    assert rows[0] == "step,loss,lr,steps_per_second" and [r.split(",")[0] for r in rows[1:]] == [
        "2",
        "4",
    ]
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    assert state["metadata"]["config"] == config.to_dict()
    # the CLI samples the checkpoint back (EMA weights by default)
    out = tmp_path / "again"
    assert (
        main(["sample", str(tmp_path / "checkpoint.pt"), "--num-samples", "32", "--out", str(out)])
        == 0
    )
    again = json.loads((out / "metrics.json").read_text())
    assert again["num_samples"] == 32 and again["weights"] == (
        "ema" if config.ema.enabled else "raw"
    )


def test_defaults_and_overrides():
    config = parse_config({}, ["run.precision=bf16", "data.name=spirals", "optim.lr=3e-4"])
    assert config.run.precision is Precision.BF16 and config.data.name is DataSet.SPIRALS
    assert config.optim.lr == 3e-4 and config.run.steps == TrainConfig().run.steps


@pytest.mark.parametrize(
    ("raw", "overrides", "message"),
    [
        ({"run": {"stepz": 3}}, [], r"unknown key\(s\) run.stepz"),
        ({"runs": {}}, [], r"unknown key\(s\) runs"),
        ({"run": {"steps": "ten"}}, [], "run.steps must be an integer, got 'ten'"),
        ({"run": {"steps": 0}}, [], "run.steps must be >= 1, got 0"),
        ({"run": {"batch_size": -4}}, [], "run.batch_size must be >= 1, got -4"),
        ({"run": {"compile": 1}}, [], "run.compile must be true or false"),
        ({"run": {"precision": "fp8"}}, [], r"run.precision must be one of \['fp32'"),
        ({"optim": {"lr": -1.0}}, [], r"optim.lr must be a finite number in \[0.0, inf\]"),
        ({"optim": {"lr": 0}}, [], "optim.lr must be > 0"),
        ({"ema": {"decay": 1.0}}, [], "ema.decay must be < 1"),
        ({"data": {"name": "mnist"}}, [], "data.name must be one of"),
        ({"run": 3}, [], "run must be a table"),
        ({}, ["steps=3"], "--set expects section.key=value"),
        ({}, ["run.steps"], "--set expects section.key=value"),
        ({}, ["run.steps=abc"], "run.steps must be an integer, got 'abc'"),
    ],
)
def test_bad_configs_name_the_key(raw, overrides, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(raw, overrides)


def test_cli_errors_name_the_file_and_key(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[run]\nsteps = 10\nlearning_rate = 1\n")
    with pytest.raises(SystemExit) as info:
        main(["train", str(bad)])
    assert info.value.code == 2
    assert "bad.toml: unknown key(s) run.learning_rate" in capsys.readouterr().err
    broken = tmp_path / "broken.toml"
    broken.write_text("[run\n")
    with pytest.raises(ConfigError, match="broken.toml is not valid TOML"):
        load_config(broken)
    with pytest.raises(SystemExit):
        main(["sample", str(tmp_path / "missing.pt")])
    assert "missing.pt does not exist" in capsys.readouterr().err


def test_tensorboard_logs(tmp_path):
    pytest.importorskip("tensorboard")
    run_training(load_config(CONFIGS[0], [*_tiny(tmp_path), "log.tensorboard=true"]))
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))


def test_torchrun_two_processes_runs_the_cli(tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        "genmatch",
        "train",
        str(ROOT / "configs" / "checkerboard.toml"),
        *[f"--set={s}" for s in _tiny(tmp_path)],
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert load_checkpoint(tmp_path / "checkpoint.pt")["step"] == 4
    assert json.loads((tmp_path / "metrics.json").read_text())["train_steps"] == 4
