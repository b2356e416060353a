"""The command line and output shared by the parts of ``bench/peers.py``.

Every part prints its records as JSON lines and, with ``--out FILE``, appends them to
``FILE`` one by one (flushed), so a long run keeps what it has measured and runs for
different seeds can share a file.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from pathlib import Path


def parser(doc: str | None) -> argparse.ArgumentParser:
    """An argument parser with the options every part takes: ``--seeds``, ``--quick``, ``--out``."""
    p = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
    p.add_argument("--out", type=Path, help="also append the records to this .jsonl file")
    return p


def emit(records: Iterable[dict], out: Path | None) -> list[dict]:
    """Print each record as a JSON line (and append it to ``out``); return them all."""
    kept = []
    sink = None
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        sink = out.open("a")
    try:
        for record in records:
            line = json.dumps(record)
            print(line, flush=True)
            if sink is not None:
                sink.write(line + "\n")
                sink.flush()
            kept.append(record)
    finally:
        if sink is not None:
            sink.close()
    return kept
