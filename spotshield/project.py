"""Where a SpotShield project lives: its root folder and its state folder (.spotshield/).

Not configuration: the stack settings (spotshield/settings.py) and the trainer's configuration
(spotshield/trainer/config.py) each have their own loader. This module only answers "which
folder", so that `spotshield status` from any shell inside the repo finds the same stack.
"""
from __future__ import annotations

import os
from pathlib import Path

STATE_DIR_NAME = ".spotshield"  # the stack record, the emulator's state (local/)
SETTINGS_FILE = "spotshield.yaml"
ROOT_ENV = "SPOTSHIELD_ROOT"  # overrides the search (tests, and users who keep state elsewhere)


def project_root(start: Path | None = None) -> Path:
    """The nearest folder (from cwd up) holding .spotshield, spotshield.yaml or pyproject.toml."""
    env = os.environ.get(ROOT_ENV)
    if env:
        return Path(env).expanduser().absolute()
    here = (start or Path.cwd()).absolute()
    for d in (here, *here.parents):
        if (d / STATE_DIR_NAME).is_dir() or (d / SETTINGS_FILE).is_file() or (d / "pyproject.toml").is_file():
            return d
    return here


def state_dir(root: Path | None = None) -> Path:
    return (root or project_root()) / STATE_DIR_NAME
