"""The local backend API the CLI calls: plan, up, endpoints, cost, down."""
from __future__ import annotations

import json
import os

import pytest

from spotshield.errors import SpotShieldError
from spotshield.local import backend, daemon
from spotshield.local.testing import compute_clients, pid_alive, wait_for
from spotshield.settings import StackSettings
from tests.local.test_daemon import FLEET, Handle

CONTRACT_KEYS = {"spotshield-run-id", "spotshield-store", "spotshield-build-url", "spotshield-build-id",
                 "spotshield-config", "spotshield-health-port", "spotshield-mig", "spotshield-region",
                 "spotshield-crash-loop-boots"}


@pytest.fixture
def state(tmp_path):
    yield tmp_path / "local"
    daemon.stop(tmp_path / "local")


def settings(**kw):
    base = dict(name="ss", run_id="adaptive-test-1", fleet_size=1, pattern="none", rate=0, time_scale=60)
    base.update(kw)
    return StackSettings(**base)


def test_plan_starts_nothing(state):
    p = backend.plan(settings(fleet_size=2))
    assert p["region_instance_group_manager"]["targetSize"] == 2
    sched = p["instance_template"]["properties"]["scheduling"]
    assert sched["provisioningModel"] == "SPOT" and sched["instanceTerminationAction"] == "STOP"
    keys = {i["key"] for i in p["instance_template"]["properties"]["metadata"]["items"]}
    assert keys == CONTRACT_KEYS
    assert p["build"]["url"].startswith("gs://spotshield-local/builds/spotshield-0.1.0-")
    assert daemon.read_state(state) is None


def test_up_down(state):
    cfg = {"run_id": "adaptive-test-1", "store": "gs://spotshield-local/runs/adaptive-test-1", "epochs": 1}
    ep = backend.up(settings(), cfg, state_dir=state, fleet=FLEET)
    assert ep["compute"].startswith("http://127.0.0.1:") and ep["storage"].startswith("http://127.0.0.1:")
    assert backend.endpoints(state) == ep
    rec = daemon.read_state(state)
    h = Handle(rec)
    c = compute_clients(h)
    mig = c["migs"].get(project="spotshield-local", region="us-central1", instance_group_manager="ss-mig")
    assert mig.target_size == 1 and mig.base_instance_name == "ss-vm"
    assert mig.auto_healing_policies[0].initial_delay_sec == 900
    tpl = c["templates"].get(project="spotshield-local", instance_template=mig.instance_template.rsplit("/", 1)[1])
    items = {i.key: i.value for i in tpl.properties.metadata.items}
    assert set(items) == CONTRACT_KEYS and json.loads(items["spotshield-config"]) == cfg
    assert items["spotshield-store"] == cfg["store"] and items["spotshield-mig"] == "ss-mig"
    assert tpl.properties.scheduling.provisioning_model == "SPOT"
    assert tpl.properties.guest_accelerators[0].accelerator_type == "nvidia-l4"
    # the build is in the bucket under builds/, with the id the metadata names
    from spotshield.storage import open_store

    os.environ["STORAGE_EMULATOR_HOST"] = ep["storage"]
    try:
        keys = open_store("gs://spotshield-local").list("builds")
    finally:
        del os.environ["STORAGE_EMULATOR_HOST"]
    assert keys == ["builds/" + items["spotshield-build-url"].rsplit("/", 1)[1]]
    # an instance runs; cost accrues for this run
    wait_for(lambda: [m for m in c["migs"].list_managed_instances(
        project="spotshield-local", region="us-central1", instance_group_manager="ss-mig")
        if m.instance_status == "RUNNING"], 30, what="a RUNNING member")
    wait_for(lambda: backend.cost(state_dir=state)["hours"] > 0, 10, what="cost")
    assert backend.cost("adaptive-test-1", state_dir=state)["runs"]["adaptive-test-1"]["instances"] == 1
    pids = daemon.request(rec, "GET", "/spotshield/v1/status")["instance_pids"]
    with pytest.raises(SpotShieldError, match="already up"):
        backend.up(settings(), cfg, state_dir=state, fleet=FLEET)
    out = backend.down(state_dir=state)
    assert "ss-mig" in out["deleted"] and not out["checkpoints_deleted"]
    assert daemon.read_state(state) is None
    assert not pid_alive(rec["pid"]) and not any(pid_alive(p) for p in pids)
    assert (state / "gcs" / "spotshield-local").is_dir()  # the bucket's files stay on disk
    with pytest.raises(SpotShieldError, match="nothing is up"):
        backend.down(state_dir=state)
    with pytest.raises(SpotShieldError, match="not running"):
        backend.endpoints(state)


def test_bad_settings_fail_before_starting(state):
    with pytest.raises(SpotShieldError, match="unknown preemption pattern"):
        backend.up(settings(pattern="weekly"), {"run_id": "x"}, state_dir=state)
    with pytest.raises(SpotShieldError, match="rate must be >= 0"):
        backend.up(settings(pattern="poisson", rate=-1), {"run_id": "x"}, state_dir=state)
    assert daemon.read_state(state) is None
