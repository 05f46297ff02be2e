"""What `up --deadline` adds to a stack, for both backends (docs/deadline.md).

  prepare(settings, ...)    the checks, before anything is created, one line each: the deadline
                            parses and is not past, the machine has an on-demand price (the one
                            price table, spotshield/billing.py), and the deadline leaves at least
                            the job's on-demand time (the work, deadline/work.py or the run's own
                            events when it resumes, plus one restart overhead)
  service_config(...)       the controller's configuration (spotshield/deadline/service.py)
  on_demand_bodies(...)     local: the on-demand instance template (STANDARD) and its group of
                            size 0, from the spot template: same boot script, store, build, config
  start_local / stop_local  local: the controller process beside the emulator daemon (pid file in
                            the emulator's state folder); GCP runs it in terraform/modules/deadline-controller

Clocks: `deadline` and `start` are real unix seconds; durations are stack seconds (emulated on the
local backend, where `8h` means 8 emulated hours from `up`, i.e. 8 h / time_scale of real time).
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from spotshield.billing import hourly
from spotshield.deadline import checks, work
from spotshield.deadline.parse import parse_deadline
from spotshield.deadline.progress import progress_from_events
from spotshield.deadline.service import ServiceConfig
from spotshield.errors import SpotShieldError

CONTROLLER_FILE = "deadline-controller.json"  # in the emulator's state folder: pid, config, log
BOOT_S = {"local": 40.0, "gcp": 90.0}  # stack seconds a VM boots before its first event (FleetConfig, GCE GPU VMs)
# How often the controller decides: every emulated minute locally (1 real s at 60x), every minute on GCP.
INTERVAL_S = 60.0


@dataclass(frozen=True)
class DeadlinePlan:
    text: str
    start: float  # real unix seconds (`up`)
    deadline: float  # real unix seconds
    time_scale: float  # stack seconds per real second
    policy: str
    steps: int
    step_s: float  # real seconds per step
    source: str  # where the work figure comes from
    work_s: float  # the whole job, stack seconds
    remaining_s: float  # what is left of it now, stack seconds
    restart_s: float  # stack seconds
    on_demand_usd_h: float
    on_demand_mig: str

    def to_record(self) -> dict:
        return asdict(self)


def _on_demand_price(s) -> float:
    what = s.machine_type + (f" + {s.gpu_count}x {s.gpu_type}" if s.gpu_type and s.gpu_count else "")

    def lookup(machine: str):
        rate = hourly(machine, s.gpu_type, s.gpu_count if s.gpu_type else 0, s.region)
        return (rate.spot, rate.on_demand) if rate else None

    try:
        return checks.check_on_demand_price(s.machine_type, lookup)
    except SpotShieldError:
        raise SpotShieldError(f"no on-demand price for {what} in {s.region} in the price table "
                              "(spotshield/prices.csv); a deadline needs one to price the on-demand fallback: "
                              "pick a machine the table lists or add it") from None


def prepare(s, trainer_config: dict, time_scale: float = 1.0, now: float | None = None,
            events: list[dict] | None = None) -> DeadlinePlan | None:
    """The deadline of settings `s`, checked; None without one (behaviour as without deadlines)."""
    if not s.deadline:
        return None
    now = time.time() if now is None else now
    span = parse_deadline(s.deadline, now) - now  # stack seconds: a duration, or an ISO time minus now
    price = _on_demand_price(s)
    est = work.estimate(trainer_config, s.step_time_s)
    work_s = est.work_s * time_scale
    remaining_s, source, step_s = work_s, est.source, est.step_s
    if events:  # a resumed run: what is left, at its measured rate
        p = progress_from_events(events, est.work_s)
        if p.finished:
            raise SpotShieldError(f"run {trainer_config.get('run_id')} is already DONE; a deadline needs work to do")
        if p.steps_per_s:
            step_s, source = 1.0 / p.steps_per_s, "the run's own events (measured rate)"
            work_s = p.work_total_s * time_scale
        remaining_s = max(0.0, p.work_total_s - p.work_done_s) * time_scale
    restart_s = float(s.deadline_restart_s)
    checks.check_feasible(now + span, now, remaining_s, restart_s)
    return DeadlinePlan(text=s.deadline, start=now, deadline=now + span / time_scale, time_scale=time_scale,
                        policy=s.deadline_policy, steps=est.steps, step_s=step_s, source=source, work_s=work_s,
                        remaining_s=remaining_s, restart_s=restart_s, on_demand_usd_h=price,
                        on_demand_mig=s.on_demand_mig_name)


def service_config(plan: DeadlinePlan, s, project: str, *, backend: str, compute_endpoint: str | None = None,
                   self_mig: str | None = None, health_port: int | None = None) -> ServiceConfig:
    return ServiceConfig(
        project=project, region=s.region, zones=list(s.zones), spot_mig=s.mig_name,
        on_demand_mig=plan.on_demand_mig, store=_store(s), run_id=s.run_id, start=plan.start,
        deadline=plan.deadline, work_estimate_s=plan.work_s / plan.time_scale, restart_s=plan.restart_s,
        time_scale=plan.time_scale, policy=plan.policy, interval_s=INTERVAL_S, boot_s=BOOT_S[backend],
        compute_endpoint=compute_endpoint, self_mig=self_mig, health_port=health_port).check()


def _store(s) -> str:
    from spotshield.layout import runs_store_url

    return runs_store_url(s.bucket_name, s.run_id)


def on_demand_bodies(s, spot_template: dict, spot_group: dict) -> tuple[dict, dict]:
    """The on-demand path beside the spot one: a STANDARD template (the spot template's properties,
    so the same boot script, store, build and config; its VMs resize their own group when DONE)
    and a regional group of size 0 that only the controller grows."""
    props = copy.deepcopy(spot_template["properties"])
    props["scheduling"] = {"provisioningModel": "STANDARD", "automaticRestart": True,
                           "onHostMaintenance": "TERMINATE"}  # GPU VMs cannot live-migrate
    items = props["metadata"]["items"]
    for item in items:
        if item["key"] == "spotshield-mig":
            item["value"] = s.on_demand_mig_name
    digest = hashlib.sha256(json.dumps(props, sort_keys=True).encode()).hexdigest()[:8]
    tpl = {"name": f"{s.name}-od-{digest}", "description": "SpotShield on-demand trainer VM (deadline fallback)",
           "properties": props}
    group = {**copy.deepcopy(spot_group), "name": s.on_demand_mig_name, "baseInstanceName": f"{s.name}-od",
             "targetSize": 0,
             "instanceTemplate": spot_group["instanceTemplate"].rsplit("/", 1)[0] + "/" + tpl["name"]}
    return tpl, group


def on_demand_host_prefix(name: str) -> str:
    """VMs of the on-demand group are <name>-od-xxxx: status bills their boots at the on-demand price."""
    return f"{name}-od-"


# ---- the local controller process ------------------------------------------------
def start_local(state_dir: Path, cfg: ServiceConfig, env: dict) -> dict:
    """Start the controller beside the emulator (its own session: it outlives `up`'s terminal)."""
    from spotshield.local.procs import proc_start_time

    state_dir.mkdir(parents=True, exist_ok=True)
    config_path = state_dir / "deadline-controller.config.json"
    config_path.write_text(json.dumps(cfg.to_dict(), indent=2, sort_keys=True))
    log_path = state_dir / "deadline-controller.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "spotshield.deadline.service", "--config", str(config_path)],
                                env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    info = {"pid": proc.pid, "pid_start": proc_start_time(proc.pid), "config": str(config_path), "log": str(log_path)}
    (state_dir / CONTROLLER_FILE).write_text(json.dumps(info, indent=2))
    return info


def local_info(state_dir: Path) -> dict | None:
    try:
        return json.loads((state_dir / CONTROLLER_FILE).read_text())
    except (OSError, ValueError):
        return None


def stop_local(state_dir: Path) -> bool:
    """Stop the controller process if one runs (by its recorded pid); True when one was stopped."""
    from spotshield.local.procs import stop_recorded

    return stop_recorded(state_dir / CONTROLLER_FILE)
