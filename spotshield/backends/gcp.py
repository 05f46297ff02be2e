"""The gcp backend: spotshield/cloud/gcp.py (terraform/ on a real project) behind the Backend protocol.

cloud/gcp.py keeps the steps (preflight, tfvars, publish, apply, wait; targeted destroy); this
wraps them: the trainer config, the stack record, and `down` without a record (from the settings).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from spotshield.backends import deadline
from spotshield.backends.base import Echo, Sources, _ignore, _quiet, fleet_trainer_config, record_sources
from spotshield.backends.record import StackRecord
from spotshield.billing import COORDINATOR_MACHINE
from spotshield.settings import StackSettings

DEFAULT_WAIT_S = 900.0  # how long up waits for a stable group


def _run_events(settings: StackSettings) -> list[dict]:
    """A resumed run's own events, when its store can be read already (else the estimate stands)."""
    if not settings.deadline or not settings.run_id:
        return []
    from spotshield.events import read_events
    from spotshield.layout import runs_store_url
    from spotshield.storage import open_store

    try:
        return read_events(open_store(runs_store_url(settings.bucket_name, settings.run_id)), settings.run_id)
    except Exception:  # no bucket yet, no credentials yet (preflight says so next): a first run
        return []


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
        plan = deadline.prepare(settings, tcfg, events=_run_events(settings))  # before anything is created
        record = StackRecord.for_settings(settings, project=settings.project)
        from spotshield.cloud.tfvars import has_coordinator

        if has_coordinator(settings):  # what status bills it as (billing.service_vms)
            record.resources["coordinator_machine_type"] = COORDINATOR_MACHINE
        config = None
        if plan is not None:
            # Terraform adds self_mig and health_port (terraform/modules/deadline-controller)
            config = deadline.service_config(plan, settings, settings.project, backend="gcp").to_dict()
            record.deadline = {**plan.to_record(), "on_demand_base": deadline.on_demand_host_prefix(settings.name),
                               "controller": {"runs": "a VM of its own (terraform/modules/deadline-controller)",
                                              "mig": f"{settings.name}-dl-mig"}}
        gcp.up(settings, tcfg, echo=echo, wait_timeout_s=DEFAULT_WAIT_S if wait_timeout_s is None else wait_timeout_s,
               root=self.root, on_applied=lambda: on_record(record), deadline_config=config)
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
