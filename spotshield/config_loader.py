"""Load StackSettings with one precedence: CLI > SPOTSHIELD_* env > file > defaults.

The CLI and the environment are merged by Typer itself (every option declares its
envvar=), so the CLI hands us only the values that were given one way or the other
(None means "not given"). Below them come, first found wins:
  spotshield.yaml          in the project root (a `trainer:` section holds trainer overrides)
  [tool.spotshield]        in the project's pyproject.toml
and then the dataclass defaults of StackSettings.
"""
from __future__ import annotations

import dataclasses
import os
import tomllib
from pathlib import Path
from typing import Any

from spotshield.errors import SpotShieldError
from spotshield.settings import StackSettings
from spotshield.yamlfile import read_mapping

STATE_DIR_NAME = ".spotshield"
FILE_NAME = "spotshield.yaml"
_FIELDS = {f.name for f in dataclasses.fields(StackSettings)}
# Keys a file may hold besides the StackSettings fields.
_TRAINER_KEY = "trainer"
LOCAL_DEMO = "local-demo.yaml"  # trainer experiment used by the local backend without --config


def project_root(start: Path | None = None) -> Path:
    """The nearest folder (from cwd up) holding .spotshield, spotshield.yaml or pyproject.toml.

    So that `spotshield status` from any shell inside the repo finds the same stack.
    SPOTSHIELD_ROOT overrides (tests, and users who keep state elsewhere).
    """
    env = os.environ.get("SPOTSHIELD_ROOT")
    if env:
        return Path(env).expanduser().absolute()
    here = (start or Path.cwd()).absolute()
    for d in (here, *here.parents):
        if (d / STATE_DIR_NAME).is_dir() or (d / FILE_NAME).is_file() or (d / "pyproject.toml").is_file():
            return d
    return here


def _read_pyproject(path: Path) -> dict:
    try:
        data = tomllib.loads(path.read_text())
    except OSError as e:
        raise SpotShieldError(f"cannot read {path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise SpotShieldError(f"{path} is not valid TOML ({e}); fix it") from None
    section = data.get("tool", {}).get("spotshield", {})
    if not isinstance(section, dict):
        raise SpotShieldError(f"[tool.spotshield] in {path} must be a table")
    return section


def file_settings(root: Path | None = None) -> tuple[dict, Path | None]:
    """The settings file's values and where they came from (spotshield.yaml wins over pyproject)."""
    root = root or project_root()
    yml = root / FILE_NAME
    if yml.is_file():
        return read_mapping(yml, "settings file"), yml
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        section = _read_pyproject(pyproject)
        if section:
            return section, pyproject
    return {}, None


def _normalise(key: str, value: Any, source: str) -> Any:
    if key == "zones":
        if isinstance(value, str):
            value = [z.strip() for z in value.split(",") if z.strip()]
        if not isinstance(value, list) or not all(isinstance(z, str) for z in value):
            raise SpotShieldError(f"zones in {source} must be a list or comma-separated string of zones")
    if key == "trainer_overrides" and not isinstance(value, dict):
        raise SpotShieldError(f"{_TRAINER_KEY} in {source} must be a mapping of trainer settings")
    return value


def load_settings(cli: dict[str, Any] | None = None, root: Path | None = None) -> StackSettings:
    """Merge CLI/env values over the settings file over defaults, then check the result."""
    values, path = file_settings(root)
    source = str(path) if path else "settings"
    merged: dict[str, Any] = {}
    for key, value in values.items():
        key = key.replace("-", "_")
        if key == _TRAINER_KEY:
            key = "trainer_overrides"
        if key not in _FIELDS:
            raise SpotShieldError(f"unknown setting {key!r} in {source}; known: {', '.join(sorted(_FIELDS))}")
        merged[key] = _normalise(key, value, source)
    for key, value in (cli or {}).items():
        if value is None:
            continue
        if key not in _FIELDS:
            raise ValueError(f"load_settings: no such setting {key!r}")  # a bug in the CLI, not user input
        merged[key] = _normalise(key, value, "the command line")
    # The local emulator is the default until a GCP project is configured.
    if "backend" not in merged:
        merged["backend"] = "gcp" if merged.get("project") else "local"
    try:
        settings = StackSettings(**merged)
    except TypeError as e:
        raise SpotShieldError(f"bad settings in {source}: {e}") from None
    for name, typ in (("gpu_count", int), ("fleet_size", int), ("rate", float), ("time_scale", float)):
        value = getattr(settings, name)
        try:
            setattr(settings, name, typ(value))
        except (TypeError, ValueError):
            raise SpotShieldError(f"{name} must be a number, not {value!r}") from None
    return settings.check()


def default_run_id(strategy: str) -> str:
    """'<strategy>-<UTC timestamp>': sortable, and says what ran."""
    import time

    return f"{strategy}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"


def trainer_config(settings: StackSettings, store_url: str) -> dict:
    """The merged trainer config the fleet boots with (trainer presets <- --config <- overrides)."""
    from spotshield.trainer.config import load_config

    files = [settings.trainer_config] if settings.trainer_config else []
    if not files and settings.backend == "local":
        # The emulator's default run is the paced local demo: a few minutes, several preemptions.
        from spotshield.trainer.config import PRESETS

        files = [PRESETS / "experiments" / LOCAL_DEMO]
    if files and not Path(files[0]).expanduser().is_file():
        raise SpotShieldError(f"trainer config {files[0]} not found; pass an existing YAML file to --config")
    overrides = {**settings.trainer_overrides, "strategy": settings.strategy,
                 "store": store_url, "run_id": settings.run_id}
    return load_config([Path(f).expanduser() for f in files], overrides).to_dict()
