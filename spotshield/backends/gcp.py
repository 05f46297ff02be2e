"""The gcp backend: spotshield/cloud/gcp.py (terraform/ on a real project) behind the Backend protocol.

cloud/gcp.py keeps the steps (preflight, tfvars, publish, apply, wait; targeted destroy); this
wraps them: the trainer config, the stack record, and `down` without a record (from the settings).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from spotshield.backends.base import Echo, Sources, _ignore, _quiet, fleet_trainer_config, record_sources
from spotshield.backends.record import StackRecord
from spotshield.settings import StackSettings

DEFAULT_WAIT_S = 900.0  # how long up waits for a stable group


class GcpBackend:
    name = "gcp"

    def __init__(self, root: Path | None = None):
        self.root = root  # the project root holding terraform/ (default: the one found from cwd)

    def plan(self, settings: StackSettings, echo: Echo = _quiet) -> None:
        from spotshield.cloud import gcp

        gcp.plan(settings, fleet_trainer_config(settings), echo=echo, root=self.root)
        return None

    def up(self, settings: StackSettings, echo: Echo = _quiet, on_record: Callable[[StackRecord], None] = _ignore,
           *, wait_timeout_s: float | None = None, trainer_config: dict | None = None) -> StackRecord:
        """Apply, record (before the wait: a timeout or Ctrl-C must leave `down` able to find it), wait."""
        from spotshield.cloud import gcp

        tcfg = fleet_trainer_config(settings) if trainer_config is None else trainer_config
        record = StackRecord.for_settings(settings, project=settings.project)
        gcp.up(settings, tcfg, echo=echo, wait_timeout_s=DEFAULT_WAIT_S if wait_timeout_s is None else wait_timeout_s,
               root=self.root, on_applied=lambda: on_record(record))
        return record

    def down(self, record: StackRecord | None, *, delete_checkpoints: bool = False,
             echo: Echo = _quiet) -> str | None:
        from spotshield.cloud import gcp

        if record is not None:
            project, bucket = record.project, record.bucket
        else:  # no record (or a corrupt one): the settings say which project and bucket
            from spotshield.settings import load_settings

            s = load_settings({"backend": "gcp"})
            project, bucket = s.project, s.bucket_name
        gcp.down(project, bucket, echo=echo, delete_checkpoints=delete_checkpoints, root=self.root)
        return None

    def endpoints(self, record: StackRecord | None = None) -> dict:
        return {}  # Google's own endpoints

    def sources(self, record: StackRecord) -> Sources:
        return record_sources(record)
