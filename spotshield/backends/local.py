"""The local backend: the emulator of a GCP region (spotshield/local/) behind the Backend protocol.

  up(settings)        start the emulator daemon if needed, create the bucket, publish the build,
                      create the instance template + regional MIG through google-cloud-compute
                      (the shape terraform/modules/spot-fleet declares), configure the injector
  down(record)        delete the group and template, stop the daemon; checkpoints stay unless asked.
                      An emulator that died under a recorded stack is cleaned up (its orphans
                      killed) and said so, so the stale record can go
  endpoints(record)   {"compute": url, "storage": url, ...} of the running emulator
  plan(settings)      what up would create (a dict), without starting anything
  cost(run_id=None)   the emulator's cost meter (spot spent per run, billed emulated hours)

Library code: raises SpotShieldError with one line, prints nothing.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import time
from pathlib import Path
from typing import Callable

from spotshield.backends import deadline, rendezvous
from spotshield.backends.base import Echo, Sources, _ignore, _quiet, fleet_trainer_config, record_sources
from spotshield.backends.record import StackRecord
from spotshield.billing import COORDINATOR_MACHINE
from spotshield.bootcontract import DEFAULT_HEALTH_PORT, boot_metadata
from spotshield.errors import SpotShieldError
from spotshield.layout import runs_store_url
from spotshield.settings import StackSettings

DEFAULT_PROJECT = "spotshield-local"
INITIAL_DELAY_S = 900  # auto-healing initial delay, as terraform/modules/spot-fleet declares (emulated s)
_CALL_TIMEOUT_S = 30


def _project(s: StackSettings) -> str:
    return s.project or DEFAULT_PROJECT


@contextlib.contextmanager
def _storage_env(url: str):
    """Point google-cloud-storage at fake-gcs-server for the duration."""
    with Sources(store="", env={"STORAGE_EMULATOR_HOST": url}).applied():
        yield


def _clients(compute_url: str):
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import compute_v1

    kw = dict(credentials=AnonymousCredentials(), client_options=ClientOptions(api_endpoint=compute_url),
              transport="rest")
    return compute_v1.InstanceTemplatesClient(**kw), compute_v1.RegionInstanceGroupManagersClient(**kw)


def _api(what: str, fn):
    from google.api_core import exceptions as gexc

    try:
        return fn()
    except gexc.GoogleAPICallError as e:
        raise SpotShieldError(f"emulator Compute API: {what}: {getattr(e, 'message', e)}") from None


def _fleet_args(fleet: dict | None, deadline_set: bool) -> dict | None:
    """The fleet's arguments for a new emulator. A deadline gets guest_time scaled: its controller's
    stack clock is start + (now - start) x time_scale (spotshield/deadline/service.py), which an
    emulator clock held at 1x through each guest's start-up would leave behind."""
    if not deadline_set or "guest_time" in (fleet or {}):
        return fleet
    return {**(fleet or {}), "guest_time": "scaled"}


def _guest_time(rec: dict) -> str:
    """The running emulator's time model (an emulator from before the model was reported: scaled)."""
    from spotshield.local import daemon

    return (daemon.request(rec, "GET", "/spotshield/v1/status").get("clock") or {}).get("guest_time") or "scaled"


def run_store(s: StackSettings, trainer_config: dict) -> str:
    """The store the trainers train into (and the coordinator watches for DONE)."""
    return trainer_config.get("store") or runs_store_url(s.bucket_name, s.run_id)


def metadata_items(s: StackSettings, trainer_config: dict, build_url: str | None, build_id: str | None,
                   workdir: tuple[str, str] | None = None, coordinator: str | None = None) -> dict:
    """The boot-contract attributes (spotshield/bootcontract.py), the keys Terraform sets.
    workdir: (url, sha256) of the published workdir in command mode; coordinator: host:port of a
    job under torchrun's rendezvous, the command's or the built-in trainer's (emulated VMs are
    CPU-only: one worker per node, gloo)."""
    nodes = s.torchrun_nodes
    return boot_metadata(run_id=s.run_id or trainer_config.get("run_id") or "",
                         store=run_store(s, trainer_config),
                         trainer_config=trainer_config, mig=s.mig_name, region=s.region,
                         health_port=DEFAULT_HEALTH_PORT, build_url=build_url, build_id=build_id,
                         command=s.command if workdir else None, workdir_url=workdir[0] if workdir else None,
                         workdir_sha256=workdir[1] if workdir else None,
                         distributed=(coordinator, *nodes, 1) if nodes and coordinator else None)


def scheduling(s: StackSettings) -> dict:
    """The scheduling terraform/modules/spot-fleet declares for s.provisioning_model (the same rules:
    a Spot VM is preemptible, never restarted by GCE, terminated on host maintenance; a STANDARD one
    is none of these, but a GPU VM cannot live-migrate either way)."""
    if s.provisioning_model == "SPOT":
        return {"provisioningModel": "SPOT", "preemptible": True, "automaticRestart": False,
                "onHostMaintenance": "TERMINATE", "instanceTerminationAction": s.termination_action}
    gpu = bool(s.gpu_type and s.gpu_count)
    return {"provisioningModel": "STANDARD", "preemptible": False, "automaticRestart": True,
            "onHostMaintenance": "TERMINATE" if gpu else "MIGRATE"}


def template_body(s: StackSettings, items: dict) -> dict:
    """Instance template JSON with the shape terraform/modules/spot-fleet declares."""
    props = {
        "machineType": s.machine_type,
        "scheduling": scheduling(s),
        "metadata": {"items": [{"key": k, "value": v} for k, v in items.items()]},
        "labels": {"spotshield-run": _label(s.run_id or "")},
        "serviceAccounts": [{"email": f"{s.name}-sa@{_project(s)}.iam.gserviceaccount.com",
                             "scopes": ["https://www.googleapis.com/auth/cloud-platform"]}],
    }
    if s.gpu_type and s.gpu_count:
        props["guestAccelerators"] = [{"acceleratorType": s.gpu_type, "acceleratorCount": s.gpu_count}]
    digest = hashlib.sha256(json.dumps(props, sort_keys=True).encode()).hexdigest()[:8]
    what = "Spot" if s.provisioning_model == "SPOT" else "on-demand (STANDARD)"
    return {"name": f"{s.name}-{digest}", "description": f"SpotShield {what} trainer VM", "properties": props}


def mig_body(s: StackSettings, template_name: str, project: str) -> dict:
    return {
        "name": s.mig_name,
        "baseInstanceName": f"{s.name}-vm",
        "targetSize": s.fleet_size,
        "instanceTemplate": f"projects/{project}/global/instanceTemplates/{template_name}",
        "distributionPolicy": {"zones": [{"zone": f"zones/{z}"} for z in s.zones]},
        "autoHealingPolicies": [{"healthCheck": f"projects/{project}/global/healthChecks/{s.name}-healthz",
                                 "initialDelaySec": INITIAL_DELAY_S}],
    }


def _label(value: str) -> str:
    out = "".join(c if c.isalnum() or c in "-_" else "-" for c in value.lower())[:63]
    return out


def _create_bucket(storage_url: str, bucket: str) -> None:
    from spotshield.local.gcs import GCSServer

    GCSServer(pid=0, port=int(storage_url.rsplit(":", 1)[1]), root=Path()).create_bucket(bucket)


def _delete_run(storage_url: str, bucket: str, run_id: str) -> None:
    from spotshield.storage import open_store

    with _storage_env(storage_url):
        store = open_store(runs_store_url(bucket, run_id))
        for key in store.list():
            store.delete(key)


def _check_region(s: StackSettings) -> None:
    from spotshield.local.capacity import parse_spec
    from spotshield.local.region_args import check_region_args

    check_region_args(time_scale=s.time_scale, pattern=s.pattern, rate=s.rate, trace=s.trace)
    parse_spec(s.spot_capacity, list(s.zones))


def _run_events(storage_url: str, s: StackSettings) -> list[dict]:
    """The events a run id already has (an `up` that resumes it), for the deadline's checks."""
    from spotshield.events import read_events
    from spotshield.storage import open_store

    with _storage_env(storage_url):
        try:
            return read_events(open_store(runs_store_url(s.bucket_name, s.run_id)), s.run_id)
        except SpotShieldError:
            return []


class LocalBackend:
    name = "local"

    def __init__(self, state_dir: Path | None = None, fleet: dict | None = None, seed: int = 0):
        """state_dir: the emulator's (default .spotshield/local); fleet: FleetConfig overrides
        (tests); seed: of the preemption schedule."""
        from spotshield.local import daemon

        self.state_dir = Path(state_dir or daemon.default_state_dir()).absolute()
        self.fleet, self.seed = fleet, seed

    def _state(self, record: StackRecord | None) -> Path:
        where = (record.resources if record is not None else {}).get("state_dir")
        return Path(where) if where else self.state_dir

    def plan(self, settings: StackSettings, echo: Echo = _quiet) -> dict:
        """What up would create; starts nothing."""
        from spotshield import buildinfo
        from spotshield.local import daemon

        s = settings.check()
        _check_region(s)
        fleet_trainer_config(s)  # a bad trainer config fails the plan as it would fail up
        bid = buildinfo.build_id()
        url = buildinfo.build_url(s.bucket_name, bid)
        items = metadata_items(s, {"run_id": s.run_id, "strategy": s.strategy}, url, bid)
        items["spotshield-config"] = "<the merged trainer config>"
        tpl = template_body(s, items)
        running = daemon.read_state(self.state_dir)
        return {
            "backend": "local",
            "emulator": {"running": bool(running), "endpoints": running["endpoints"] if running else None,
                         "state_dir": str(self.state_dir), "time_scale": s.time_scale},
            "bucket": f"gs://{s.bucket_name}",
            "build": {"id": bid, "url": url},
            "instance_template": tpl,
            "region_instance_group_manager": mig_body(s, tpl["name"], _project(s)),
            "preemptions": {"pattern": s.pattern, "rate_per_hour": s.rate, "trace": s.trace},
        }

    def up(self, settings: StackSettings, echo: Echo = _quiet, on_record: Callable[[StackRecord], None] = _ignore,
           *, wait_timeout_s: float | None = None, trainer_config: dict | None = None) -> StackRecord:
        """Create the local stack (the emulator's group is ready at once: nothing to wait for)."""
        from google.api_core import exceptions as gexc
        from google.cloud import compute_v1

        from spotshield import buildinfo, workdir
        from spotshield.local import daemon

        s = settings.check_up()
        _check_region(s)
        if not s.run_id:
            raise SpotShieldError("up needs a run id (settings.run_id)")
        tcfg = fleet_trainer_config(s) if trainer_config is None else trainer_config
        plan = deadline.prepare(s, tcfg, time_scale=s.time_scale)  # bad deadlines fail before anything starts
        packed = None
        if s.command:
            packed = workdir.pack(s.workdir_path)  # an empty or oversized workdir fails before anything starts
        project = _project(s)
        rec = daemon.read_state(self.state_dir)
        started = rec is None
        if started:
            rec = daemon.start(self.state_dir, time_scale=s.time_scale, pattern=s.pattern, rate=s.rate,
                               trace=s.trace, seed=self.seed, project=project, region=s.region, zones=list(s.zones),
                               fleet=_fleet_args(self.fleet, plan is not None))
        elif rec["project"] != project or rec["region"] != s.region:
            raise SpotShieldError(f"the running emulator serves {rec['project']}/{rec['region']}, not "
                                  f"{project}/{s.region}; stop it with 'spotshield local stop'")
        elif plan is not None and _guest_time(rec) == "real":
            raise SpotShieldError("a deadline needs the emulator's scaled time model, and the running emulator "
                                  "holds its clock for guests' start-ups; stop it with 'spotshield local stop' "
                                  "and run up again")
        storage, compute = rec["endpoints"]["storage"], rec["endpoints"]["compute"]
        templates, migs = _clients(compute)
        try:
            migs.get(project=project, region=s.region, instance_group_manager=s.mig_name, timeout=_CALL_TIMEOUT_S)
            raise SpotShieldError(f"a local stack is already up (group {s.mig_name} in the emulator); "
                                  "run 'spotshield down' first")
        except gexc.NotFound:
            pass
        if not started:  # an emulator started by hand: this stack's preemptions from now on
            daemon.request(rec, "POST", "/spotshield/v1/injector", {"pattern": s.pattern, "rate": s.rate,
                                                                     "trace": s.trace, "seed": self.seed,
                                                                     "time_scale": s.time_scale})
        if plan is not None and (events := _run_events(storage, s)):
            try:  # a resumed run: checked again on what its own events say is left
                plan = deadline.prepare(s, tcfg, time_scale=s.time_scale, events=events)
            except SpotShieldError:
                if started:
                    daemon.stop(self.state_dir)
                raise
        if s.spot_capacity is not None:
            daemon.request(rec, "POST", "/spotshield/v1/capacity", {"spec": s.spot_capacity})
        _create_bucket(storage, s.bucket_name)
        with _storage_env(storage):
            build_url, build_id = buildinfo.publish(s.bucket_name)
            shipped = workdir.upload(packed, s.bucket_name) if packed else None
        coordinator = None
        if s.torchrun_nodes:  # one job under torchrun: its rendezvous store beside the emulator
            coordinator = rendezvous.start_local(self.state_dir, run_store(s, tcfg), storage)["endpoint"]
        tpl = template_body(s, metadata_items(s, tcfg, build_url, build_id, shipped, coordinator))
        try:  # the name carries a digest of the properties: an existing one is this very template
            templates.insert_unary(project=project, instance_template_resource=compute_v1.InstanceTemplate.from_json(
                json.dumps(tpl), ignore_unknown_fields=True), timeout=_CALL_TIMEOUT_S)
        except gexc.Conflict:
            pass
        except gexc.GoogleAPICallError as e:
            raise SpotShieldError(f"emulator Compute API: create instance template: {getattr(e, 'message', e)}") from None
        _api("create managed instance group", lambda: migs.insert_unary(
            project=project, region=s.region, instance_group_manager_resource=compute_v1.InstanceGroupManager.from_json(
                json.dumps(mig_body(s, tpl["name"], project)), ignore_unknown_fields=True), timeout=_CALL_TIMEOUT_S))
        resources = {"template": tpl["name"], "state_dir": str(self.state_dir), "build_id": build_id,
                     "build_url": build_url}
        if shipped:
            resources.update(command=s.command, workdir_url=shipped[0], workdir_sha256=shipped[1])
        if coordinator:  # billed as the VM it stands in for (billing.service_vms)
            resources.update(coordinator=coordinator, nodes=list(s.torchrun_nodes),
                             coordinator_machine_type=COORDINATOR_MACHINE)
        record = StackRecord.for_settings(s, project=project, time_scale=s.time_scale,
                                          endpoints=dict(rec["endpoints"]), resources=resources,
                                          guest_time=_guest_time(rec))
        if plan is not None:
            record.deadline = self._deadline_up(s, plan, tpl, project, rec, templates, migs)
            resources["on_demand_template"] = record.deadline["on_demand_template"]
        on_record(record)
        return record

    def _deadline_up(self, s: StackSettings, plan, tpl: dict, project: str, rec: dict, templates, migs) -> dict:
        """The on-demand template and group (size 0) beside the spot ones, then the controller."""
        from google.api_core import exceptions as gexc
        from google.cloud import compute_v1

        od_tpl, od_group = deadline.on_demand_bodies(s, tpl, mig_body(s, tpl["name"], project))
        try:
            templates.insert_unary(project=project, instance_template_resource=compute_v1.InstanceTemplate.from_json(
                json.dumps(od_tpl), ignore_unknown_fields=True), timeout=_CALL_TIMEOUT_S)
        except gexc.Conflict:
            pass
        _api("create the on-demand group", lambda: migs.insert_unary(
            project=project, region=s.region, instance_group_manager_resource=compute_v1.InstanceGroupManager.from_json(
                json.dumps(od_group), ignore_unknown_fields=True), timeout=_CALL_TIMEOUT_S))
        cfg = deadline.service_config(plan, s, project, backend="local", compute_endpoint=rec["endpoints"]["compute"])
        proc = deadline.start_local(self.state_dir, cfg, {"STORAGE_EMULATOR_HOST": rec["endpoints"]["storage"]})
        return {**plan.to_record(), "on_demand_template": od_tpl["name"],
                "on_demand_base": deadline.on_demand_host_prefix(s.name),
                "controller": {"runs": "a process beside the emulator", **proc}}

    def down(self, record: StackRecord | None, *, delete_checkpoints: bool = False,
             echo: Echo = _quiet) -> str | None:
        """Delete the group and template, stop the emulator. Checkpoints stay unless asked."""
        from google.api_core import exceptions as gexc

        from spotshield.local import daemon

        state_dir = self._state(record)
        deadline.stop_local(state_dir)  # first: a controller must not resize groups that are going away
        rec = daemon.read_state(state_dir)
        if rec is None:
            rendezvous.stop_local(state_dir)
        if rec is None:
            daemon.stop(state_dir)  # clears any orphan a crashed daemon left
            if record is None:
                raise SpotShieldError("nothing is up on the local backend (no emulator running)")
            # The emulator died under a recorded stack: nothing runs, so the record is stale.
            return "the local emulator was not running (crashed?); clearing the stale stack record"
        if record is not None:
            templates, migs = _clients(rec["endpoints"]["compute"])
            try:
                migs.delete_unary(project=record.project, region=record.region, instance_group_manager=record.mig,
                                  timeout=_CALL_TIMEOUT_S)
            except gexc.NotFound:
                pass
            except gexc.GoogleAPICallError as e:
                raise SpotShieldError(f"emulator Compute API: delete group: {getattr(e, 'message', e)}") from None
            od_mig = (record.deadline or {}).get("on_demand_mig")
            if od_mig:
                try:
                    migs.delete_unary(project=record.project, region=record.region, instance_group_manager=od_mig,
                                      timeout=_CALL_TIMEOUT_S)
                except gexc.NotFound:
                    pass
            for mig in (record.mig, od_mig):
                if mig:
                    self._wait_members_gone(rec, mig)
            for key in ("template", "on_demand_template"):
                if record.resources.get(key):
                    try:
                        templates.delete_unary(project=record.project, instance_template=record.resources[key],
                                               timeout=_CALL_TIMEOUT_S)
                    except gexc.NotFound:
                        pass
            if delete_checkpoints:
                _delete_run(rec["endpoints"]["storage"], record.bucket, record.run_id)
        rendezvous.stop_local(state_dir)  # after the members' shutdown: their agents talk to it until then
        daemon.stop(state_dir)
        return None

    @staticmethod
    def _wait_members_gone(rec: dict, mig: str) -> None:
        """Instances get their shutdown (emergency checkpoint) before the daemon goes away."""
        from spotshield.local import daemon

        deadline = time.monotonic() + daemon.STOP_TIMEOUT_S
        while time.monotonic() < deadline:
            st = daemon.request(rec, "GET", "/spotshield/v1/status")
            if not [i for i in st["instances"] if i["mig"] == mig]:
                return
            time.sleep(0.2)

    def endpoints(self, record: StackRecord | None = None) -> dict:
        """{"compute": url, "storage": url, "project": ..., "region": ...}; raises when nothing runs."""
        from spotshield.local import daemon

        rec = daemon.read_state(self._state(record))
        if rec is None:
            raise SpotShieldError("the local emulator is not running; start it with 'spotshield up' or "
                                  "'spotshield local start'")
        return {**rec["endpoints"], "project": rec["project"], "region": rec["region"]}

    def sources(self, record: StackRecord) -> Sources:
        return record_sources(record)

    def cost(self, run_id: str | None = None) -> dict:
        """The emulator's cost meter (spotshield/local/cost.py): spot spent, billed emulated hours, per run."""
        from spotshield.local import daemon

        rec = daemon.read_state(self.state_dir)
        if rec is None:
            raise SpotShieldError("the local emulator is not running; no cost meter to read")
        path = "/spotshield/v1/cost" + (f"?run_id={run_id}" if run_id else "")
        return daemon.request(rec, "GET", path)
