"""Smoke test of examples/image_caption.py: a short run end to end, and a seeded ordering (the
trained model beats the source on every metric)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("sklearn")
ROOT = Path(__file__).resolve().parents[1]


def _load():
    spec = importlib.util.spec_from_file_location(
        "image_caption", ROOT / "examples" / "image_caption.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["image_caption"] = module
    spec.loader.exec_module(module)
    return module


example = _load()


def test_captions_round_trip_and_name_their_digit():
    tokens = example.encode(["seven thick", "one thin"])
    assert tokens.shape == (2, example.LENGTH)
    assert example.decode(tokens) == ["seven thick", "one thin"]
    masked = example.masked_captions(1)
    assert example.decode(masked) == ["?" * example.LENGTH]
    assert example.caption_labels(torch.cat([tokens, masked])).tolist() == [7, 1, -1]


def test_data_split_is_seeded_and_captions_match_labels():
    a, b = example.load_digits(0), example.load_digits(0)
    assert torch.equal(a.test_images, b.test_images)
    assert a.train_images.shape == (1438, 64) and a.test_images.shape == (359, 64)
    assert float(a.train_images.min()) == -1.0 and float(a.train_images.max()) == 1.0
    assert torch.equal(example.caption_labels(a.test_captions), a.test_labels)
    thick = [s.endswith("thick") for s in example.decode(a.train_captions)]
    assert 0.45 < sum(thick) / len(thick) < 0.55  # split at each digit's median ink
    assert not torch.equal(example.load_digits(1).test_images, a.test_images)


def test_short_run_beats_the_source_on_every_metric(tmp_path):
    metrics = example.main(
        [
            "--steps", "300", "--hidden", "256", "--depth", "2", "--sample-steps", "12",
            "--classifier-steps", "200", "--out", str(tmp_path),
        ]
    )  # fmt: skip
    assert (tmp_path / "samples.png").stat().st_size > 10_000
    assert json.loads((tmp_path / "metrics.json").read_text())["steps"] == 300
    assert metrics["classifier_held_out_accuracy"] > 0.9
    model, source, floor = metrics["model"], metrics["source"], metrics["floor"]
    joint = model["joint"]
    assert joint["agreement"] > source["agreement"] + 0.05
    assert floor["frechet"] < joint["frechet"] < source["frechet"] / 5
    assert joint["energy"] < source["energy"] / 5
    assert set(model["image_given_caption"]) == {"w=0", "w=1", "w=3"}
    for scores in model["image_given_caption"].values():
        assert scores["accuracy"] > source["accuracy"] + 0.3
        assert scores["frechet"] < source["frechet"] / 5
    given = model["caption_given_image"]
    assert given["digit_accuracy"] > source["digit_accuracy"] + 0.1
    assert given["caption_accuracy"] > source["caption_accuracy"]
