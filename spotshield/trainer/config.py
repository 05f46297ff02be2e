"""Layered trainer configuration: defaults <- model <- strategy <- experiment <- CLI flags.

Every layer is YAML (JSON is YAML, so the merged config the fleet puts in instance
metadata is itself a valid experiment file). Keys and value types are checked against
presets/defaults.yaml, so a typo is an error naming the key and the file, never a
silently ignored setting. No torch import here: the CLI validates before loading torch.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Iterable

from spotshield.errors import SpotShieldError
from spotshield.yamlfile import read_mapping

PRESETS = Path(__file__).parent / "presets"
MODELS = ("tiny-cnn", "resnet18", "resnet50")
DATASETS = ("digits", "cifar100", "synthetic")
DEVICES = ("auto", "cpu", "cuda")
TRISTATE = ("auto", True, False)


@dataclass
class CheckpointConfig:
    """How checkpoints are kept and how the emergency one is bounded."""

    keep: int = 3  # newest committed checkpoints kept; >= 2 so a corrupt newest has a fallback
    emergency_deadline_s: float = 25.0  # GCE gives 30 s notice; leave 5 s for exit and shutdown
    persist_pace_s: float = 0.0  # minimum persist time: emulates a slow store (demo, tests)
    emergency: bool = True  # checkpoint on a preemption notice; false gives a no-checkpoint baseline


@dataclass
class TrainConfig:
    """One training run. Field meanings are documented in presets/defaults.yaml."""

    store: str
    run_id: str
    seed: int = 0
    model: str = "tiny-cnn"
    data: str = "digits"
    data_dir: str = "~/.cache/spotshield/data"
    download: bool = True
    limit_train: int = 0
    limit_val: int = 0
    synthetic_size: int = 2048
    epochs: int = 10
    batch_size: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    augment: bool = False
    device: str = "auto"
    amp: Any = "auto"
    num_threads: int = 0
    pace_step_s: float = 0.0
    log_every_s: float = 5.0
    health_port: int = 8080
    stall_timeout_s: float = 300.0
    metadata_watch: Any = "auto"
    strategy: str = "adaptive"
    strategies: dict = field(default_factory=dict)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)

    @property
    def strategy_params(self) -> dict:
        return dict(self.strategies.get(self.strategy) or {})

    def to_dict(self) -> dict:
        out = {f.name: copy.deepcopy(getattr(self, f.name)) for f in fields(self)}
        out["checkpoint"] = {f.name: getattr(self.checkpoint, f.name) for f in fields(CheckpointConfig)}
        return out


def _defaults() -> dict:
    return read_mapping(PRESETS / "defaults.yaml", "preset")


def _check_types(layer: dict, schema: dict, source: str, prefix: str = "") -> None:
    """Every key must exist in the defaults, with a compatible type."""
    for key, value in layer.items():
        name = f"{prefix}{key}"
        if key not in schema:
            if prefix == "strategies." and isinstance(value, dict):
                raise SpotShieldError(f"unknown strategy {key!r} under 'strategies' in {source}")
            if prefix.startswith("strategies."):
                continue  # strategy params are checked by the strategy itself (make())
            raise SpotShieldError(f"unknown config key {name!r} in {source}")
        default = schema[key]
        if isinstance(default, dict):
            if value is None:
                continue
            if not isinstance(value, dict):
                raise SpotShieldError(f"config key {name!r} in {source} must be a mapping")
            _check_types(value, default, source, name + ".")
            continue
        if default is None or value is None:
            if value is not None and not isinstance(value, str):
                raise SpotShieldError(f"config key {name!r} in {source} must be a string")
            continue
        if key in ("amp", "metadata_watch"):
            if value not in TRISTATE:
                raise SpotShieldError(f"config key {name!r} in {source} must be auto, true or false, not {value!r}")
            continue
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(default, float):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        else:
            ok = isinstance(value, str)
        if not ok:
            raise SpotShieldError(
                f"config key {name!r} in {source} must be {type(default).__name__}, not {value!r}"
            )


def _merge(base: dict, layer: dict) -> dict:
    out = dict(base)
    for key, value in layer.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _unflatten(overrides: dict) -> dict:
    """{'checkpoint.keep': 2} -> {'checkpoint': {'keep': 2}}; None values mean 'not given'."""
    out: dict = {}
    for key, value in overrides.items():
        if value is None:
            continue
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


def default_run_id(store: str) -> str:
    """The last path component of the store URL: stable across restarts of the same run."""
    tail = store.rstrip("/").rsplit("/", 1)[-1]
    return tail or "run"


def load_config(files: Iterable[str | Path] = (), overrides: dict | None = None) -> TrainConfig:
    """Merge the layers and validate. `overrides` keys may be dotted ('checkpoint.keep')."""
    defaults = _defaults()
    experiment: dict = {}
    for f in files or ():
        layer = read_mapping(Path(f), "config file")
        _check_types(layer, defaults, str(f))
        experiment = _merge(experiment, layer)
    cli = _unflatten(overrides or {})
    _check_types(cli, defaults, "command-line flags")

    # The model and strategy layers are chosen by the layers above them.
    chosen = _merge(_merge(defaults, experiment), cli)
    model, strategy = chosen["model"], chosen["strategy"]
    if model not in MODELS:
        raise SpotShieldError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
    from spotshield.trainer.strategies import NAMES  # no torch: strategies are pure Python

    if strategy not in NAMES:
        raise SpotShieldError(f"unknown strategy {strategy!r}; choose one of {', '.join(NAMES)}")
    merged = defaults
    for preset in (PRESETS / "models" / f"{model}.yaml", PRESETS / "strategies" / f"{strategy}.yaml"):
        if preset.exists():
            layer = read_mapping(preset, "preset")
            _check_types(layer, defaults, str(preset))
            merged = _merge(merged, layer)
    merged = _merge(_merge(merged, experiment), cli)
    # A preset that names a strategy must not override the user's choice.
    merged["strategy"], merged["model"] = strategy, model
    return _build(merged)


def _build(d: dict) -> TrainConfig:
    if not d.get("store"):
        raise SpotShieldError("no store given; pass --store file:///path or gs://bucket/prefix")
    if d["data"] not in DATASETS:
        raise SpotShieldError(f"unknown data {d['data']!r}; choose one of {', '.join(DATASETS)}")
    if d["device"] not in DEVICES:
        raise SpotShieldError(f"unknown device {d['device']!r}; choose one of {', '.join(DEVICES)}")
    ck = d.pop("checkpoint")
    d["run_id"] = d.get("run_id") or default_run_id(d["store"])
    cfg = TrainConfig(checkpoint=CheckpointConfig(**ck), **d)
    _check_ranges(cfg)
    return cfg


def _positive(name: str, value: float) -> None:
    if value <= 0:
        raise SpotShieldError(f"{name} must be > 0, not {value}")


def _non_negative(name: str, value: float) -> None:
    if value < 0:
        raise SpotShieldError(f"{name} must be >= 0, not {value}")


def check_checkpoint(ck: CheckpointConfig, prefix: str = "checkpoint.") -> None:
    """Ranges of the checkpoint settings (the trainer's config and the library share them)."""
    for name in ("keep", "emergency_deadline_s", "persist_pace_s"):
        value = getattr(ck, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SpotShieldError(f"{prefix}{name} must be a number, not {value!r}")
    if not isinstance(ck.emergency, bool):
        raise SpotShieldError(f"{prefix}emergency must be true or false, not {ck.emergency!r}")
    _positive(f"{prefix}emergency_deadline_s", ck.emergency_deadline_s)
    _non_negative(f"{prefix}persist_pace_s", ck.persist_pace_s)
    if ck.keep < 2:
        raise SpotShieldError(f"{prefix}keep must be >= 2 (a corrupt newest needs a fallback), not {ck.keep}")


def check_run_id(run_id: str) -> str:
    if not run_id or not all(c.isalnum() or c in "-_." for c in run_id):
        raise SpotShieldError(f"bad run id {run_id!r}: use letters, digits, '-', '_' and '.'")
    return run_id


def _check_ranges(cfg: TrainConfig) -> None:
    positive, non_negative = _positive, _non_negative
    positive("epochs", cfg.epochs)
    positive("batch_size", cfg.batch_size)
    positive("lr", cfg.lr)
    positive("log_every_s", cfg.log_every_s)
    positive("stall_timeout_s", cfg.stall_timeout_s)
    positive("synthetic_size", cfg.synthetic_size)
    check_checkpoint(cfg.checkpoint)
    for name in ("limit_train", "limit_val", "num_threads", "pace_step_s", "weight_decay", "momentum"):
        non_negative(name, getattr(cfg, name))
    if not 0 <= cfg.health_port <= 65535:
        raise SpotShieldError(f"health_port must be 0..65535, not {cfg.health_port}")
    check_run_id(cfg.run_id)
    # Build the strategy once so bad parameters (negative intervals...) fail before torch loads.
    from spotshield.trainer.strategies import make

    make(cfg.strategy, **cfg.strategy_params)
