"""Typed, validated training configurations read from TOML files.

A configuration is a tree of frozen dataclasses, one per TOML table. :func:`parse_config`
checks every key and value against it (unknown keys and values of the wrong type or range
are errors naming the key, e.g. ``run.steps``) and applies ``--set key=value`` overrides
first. The choices (data set, schedule, solver, precision) are enums; the objects they stand
for are built by explicit constructors in :mod:`genmatch.training.experiment`.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import sys
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, final

from genmatch.training.precision import Precision

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    try:
        import tomli as tomllib
    except ImportError:
        tomllib = None  # type: ignore[assignment]


class ConfigError(ValueError):
    """An invalid configuration; the message names the key (``section.key``)."""


class DataSet(enum.Enum):
    """The packaged 2-D toy data sets of :mod:`genmatch.data`."""

    CHECKERBOARD = "checkerboard"
    EIGHT_GAUSSIANS = "eight_gaussians"
    TWO_MOONS = "two_moons"
    SPIRALS = "spirals"


class ScheduleName(enum.Enum):
    """The affine Gaussian path's schedule."""

    COND_OT = "cond_ot"
    COSINE = "cosine"


class SolverName(enum.Enum):
    """The ODE method used for sampling."""

    EULER = "euler"
    MIDPOINT = "midpoint"
    HEUN = "heun"
    RK4 = "rk4"


@final
@dataclass(frozen=True)
class RunConfig:
    """``[run]``: the loop (see :func:`~genmatch.training.train` for each setting)."""

    steps: int = 2000
    batch_size: int = 256
    seed: int = 0
    micro_batches: int = 1
    check_every: int = 50
    checkpoint_every: int = 500
    precision: Precision = Precision.FP32
    compile: bool = False
    device: str = "auto"


@final
@dataclass(frozen=True)
class OptimConfig:
    """``[optim]``: Adam, its learning rate, clipping and the warm-up + cosine schedule."""

    lr: float = 1e-3
    clip_grad_norm: float = 0.0
    warmup_steps: int = 0
    cosine: bool = True
    final_lr_ratio: float = 0.1


@final
@dataclass(frozen=True)
class EMAConfig:
    """``[ema]``: the weight average used for sampling (``enabled = false`` samples the raw
    weights)."""

    enabled: bool = True
    decay: float = 0.999
    warmup: float = 1.0


@final
@dataclass(frozen=True)
class DataConfig:
    """``[data]``: a toy data set of ``size`` points."""

    name: DataSet = DataSet.CHECKERBOARD
    size: int = 100_000


@final
@dataclass(frozen=True)
class ModelConfig:
    """``[model]``: a flow on ``R^2`` (affine Gaussian path, velocity MLP)."""

    schedule: ScheduleName = ScheduleName.COND_OT
    hidden: int = 256
    depth: int = 3


@final
@dataclass(frozen=True)
class SampleConfig:
    """``[sample]``: what is simulated and scored at the end (and by ``genmatch sample``)."""

    num_samples: int = 4000
    steps: int = 25
    solver: SolverName = SolverName.RK4


@final
@dataclass(frozen=True)
class LogConfig:
    """``[log]``: outputs (a CSV log always; TensorBoard needs the ``tensorboard`` extra)."""

    out: str = "outputs/train"
    progress: bool = True
    tensorboard: bool = False


@final
@dataclass(frozen=True)
class TrainConfig:
    """A whole training configuration: one field per TOML table."""

    run: RunConfig = field(default_factory=RunConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    ema: EMAConfig = field(default_factory=EMAConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)
    log: LogConfig = field(default_factory=LogConfig)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """The configuration as plain TOML-like values (enums by value)."""
        return {
            f.name: {
                k: v.value if isinstance(v, enum.Enum) else v
                for k, v in dataclasses.asdict(getattr(self, f.name)).items()
            }
            for f in dataclasses.fields(self)
        }


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> TrainConfig:
    """Read a TOML configuration file, apply ``key=value`` overrides, validate it.

    Args:
        path: a ``.toml`` file.
        overrides: ``"section.key=value"`` strings; the value is read as a TOML value
            (``run.steps=10``, ``optim.lr=3e-4``, ``data.name="spirals"``; a bare word is a
            string).

    Raises:
        ConfigError: naming the file and the offending key.
    """
    if tomllib is None:  # pragma: no cover - Python 3.10 without tomli
        raise ConfigError("reading TOML configs on Python 3.10 needs `pip install tomli`")
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except OSError as e:
        raise ConfigError(f"cannot read config {path}: {e}") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config {path} is not valid TOML: {e}") from e
    try:
        return parse_config(raw, overrides)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None


def parse_config(raw: Mapping[str, Any], overrides: Sequence[str] = ()) -> TrainConfig:
    """Validate a parsed TOML mapping (after ``overrides``) into a :class:`TrainConfig`."""
    tree: dict[str, Any] = {k: dict(v) if isinstance(v, Mapping) else v for k, v in raw.items()}
    for item in overrides:
        key, sep, text = item.partition("=")
        parts = key.strip().split(".")
        if not sep or len(parts) != 2 or not all(parts):
            raise ConfigError(f"--set expects section.key=value, got {item!r}")
        tree.setdefault(parts[0], {})
        if not isinstance(tree[parts[0]], dict):
            raise ConfigError(f"{parts[0]} must be a table")
        tree[parts[0]][parts[1]] = _toml_value(text.strip())
    return _build(TrainConfig, tree, "")


def _toml_value(text: str) -> Any:
    assert tomllib is not None
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text  # a bare word: a string


def _build(kind: type, values: object, where: str) -> Any:
    if not isinstance(values, Mapping):
        raise ConfigError(f"{where.rstrip('.') or 'the config'} must be a table, got {values!r}")
    hints = typing.get_type_hints(kind)
    known = {f.name for f in dataclasses.fields(kind)}
    unknown = sorted(set(values) - known)
    if unknown:
        names = ", ".join(f"{where}{k}" for k in unknown)
        raise ConfigError(f"unknown key(s) {names}; known keys: {sorted(known)}")
    out = {}
    for name, value in values.items():
        key = f"{where}{name}"
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            out[name] = _build(hint, value, f"{key}.")  # type: ignore[arg-type]
        else:
            out[name] = _value(hint, value, key)
    return kind(**out)


def _value(hint: Any, value: object, key: str) -> Any:
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        choices = [m.value for m in hint]
        if value not in choices:
            raise ConfigError(f"{key} must be one of {choices}, got {value!r}")
        return hint(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key} must be an integer, got {value!r}")
        if value < 0 or (value == 0 and key not in _ZERO_OK):
            raise ConfigError(f"{key} must be {'>= 0' if key in _ZERO_OK else '>= 1'}, got {value}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key} must be a number, got {value!r}")
        low, high = _FLOAT_RANGES.get(key, (0.0, math.inf))
        if not (math.isfinite(value) and low <= value <= high):
            raise ConfigError(f"{key} must be a finite number in [{low}, {high}], got {value}")
        if key in _BELOW_ONE and value >= 1:
            raise ConfigError(f"{key} must be < 1, got {value}")
        if key in _POSITIVE and value == 0:
            raise ConfigError(f"{key} must be > 0, got {value}")
        return float(value)
    if hint is str:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{key} must be a non-empty string, got {value!r}")
        return value
    raise AssertionError(f"unhandled config type {hint!r}")  # pragma: no cover


_ZERO_OK = {"run.seed", "optim.warmup_steps"}
_POSITIVE = {"optim.lr"}
_BELOW_ONE = {"ema.decay"}
_FLOAT_RANGES = {"ema.decay": (0.0, 1.0), "optim.final_lr_ratio": (0.0, 1.0)}
