"""Shared by the smoke tests of the parts of ``bench/peers.py``."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
FIELDS = {"part", "workload", "library", "variant", "seed", "nfe", "metric", "value"}


@pytest.fixture
def run_part(tmp_path: Path) -> Callable[..., list[dict]]:
    """Run ``bench/peers_<part>.py --quick --out F *args``; check its exit status, that every
    record has the shared fields and the part's name, and that ``F`` holds the printed records;
    return them."""

    def run(part: str, *args: str) -> list[dict]:
        out = tmp_path / f"{part}.jsonl"
        proc = subprocess.run(
            [sys.executable, str(BENCH / f"peers_{part}.py"), "--quick", "--out", str(out), *args],
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stderr
        records = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
        assert records and all(set(r) == FIELDS and r["part"] == part for r in records)
        assert [json.loads(line) for line in out.read_text().splitlines()] == records
        return records

    return run
