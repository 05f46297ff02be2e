"""The Backend protocol: what the CLI and the study's grid runner call to bring a fleet up and down.

    plan(settings, echo)                    what up would create (local: a dict; gcp: terraform plan via echo)
    up(settings, echo, on_record, ...)      create the fleet; on_record(rec) runs as soon as there is
                                            something for `down` to find (the CLI saves it then)
    down(record, delete_checkpoints, echo)  take it down; checkpoints stay unless asked; returns a note
                                            for the user or None
    endpoints(record)                       the API endpoints the stack's clients use ({} on GCP)
    sources(record)                         what `status` reads: the run's store, the Compute API
                                            endpoint and the environment for Google's clients

Backends raise SpotShieldError with one line and print nothing but through `echo`.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol

from spotshield.backends.record import StackRecord
from spotshield.errors import SpotShieldError
from spotshield.layout import runs_store_url

if TYPE_CHECKING:  # the settings' module is the CLI's; reading a record does not need it
    from spotshield.settings import StackSettings

Echo = Callable[[str], None]
LOCAL_DEMO = "local-demo.yaml"  # trainer experiment the local backend boots without a trainer config


def _quiet(line: str) -> None:
    pass


def _ignore(rec: StackRecord) -> None:
    pass


@dataclass(frozen=True)
class Sources:
    """Where a stack's state is read from: the same two APIs on both backends."""

    store: str  # the run's store URL
    compute: str | None = None  # Compute API endpoint; None: Google's (or SPOTSHIELD_COMPUTE_ENDPOINT)
    env: dict = field(default_factory=dict)  # what points Google's clients at those endpoints

    @contextlib.contextmanager
    def applied(self):
        """Set `env` for the duration (storage clients read STORAGE_EMULATOR_HOST from it)."""
        saved = {k: os.environ.get(k) for k in self.env}
        os.environ.update(self.env)
        try:
            yield self
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


class Backend(Protocol):
    name: str

    def plan(self, settings: StackSettings, echo: Echo = _quiet) -> dict | None: ...

    def up(self, settings: StackSettings, echo: Echo = _quiet, on_record: Callable[[StackRecord], None] = _ignore,
           *, wait_timeout_s: float | None = None, trainer_config: dict | None = None) -> StackRecord: ...

    def down(self, record: StackRecord | None, *, delete_checkpoints: bool = False,
             echo: Echo = _quiet) -> str | None: ...

    def endpoints(self, record: StackRecord | None = None) -> dict: ...

    def sources(self, record: StackRecord) -> Sources: ...


def record_sources(record: StackRecord) -> Sources:
    """Sources from the record's endpoints (both backends: the emulator's, or none for Google's)."""
    env = {}
    if record.endpoints.get("storage"):
        env["STORAGE_EMULATOR_HOST"] = record.endpoints["storage"]
    if record.endpoints.get("compute"):
        env["SPOTSHIELD_COMPUTE_ENDPOINT"] = record.endpoints["compute"]
    return Sources(store=record.store, compute=record.endpoints.get("compute"), env=env)


def fleet_trainer_config(settings: StackSettings) -> dict:
    """The merged trainer config the fleet boots with: trainer presets <- the settings' trainer
    YAML (the paced local demo on the local backend without one) <- trainer overrides <- the
    stack's strategy, store and run id. The trainer's own loader (spotshield/trainer/config.py) merges."""
    from spotshield.trainer.config import PRESETS, load_config

    files = [Path(settings.trainer_config).expanduser()] if settings.trainer_config else []
    if not files and settings.backend == "local":
        files = [PRESETS / "experiments" / LOCAL_DEMO]
    if files and not files[0].is_file():
        raise SpotShieldError(f"trainer config {settings.trainer_config} not found; "
                              "pass an existing YAML file to --config")
    overrides = {**settings.trainer_overrides, "strategy": settings.strategy,
                 "store": runs_store_url(settings.bucket_name, settings.run_id), "run_id": settings.run_id}
    return load_config(files, overrides).to_dict()
