"""Training checkpoints: atomic writes, stale temporary files, readable errors."""

from __future__ import annotations

import os
import pickle
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch

#: The ``"format"`` entry of every checkpoint :func:`~genmatch.training.train` writes.
CHECKPOINT_FORMAT = "genmatch-train"
#: The version of that format; a checkpoint of another version is refused.
CHECKPOINT_VERSION = 2


#: The run settings a resumed run must share with its checkpoint, unless overridden.
OVERRIDABLE = frozenset(
    {"seed", "lr", "batch_size", "micro_batches", "lr_schedule", "clip_grad_norm", "precision"}
)


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be used: unreadable, truncated, foreign, or written by a
    run whose settings differ from the resuming one. The message names the file."""


def _temp_prefix(path: Path) -> str:
    return f".{path.name}."


def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> None:
    """Write ``state`` with ``torch.save`` atomically: a temporary file, then a rename.

    The temporary file lives next to ``path`` (``.{name}.XXXX.tmp``), is flushed and
    ``fsync``-ed before ``os.replace`` moves it over ``path``, and the folder is ``fsync``-ed
    after the rename, so a crash at any moment leaves either the previous checkpoint or the
    new one, never a partial file under ``path``. A crash mid-write can leave the temporary
    file behind; :func:`remove_stale_temporaries` deletes it.

    Args:
        path: the checkpoint file.
        state: what ``torch.save`` writes (tensors, dicts, lists, numbers, strings).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_temp_prefix(path), suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable (POSIX)
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def remove_stale_temporaries(path: str | os.PathLike[str]) -> list[Path]:
    """Delete the temporary files that interrupted :func:`save_checkpoint` calls for ``path``
    left behind (``.{name}.*.tmp`` next to it); the removed paths.

    Only call it while no other process writes ``path`` (the training loop calls it once at
    start, on the writing rank).
    """
    path = Path(path)
    if not path.parent.is_dir():
        return []
    removed = []
    for tmp in path.parent.glob(f"{_temp_prefix(path)}*.tmp"):
        try:
            tmp.unlink()
        except FileNotFoundError:  # pragma: no cover - removed concurrently
            continue
        removed.append(tmp)
    return removed


def load_checkpoint(
    path: str | os.PathLike[str], map_location: torch.device | str | None = None
) -> dict[str, Any]:
    """Read a checkpoint written by :func:`~genmatch.training.train`.

    It is loaded with ``torch.load(weights_only=True)`` (no arbitrary pickled objects) and
    must carry ``format == "genmatch-train"`` and the current version.

    Args:
        path: the checkpoint file.
        map_location: where to load its tensors.

    Returns:
        The checkpoint's dict.

    Raises:
        CheckpointError: naming ``path`` if it is missing, unreadable, truncated, not a
            torch file, or not a genmatch training checkpoint of this version.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist or is not a file")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except (
        RuntimeError,
        EOFError,
        OSError,
        ValueError,
        pickle.UnpicklingError,
        zipfile.BadZipFile,
    ) as e:
        raise CheckpointError(
            f"checkpoint {path} cannot be read (truncated, corrupt or not written by "
            f"torch.save): {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        ) from e
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{path} is not a genmatch training checkpoint (no format={CHECKPOINT_FORMAT!r} "
            "entry); pass a checkpoint written by genmatch.train, or another path"
        )
    if state.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"checkpoint {path} has format version {state.get('version')!r}, this genmatch "
            f"reads version {CHECKPOINT_VERSION}"
        )
    return state


def check_same_run(
    path: str | os.PathLike[str], saved: dict[str, Any], run: dict[str, Any], allowed: set[str]
) -> None:
    """Raise :class:`CheckpointError` unless the settings ``run`` of a resuming run equal the
    checkpoint's ``saved`` ones, except for the names in ``allowed``."""
    changed = sorted(k for k in run if saved.get(k) != run[k])
    refused = [k for k in changed if k not in allowed]
    if not refused:
        return
    lines = "; ".join(f"{k}: checkpoint {saved.get(k)!r}, now {run[k]!r}" for k in refused)
    fixable = [k for k in refused if k in OVERRIDABLE]
    hint = (
        f"pass resume_overrides={fixable!r} to continue with the new values, or " if fixable else ""
    )
    raise CheckpointError(
        f"checkpoint {path} was written by a run with other settings ({lines}); {hint}"
        "use another checkpoint path to start afresh"
    )
