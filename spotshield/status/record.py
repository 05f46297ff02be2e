"""The stack record: .spotshield/stack.json, written when `up` succeeds.

It is how `status`, `down` and `logs` from any shell in the repo know what is up:
backend, project, region, group, bucket, run id, store URL and (local) endpoints.
The local emulator keeps its own state under .spotshield/local/; this file is ours.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from spotshield.config_loader import STATE_DIR_NAME, project_root
from spotshield.errors import SpotShieldError

RECORD_NAME = "stack.json"
RECORD_VERSION = 1


@dataclass
class StackRecord:
    backend: str
    name: str
    project: str
    region: str
    zones: list[str]
    mig: str
    bucket: str
    run_id: str
    store: str
    strategy: str
    machine_type: str = ""
    gpu_type: str | None = None
    gpu_count: int = 0
    fleet_size: int = 1
    time_scale: float = 1.0  # emulated seconds per real second of the events' clock (local); 1 on gcp
    # Endpoints for the local emulator; empty on gcp (Google's defaults apply).
    endpoints: dict = field(default_factory=dict)
    created: float = field(default_factory=time.time)
    version: int = RECORD_VERSION

    def env(self) -> dict[str, str]:
        """Environment that points Google's clients at this stack's endpoints."""
        out = {}
        if self.endpoints.get("storage"):
            out["STORAGE_EMULATOR_HOST"] = self.endpoints["storage"]
        if self.endpoints.get("compute"):
            out["SPOTSHIELD_COMPUTE_ENDPOINT"] = self.endpoints["compute"]
        return out


def state_dir(root: Path | None = None) -> Path:
    return (root or project_root()) / STATE_DIR_NAME


def record_path(root: Path | None = None) -> Path:
    return state_dir(root) / RECORD_NAME


def load_record(root: Path | None = None, *, required: bool = True) -> StackRecord | None:
    """The record of what is up; None (or a clear error when required) if nothing is."""
    path = record_path(root)
    if not path.exists():
        if required:
            raise SpotShieldError(f"nothing is up (no {path}); start a stack with 'spotshield up'")
        return None
    hint = "move it aside and run 'spotshield down --backend local' (or gcp) to stop what it described"
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SpotShieldError(f"stack record {path} is corrupt ({type(e).__name__}); {hint}") from None
    if not isinstance(data, dict):
        raise SpotShieldError(f"stack record {path} is corrupt (not an object); {hint}")
    known = set(StackRecord.__dataclass_fields__)
    try:
        return StackRecord(**{k: v for k, v in data.items() if k in known})
    except TypeError as e:
        raise SpotShieldError(f"stack record {path} is incomplete ({e}); {hint}") from None


def save_record(rec: StackRecord, root: Path | None = None) -> Path:
    """Write the record atomically (temp file + rename): a crash never leaves half a record."""
    path = record_path(root)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".stack.", suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(asdict(rec), f, indent=2, sort_keys=True)
            f.write("\n")
        os.replace(tmp, path)
    except OSError as e:
        raise SpotShieldError(f"cannot write stack record {path}: {e.strerror}") from None
    return path


def clear_record(root: Path | None = None) -> None:
    record_path(root).unlink(missing_ok=True)
