"""The local Backend the CLI and the grid runner call: plan, up, endpoints, sources, cost, down."""
from __future__ import annotations

import json
import os

import pytest

from spotshield import backends
from spotshield.bootcontract import METADATA, OPTIONAL
from spotshield.errors import SpotShieldError
from spotshield.local import daemon
from spotshield.local.testing import compute_clients, pid_alive, wait_for
from spotshield.settings import StackSettings
from tests.local.test_daemon import FLEET, Handle, state  # noqa: F401 (state: the emulator's folder fixture)

CONTRACT_KEYS = set(METADATA) - set(OPTIONAL)  # the local backend publishes a build, without a sha256 pin


def local(state, **kw):
    return backends.make("local", state_dir=state, **kw)


def settings(**kw):
    base = dict(name="ss", run_id="adaptive-test-1", fleet_size=1, pattern="none", rate=0, time_scale=60)
    base.update(kw)
    return StackSettings(**base)


def test_command_mode_metadata(tmp_path):
    from spotshield.backends.local import metadata_items

    (tmp_path / "train.py").write_text("")
    s = settings(command="python train.py --epochs 2", workdir=str(tmp_path)).check()
    items = metadata_items(s, {"run_id": s.run_id}, "gs://b/builds/x.tar.gz", "0.1+abc",
                           ("gs://b/workdirs/0123456789abcdef.tar.gz", "cd" * 32))
    assert items["spotshield-command"] == "python train.py --epochs 2"
    assert items["spotshield-workdir-url"] == "gs://b/workdirs/0123456789abcdef.tar.gz"
    assert items["spotshield-workdir-sha256"] == "cd" * 32
    assert set(items) == CONTRACT_KEYS | {"spotshield-command", "spotshield-workdir-url", "spotshield-workdir-sha256"}
    plain = metadata_items(settings(), {"run_id": "r"}, "gs://b/builds/x.tar.gz", "0.1+abc")
    assert set(plain) == CONTRACT_KEYS  # the built-in trainer: no command keys at all


def test_the_template_follows_the_provisioning_model():
    from spotshield.backends.local import template_body

    spot = template_body(settings().check(), {})["properties"]["scheduling"]
    assert spot == {"provisioningModel": "SPOT", "preemptible": True, "automaticRestart": False,
                    "onHostMaintenance": "TERMINATE", "instanceTerminationAction": "STOP"}
    std = template_body(settings(provisioning_model="STANDARD").check(), {})["properties"]["scheduling"]
    assert std == {"provisioningModel": "STANDARD", "preemptible": False, "automaticRestart": True,
                   "onHostMaintenance": "TERMINATE"}  # an L4 VM cannot live-migrate
    cpu = settings(provisioning_model="STANDARD", machine_type="n1-standard-4", gpu_type=None).check()
    assert template_body(cpu, {})["properties"]["scheduling"]["onHostMaintenance"] == "MIGRATE"
    with pytest.raises(SpotShieldError, match="provisioning model must be SPOT or STANDARD"):
        settings(provisioning_model="PREEMPTIBLE").check()


def test_plan_starts_nothing(state):
    p = local(state).plan(settings(fleet_size=2))
    assert p["region_instance_group_manager"]["targetSize"] == 2
    sched = p["instance_template"]["properties"]["scheduling"]
    assert sched["provisioningModel"] == "SPOT" and sched["instanceTerminationAction"] == "STOP"
    keys = {i["key"] for i in p["instance_template"]["properties"]["metadata"]["items"]}
    assert keys == CONTRACT_KEYS
    assert p["build"]["url"].startswith("gs://spotshield-local/builds/spotshield-0.1.0-")
    assert daemon.read_state(state) is None


def test_up_down(state):
    cfg = {"run_id": "adaptive-test-1", "store": "gs://spotshield-local/runs/adaptive-test-1", "epochs": 1}
    b = local(state, fleet=FLEET)
    recorded = []
    stack = b.up(settings(), on_record=recorded.append, trainer_config=cfg)
    assert recorded == [stack] and stack.backend == "local" and stack.time_scale == 60
    assert (stack.run_id, stack.mig, stack.store) == ("adaptive-test-1", "ss-mig", cfg["store"])
    ep = stack.endpoints
    assert ep["compute"].startswith("http://127.0.0.1:") and ep["storage"].startswith("http://127.0.0.1:")
    assert b.endpoints(stack) == {**ep, "project": "spotshield-local", "region": "us-central1"}
    src = b.sources(stack)
    assert src.compute == ep["compute"] and src.env["STORAGE_EMULATOR_HOST"] == ep["storage"]
    assert stack.resources["state_dir"] == str(state.absolute()) and stack.resources["template"].startswith("ss-")
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
    wait_for(lambda: b.cost()["hours"] > 0, 10, what="cost")
    assert b.cost("adaptive-test-1")["runs"]["adaptive-test-1"]["instances"] == 1
    pids = daemon.request(rec, "GET", "/spotshield/v1/status")["instance_pids"]
    with pytest.raises(SpotShieldError, match="already up"):
        b.up(settings(), trainer_config=cfg)
    c["migs"].get(project="spotshield-local", region="us-central1", instance_group_manager="ss-mig")  # untouched
    assert b.down(stack) is None
    assert daemon.read_state(state) is None
    assert not pid_alive(rec["pid"]) and not any(pid_alive(p) for p in pids)
    assert (state / "gcs" / "spotshield-local").is_dir()  # the bucket's files stay on disk
    with pytest.raises(SpotShieldError, match="nothing is up"):
        b.down(None)
    with pytest.raises(SpotShieldError, match="not running"):
        b.endpoints(stack)
    # a record of an emulator that is gone (crashed): down cleans up and says so, for the CLI to clear it
    assert "not running (crashed?)" in b.down(stack)


def test_bad_settings_fail_before_starting(state):
    for bad, msg in ((settings(pattern="weekly"), "unknown preemption pattern"),
                     (settings(pattern="poisson", rate=-1), "rate must be >= 0"),
                     (settings(time_scale=0), "time scale must be > 0")):
        with pytest.raises(SpotShieldError, match=msg):
            local(state).up(bad, trainer_config={"run_id": "x"})
        with pytest.raises(SpotShieldError, match=msg):
            local(state).plan(bad)
    assert daemon.read_state(state) is None


def test_the_built_in_trainer_on_two_vms_gets_the_torchrun_keys_without_command_keys():
    from spotshield.backends.local import metadata_items
    from spotshield.bootcontract import COMMAND_MODE, DISTRIBUTED

    s = settings(fleet_size=2, min_nodes=1).check_up()
    items = metadata_items(s, {"run_id": s.run_id}, "gs://b/builds/x.tar.gz", "0.1+abc", coordinator="127.0.0.1:29400")
    assert [items[k] for k in DISTRIBUTED] == ["127.0.0.1:29400", "1", "2", "1"]  # one gloo worker per emulated VM
    assert not set(COMMAND_MODE) & set(items)  # startup.sh runs spotshield train under torchrun
