"""The local backend's library API, called by the CLI (spotshield/cli/stack.py).

  up(settings, trainer_config)   start the emulator daemon if needed, create the bucket, publish
                                 the build, create the instance template + regional MIG through
                                 google-cloud-compute (the shape terraform/modules/spot-fleet
                                 declares), configure the preemption injector
  down(delete_checkpoints=False) delete the group and template, stop the daemon; checkpoints stay
  endpoints()                    {"compute": url, "storage": url} of the running emulator
  plan(settings)                 what up would create (a dict), without starting anything
  cost(run_id=None)              the emulator's cost meter (spot vs on-demand, per run)

Library code: raises SpotShieldError with one line, prints nothing.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

from spotshield.errors import SpotShieldError
from spotshield.local import daemon
from spotshield.settings import StackSettings

STACK_FILE = "stack.json"  # the local stack this backend created (under the daemon's state dir)
DEFAULT_PROJECT = "spotshield-local"
HEALTH_PORT = 8080  # metadata spotshield-health-port; the emulator overrides it per VM by env
INITIAL_DELAY_S = 900  # auto-healing initial delay, as terraform/modules/spot-fleet declares (emulated s)
CRASH_LOOP_BOOTS = 3  # the crash-loop breaker's K, as terraform/variables.tf defaults it
_CALL_TIMEOUT_S = 30


def _project(s: StackSettings) -> str:
    return s.project or DEFAULT_PROJECT


def _state_dir(state_dir: Path | None) -> Path:
    return Path(state_dir or daemon.default_state_dir())


@contextlib.contextmanager
def _storage_env(url: str):
    """Point google-cloud-storage at fake-gcs-server for the duration."""
    old = os.environ.get("STORAGE_EMULATOR_HOST")
    os.environ["STORAGE_EMULATOR_HOST"] = url
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("STORAGE_EMULATOR_HOST", None)
        else:
            os.environ["STORAGE_EMULATOR_HOST"] = old


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


def metadata_items(s: StackSettings, trainer_config: dict, build_url: str | None, build_id: str | None) -> dict:
    """The boot-contract attributes (docs/boot-contract.md), exactly the keys Terraform sets."""
    from spotshield.layout import runs_store_url

    store = trainer_config.get("store") or runs_store_url(s.bucket_name, s.run_id)
    items = {
        "spotshield-run-id": s.run_id or trainer_config.get("run_id") or "",
        "spotshield-store": store,
        "spotshield-config": json.dumps(trainer_config, sort_keys=True),
        "spotshield-health-port": str(HEALTH_PORT),
        "spotshield-mig": s.mig_name,
        "spotshield-region": s.region,
        "spotshield-crash-loop-boots": str(CRASH_LOOP_BOOTS),
    }
    if build_url and build_id:
        items["spotshield-build-url"] = build_url
        items["spotshield-build-id"] = build_id
    return items


def template_body(s: StackSettings, items: dict) -> dict:
    """Instance template JSON with the shape terraform/modules/spot-fleet declares."""
    props = {
        "machineType": s.machine_type,
        "scheduling": {"provisioningModel": "SPOT", "preemptible": True, "automaticRestart": False,
                       "onHostMaintenance": "TERMINATE", "instanceTerminationAction": s.termination_action},
        "metadata": {"items": [{"key": k, "value": v} for k, v in items.items()]},
        "labels": {"spotshield-run": _label(s.run_id or "")},
        "serviceAccounts": [{"email": f"{s.name}-sa@{_project(s)}.iam.gserviceaccount.com",
                             "scopes": ["https://www.googleapis.com/auth/cloud-platform"]}],
    }
    if s.gpu_type and s.gpu_count:
        props["guestAccelerators"] = [{"acceleratorType": s.gpu_type, "acceleratorCount": s.gpu_count}]
    digest = hashlib.sha256(json.dumps(props, sort_keys=True).encode()).hexdigest()[:8]
    return {"name": f"{s.name}-{digest}", "description": "SpotShield Spot trainer VM", "properties": props}


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


def plan(settings: StackSettings) -> dict:
    """What up would create; starts nothing."""
    s = settings.check()
    from spotshield import buildinfo

    bid = buildinfo.build_id()
    url = buildinfo.build_url(s.bucket_name, bid)
    tcfg = {"run_id": s.run_id, "strategy": s.strategy}
    items = metadata_items(s, tcfg, url, bid)
    items["spotshield-config"] = "<the merged trainer config>"
    tpl = template_body(s, items)
    running = daemon.read_state(_state_dir(None))
    return {
        "backend": "local",
        "emulator": {"running": bool(running), "endpoints": running["endpoints"] if running else None,
                     "state_dir": str(_state_dir(None)), "time_scale": s.time_scale},
        "bucket": f"gs://{s.bucket_name}",
        "build": {"id": bid, "url": url},
        "instance_template": tpl,
        "region_instance_group_manager": mig_body(s, tpl["name"], _project(s)),
        "preemptions": {"pattern": s.pattern, "rate_per_hour": s.rate, "trace": s.trace},
    }


def up(settings: StackSettings, trainer_config: dict, *, state_dir: Path | None = None,
       fleet: dict | None = None, seed: int = 0) -> dict:
    """Create the local stack. Returns endpoints(). Raises when a stack is already up."""
    s = settings.check_up()
    if not s.run_id:
        s.run_id = trainer_config.get("run_id")
    if not s.run_id:
        raise SpotShieldError("up needs a run id (settings.run_id or trainer_config['run_id'])")
    state_dir = _state_dir(state_dir)
    existing = _read_stack(state_dir)
    rec = daemon.read_state(state_dir)
    if existing and rec:
        raise SpotShieldError(f"a local stack is already up ({existing['mig']}, run {existing['run_id']}); "
                              "run 'spotshield down' first")
    project = _project(s)
    if rec is None:
        rec = daemon.start(state_dir, time_scale=s.time_scale, pattern=s.pattern, rate=s.rate, trace=s.trace,
                           seed=seed, project=project, region=s.region, zones=list(s.zones), fleet=fleet)
    else:
        if rec["project"] != project or rec["region"] != s.region:
            raise SpotShieldError(f"the running emulator serves {rec['project']}/{rec['region']}, not "
                                  f"{project}/{s.region}; stop it with 'spotshield local stop'")
        daemon.request(rec, "POST", "/spotshield/v1/injector", {"pattern": s.pattern, "rate": s.rate,
                                                                 "trace": s.trace, "seed": seed,
                                                                 "time_scale": s.time_scale})
    storage, compute = rec["endpoints"]["storage"], rec["endpoints"]["compute"]
    _create_bucket(storage, s.bucket_name, project)
    from spotshield import buildinfo

    with _storage_env(storage):
        build_url, build_id = buildinfo.publish(s.bucket_name)
    items = metadata_items(s, trainer_config, build_url, build_id)
    tpl = template_body(s, items)
    templates, migs = _clients(compute)
    from google.api_core import exceptions as gexc

    try:
        migs.get(project=project, region=s.region, instance_group_manager=s.mig_name, timeout=_CALL_TIMEOUT_S)
        raise SpotShieldError(f"group {s.mig_name} already exists in the emulator; run 'spotshield down' first")
    except gexc.NotFound:
        pass
    from google.cloud import compute_v1

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
    _write_stack(state_dir, {"project": project, "region": s.region, "mig": s.mig_name, "template": tpl["name"],
                             "run_id": s.run_id, "bucket": s.bucket_name, "build_id": build_id,
                             "build_url": build_url})
    return endpoints(state_dir)


def _create_bucket(storage_url: str, bucket: str, project: str) -> None:
    from spotshield.local.gcs import GCSServer

    GCSServer(pid=0, port=int(storage_url.rsplit(":", 1)[1]), root=Path()).create_bucket(bucket)


def down(delete_checkpoints: bool = False, *, state_dir: Path | None = None) -> dict:
    """Delete the group and template, stop the emulator. Checkpoints stay unless asked."""
    state_dir = _state_dir(state_dir)
    stack = _read_stack(state_dir)
    rec = daemon.read_state(state_dir)
    if stack is None and rec is None:
        daemon.stop(state_dir)  # clears any orphan a crashed daemon left
        raise SpotShieldError("nothing is up on the local backend (no emulator running)")
    deleted = []
    if rec is not None and stack is not None:
        from google.api_core import exceptions as gexc

        templates, migs = _clients(rec["endpoints"]["compute"])
        try:
            migs.delete_unary(project=stack["project"], region=stack["region"],
                              instance_group_manager=stack["mig"], timeout=_CALL_TIMEOUT_S)
            deleted.append(stack["mig"])
        except gexc.NotFound:
            pass
        except gexc.GoogleAPICallError as e:
            raise SpotShieldError(f"emulator Compute API: delete group: {getattr(e, 'message', e)}") from None
        _wait_members_gone(rec, stack)
        try:
            templates.delete_unary(project=stack["project"], instance_template=stack["template"],
                                   timeout=_CALL_TIMEOUT_S)
            deleted.append(stack["template"])
        except gexc.NotFound:
            pass
        if delete_checkpoints:
            _delete_run(rec["endpoints"]["storage"], stack["bucket"], stack["run_id"])
    daemon.stop(state_dir)
    (state_dir / STACK_FILE).unlink(missing_ok=True)
    return {"deleted": deleted, "checkpoints_deleted": bool(delete_checkpoints)}


def _wait_members_gone(rec: dict, stack: dict, timeout_s: float = daemon.STOP_TIMEOUT_S) -> None:
    """Instances get their shutdown (emergency checkpoint) before the daemon goes away."""
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        st = daemon.request(rec, "GET", "/spotshield/v1/status")
        if not [i for i in st["instances"] if i["mig"] == stack["mig"]]:
            return
        time.sleep(0.2)


def _delete_run(storage_url: str, bucket: str, run_id: str) -> None:
    from spotshield.storage import open_store

    with _storage_env(storage_url):
        for prefix in (f"runs/{run_id}",):
            store = open_store(f"gs://{bucket}/{prefix}")
            for key in store.list():
                store.delete(key)


def endpoints(state_dir: Path | None = None) -> dict:
    """{"compute": url, "storage": url, "project": ..., "region": ...}; raises when nothing runs."""
    rec = daemon.read_state(_state_dir(state_dir))
    if rec is None:
        raise SpotShieldError("the local emulator is not running; start it with 'spotshield up' or 'spotshield local start'")
    return {**rec["endpoints"], "project": rec["project"], "region": rec["region"]}


def cost(run_id: str | None = None, *, state_dir: Path | None = None) -> dict:
    """The emulator's cost meter: spot_usd, on_demand_usd, savings_pct, hours, runs, instances."""
    rec = daemon.read_state(_state_dir(state_dir))
    if rec is None:
        raise SpotShieldError("the local emulator is not running; no cost meter to read")
    path = "/spotshield/v1/cost" + (f"?run_id={run_id}" if run_id else "")
    return daemon.request(rec, "GET", path)


def _read_stack(state_dir: Path) -> dict | None:
    try:
        return json.loads((state_dir / STACK_FILE).read_text())
    except (OSError, ValueError):
        return None


def _write_stack(state_dir: Path, rec: dict) -> None:
    tmp = state_dir / (STACK_FILE + ".tmp")
    tmp.write_text(json.dumps(rec, indent=2))
    os.replace(tmp, state_dir / STACK_FILE)
