"""The stack record: .spotshield/stack.json, the one record of what is up, written when `up` succeeds.

It is how `status`, `down` and `logs` from any shell in the repo know what is up: backend,
project, region, group, bucket, run id, store URL, the local emulator's endpoints, and what a
backend needs to take its stack down again (`resources`: the local backend's template name and
emulator state folder). Backends build it (StackRecord.for_settings); only the CLI saves it.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from spotshield.errors import SpotShieldError
from spotshield.layout import runs_store_url
from spotshield.project import state_dir

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
    min_nodes: int | None = None  # a job under torchrun: the fewest nodes it trains on (fleet_size the most)
    time_scale: float = 1.0  # emulated seconds per real second of the events' clock (local); 1 on gcp
    # the emulator's time model (spotshield/analysis/emulated.py): "real" counts a guest's own
    # start-up and shutdown at 1x, "scaled" every real second x time_scale (gcp: 1x, either way)
    guest_time: str = "scaled"
    # Endpoints for the local emulator; empty on gcp (Google's defaults apply).
    endpoints: dict = field(default_factory=dict)
    resources: dict = field(default_factory=dict)  # what the backend needs for `down`
    # with a deadline (spotshield/backends/deadline.py DeadlinePlan + the on-demand group and the
    # controller: where it runs); empty without one
    deadline: dict = field(default_factory=dict)
    created: float = field(default_factory=time.time)
    version: int = RECORD_VERSION

    @classmethod
    def for_settings(cls, s, *, project: str, time_scale: float = 1.0, endpoints: dict | None = None,
                     resources: dict | None = None, guest_time: str = "scaled") -> "StackRecord":
        """The record of a stack brought up from StackSettings `s` (run_id set)."""
        return cls(backend=s.backend, name=s.name, project=project, region=s.region, zones=list(s.zones),
                   mig=s.mig_name, bucket=s.bucket_name, run_id=s.run_id, store=runs_store_url(s.bucket_name, s.run_id),
                   strategy=s.strategy, machine_type=s.machine_type, gpu_type=s.gpu_type, gpu_count=s.gpu_count,
                   fleet_size=s.fleet_size, min_nodes=(s.torchrun_nodes or (None,))[0],
                   time_scale=time_scale, endpoints=dict(endpoints or {}),
                   resources=dict(resources or {}), guest_time=guest_time)


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
