"""The fleet controller boots, preempts, repairs, heals and deletes real process groups."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from google.cloud import compute_v1

from spotshield.local.testing import compute_clients, pid_alive, wait_for

R = "us-central1"


def make_fleet(region, size=1, attrs=None, autoheal_s=None, name="fleet"):
    c = compute_clients(region)
    items = {"spotshield-run-id": "r1", "spotshield-mig": name, "spotshield-region": R, **(attrs or {})}
    c["templates"].insert_unary(project=region.project, instance_template_resource=compute_v1.InstanceTemplate(
        name=f"{name}-tpl", properties=compute_v1.InstanceProperties(
            machine_type="g2-standard-4",
            guest_accelerators=[compute_v1.AcceleratorConfig(accelerator_type="nvidia-l4", accelerator_count=1)],
            scheduling=compute_v1.Scheduling(provisioning_model="SPOT", instance_termination_action="STOP"),
            metadata=compute_v1.Metadata(items=[compute_v1.Items(key=k, value=v) for k, v in items.items()]))))
    mig = compute_v1.InstanceGroupManager(name=name, base_instance_name=name, target_size=size,
                                          instance_template=f"global/instanceTemplates/{name}-tpl")
    if autoheal_s is not None:
        mig.auto_healing_policies = [compute_v1.InstanceGroupManagerAutoHealingPolicy(
            health_check="global/healthChecks/hc", initial_delay_sec=autoheal_s)]
    c["migs"].insert_unary(project=region.project, region=R, instance_group_manager_resource=mig)
    return c


def managed(c, region, name="fleet"):
    return list(c["migs"].list_managed_instances(project=region.project, region=R, instance_group_manager=name))


def running(c, region, n, name="fleet"):
    ms = managed(c, region, name)
    return ms if len(ms) == n and all(m.instance_status == "RUNNING" for m in ms) else None


def boot_record(region, inst):
    rt = region.fleet._runtime(inst)
    p = rt.home / "boot.json" if rt else None
    return json.loads(p.read_text()) if p and p.exists() else None


def test_boot_contract_and_group_size(region):
    c = make_fleet(region, size=2)
    ms = wait_for(lambda: running(c, region, 2), 20, what="2 RUNNING members")
    assert {m.current_action for m in ms} == {"NONE"}
    insts = list(region.backend.instances.values())
    recs = [wait_for(lambda i=i: boot_record(region, i), 20, what="boot.json") for i in insts]
    for inst, rec in zip(insts, recs):
        assert rec["name"] == inst.name and rec["run_id"] == "r1" and rec["project"] == region.project
        assert rec["GCE_METADATA_HOST"].startswith("127.0.0.1:")
        assert rec["STORAGE_EMULATOR_HOST"] == region.storage_url
        assert rec["SPOTSHIELD_COMPUTE_ENDPOINT"] == region.compute_url
        assert rec["SPOTSHIELD_HOST"] == inst.name and rec["SPOTSHIELD_BOOT"]
        assert Path(rec["SPOTSHIELD_HOME"]).is_dir() and rec["SPOTSHIELD_PYTHON"]
        assert rec["pgid"] == rec["pid"]  # its own process group
    assert recs[0]["SPOTSHIELD_HEALTH_PORT"] != recs[1]["SPOTSHIELD_HEALTH_PORT"]
    assert recs[0]["SPOTSHIELD_HOME"] != recs[1]["SPOTSHIELD_HOME"]
    # the serial console is the Compute API's getSerialPortOutput
    out = c["instances"].get_serial_port_output(project=region.project, zone=insts[0].zone, instance=insts[0].name)
    assert "workload up" in out.contents


def test_preemption_then_repair(region):
    c = make_fleet(region, size=1)
    wait_for(lambda: running(c, region, 1), 20, what="RUNNING")
    inst = next(iter(region.backend.instances.values()))
    first = wait_for(lambda: boot_record(region, inst), 20, what="boot.json")
    home = Path(first["SPOTSHIELD_HOME"])
    assert region.injector.fire()["outcome"] == "preempted"
    assert inst.status in ("STOPPING", "TERMINATED")
    wait_for(lambda: inst.status == "TERMINATED", 15, what="TERMINATED")
    assert inst.exit_code == 75 and inst.preempted
    # the guest saw SIGTERM after metadata said preempted (shutdown.sh or the OS sent it)
    marker = home / f"sigterm-{first['SPOTSHIELD_BOOT']}"
    assert marker.read_text() == "TRUE"
    assert not pid_alive(first["pid"])
    ops = list(c["zone_ops"].list(request=compute_v1.ListZoneOperationsRequest(
        project=region.project, zone=inst.zone, filter='operationType="compute.instances.preempted"')))
    assert [o.target_id for o in ops] == [int(inst.id)]
    # the group repairs it: same name, new id, fresh disk, RUNNING again with a new boot id
    fresh = wait_for(lambda: (lambda i: i if i is not inst and i.status == "RUNNING" else None)(
        region.backend.instances.get(inst.key)), 20, what="repair")
    second = wait_for(lambda: boot_record(region, fresh), 20, what="second boot")
    assert fresh.name == inst.name and fresh.id != inst.id
    assert second["SPOTSHIELD_BOOT"] != first["SPOTSHIELD_BOOT"] and second["preempted"] == "FALSE"
    assert [e["what"] for e in region.fleet.events if e["instance"] == inst.name][:4] == ["create", "boot", "preempt", "stopped"]


def test_resize_to_zero_deletes_and_leaves_no_process(region):
    c = make_fleet(region, size=2)
    wait_for(lambda: running(c, region, 2), 20, what="2 RUNNING")
    pids = region.fleet.pids()
    assert len(pids) == 2 and all(pid_alive(p) for p in pids)
    c["migs"].resize_unary(project=region.project, region=R, instance_group_manager="fleet", size=0)
    wait_for(lambda: not region.backend.instances, 20, what="members deleted")
    wait_for(lambda: not any(pid_alive(p) for p in pids), 10, what="processes gone")
    assert managed(c, region) == []


def test_done_guest_is_not_recreated(region):
    c = make_fleet(region, size=1, attrs={"test-mode": "finish", "test-finish-s": "0.5"})
    wait_for(lambda: running(c, region, 1), 20, what="RUNNING")
    inst = next(iter(region.backend.instances.values()))
    wait_for(lambda: not region.backend.instances, 20, what="group emptied by the guest")
    # exit 0, or 75 when the deletion the resize started reaches it first (as on GCE)
    assert inst.exit_code in (0, 75) and inst.status == "TERMINATED"
    assert c["migs"].get(project=region.project, region=R, instance_group_manager="fleet").target_size == 0
    assert [e["what"] for e in region.fleet.events].count("boot") == 1


def test_autohealing_recreates_an_unhealthy_member(region):
    c = make_fleet(region, size=1, attrs={"test-mode": "unhealthy"}, autoheal_s=30)
    wait_for(lambda: running(c, region, 1), 20, what="RUNNING")
    inst = next(iter(region.backend.instances.values()))
    wait_for(lambda: any(e["what"] == "unhealthy" for e in region.fleet.events), 30, what="health check failure")
    fresh = wait_for(lambda: (lambda i: i if i is not None and i is not inst else None)(
        region.backend.instances.get(inst.key)), 20, what="recreation")
    assert fresh.name == inst.name and inst.health == "UNHEALTHY"


def test_healthy_member_is_left_alone(region):
    c = make_fleet(region, size=1, autoheal_s=30)
    wait_for(lambda: running(c, region, 1), 20, what="RUNNING")
    inst = next(iter(region.backend.instances.values()))
    wait_for(lambda: inst.health == "HEALTHY", 20, what="a passing health check")
    assert not any(e["what"] == "unhealthy" for e in region.fleet.events)
    assert managed(c, region)[0].instance_health[0].detailed_health_state == "HEALTHY"


def test_cost_meter_charges_running_time(region):
    c = make_fleet(region, size=1)
    wait_for(lambda: running(c, region, 1), 20, what="RUNNING")
    import time as _t
    _t.sleep(1.0)
    rep = region.cost.report()
    assert rep["hours"] > 0.5 / 60  # >= 1 real s at 60x = 1 emulated minute
    assert rep["clock"] == "emulated" and rep["time_scale"] == 60.0
    assert 0 < rep["spot_usd"] < rep["on_demand_same_hours_usd"]
    assert rep["spot_usd"] / rep["on_demand_same_hours_usd"] == pytest.approx((0.0585 + 0.2231) / (0.14679 + 0.56004),
                                                                              rel=1e-3)
    assert rep["price_discount_pct"] == 60.2  # the bare price discount, under its own name
    assert rep["runs"]["r1"]["instances"] == 1
    inst = next(iter(region.backend.instances.values()))
    live = {i.key: i.value for i in c["instances"].get(project=region.project, zone=inst.zone,
                                                       instance=inst.name).metadata.items}
    assert json.loads(live["spotshield-cost"])["spot_usd"] > 0


def test_stopping_the_region_shuts_guests_down_gracefully(tmp_path):
    """Stopping the emulator is a VM deletion: SIGTERM first (emergency checkpoint), no orphan."""
    from spotshield.local.emulator import local_region
    from tests.local.conftest import FAST

    with local_region(tmp_path / "r", **FAST) as region:
        c = make_fleet(region, size=1)
        wait_for(lambda: running(c, region, 1), 20, what="RUNNING")
        inst = next(iter(region.backend.instances.values()))
        rec = wait_for(lambda: boot_record(region, inst), 20, what="boot.json")
    assert (Path(rec["SPOTSHIELD_HOME"]) / f"sigterm-{rec['SPOTSHIELD_BOOT']}").exists()
    assert not pid_alive(rec["pid"])


def test_trace_stockout_delays_the_repair(region):
    """A trace row's unavailable_for_s keeps the preempted member down that long (emulated)."""
    import time as _t

    from spotshield.local.injector import Event

    c = make_fleet(region, size=1)
    wait_for(lambda: running(c, region, 1), 20, what="RUNNING")
    inst = next(iter(region.backend.instances.values()))
    assert region.injector.fire(Event(0.0, unavailable_s=240.0))["outcome"] == "preempted"  # 4 s real at 60x
    wait_for(lambda: inst.status == "TERMINATED", 15, what="TERMINATED")
    down_at = _t.monotonic()
    wait_for(lambda: region.backend.instances.get(inst.key) is not inst, 20, what="repair")
    assert _t.monotonic() - down_at >= 3.5  # not the 1 s default repair delay


def _startup_region(tmp_path, **fleet):
    from spotshield.local.emulator import local_region
    from tests.local.conftest import FAST

    return local_region(tmp_path / "r", time_scale=FAST["time_scale"],
                        fleet={**FAST["fleet"], "guest_time": "real", **fleet})


def startup_events(region):
    return [e for e in region.fleet.events if e["what"] == "startup"]


def test_a_guests_start_up_runs_the_clock_at_1x_until_its_first_step(tmp_path):
    """guest_time real: from power-on until /healthz leaves phase "starting", one emulated second
    per real second (a guest's own start-up is not multiplied by the time scale); then 60x again."""
    with _startup_region(tmp_path) as region:
        c = make_fleet(region, size=1, attrs={"test-starting-s": "2"})
        wait_for(lambda: running(c, region, 1), 20, what="RUNNING")
        assert region.clock.held() and region.clock.rate == 1.0
        assert region.status()["clock"]["guest_time"] == "real"
        ev = wait_for(lambda: startup_events(region), 20, what="the start-up's end")[0]
        assert ev["why"] == "first step" and ev["real_s"] >= 2.0
        assert not region.clock.held() and region.clock.rate == 60.0
        assert region.clock.held_real_s == pytest.approx(ev["real_s"], abs=0.5)


def test_a_guest_that_never_reports_a_step_gets_the_scale_back(tmp_path, monkeypatch):
    from spotshield.local.hypervisor import StartupHold

    monkeypatch.setattr(StartupHold, "MAX_S", 1.0)
    with _startup_region(tmp_path) as region:
        make_fleet(region, size=1, attrs={"test-mode": "unhealthy"})  # no /healthz at all
        ev = wait_for(lambda: startup_events(region), 20, what="the hold's end")[0]
        assert ev["why"] == "no first step reported" and not region.clock.held()


def test_a_preemption_during_start_up_ends_the_hold(tmp_path):
    with _startup_region(tmp_path) as region:
        c = make_fleet(region, size=1, attrs={"test-starting-s": "60"})
        wait_for(lambda: running(c, region, 1), 20, what="RUNNING")
        wait_for(lambda: region.clock.held(), 10, what="the hold")
        assert region.injector.fire()["outcome"] == "preempted"
        ev = startup_events(region)[0]
        assert ev["why"] == "preempted" and not region.clock.held(("startup", ev["boot"]))


def test_a_stop_runs_the_clock_at_1x_until_the_guest_has_exited(tmp_path):
    """guest_time real: the guest's shutdown (shutdown.sh, emergency checkpoint, exit) is its own
    work: from the preemption until it is down, one emulated second per real second."""
    with _startup_region(tmp_path) as region:
        c = make_fleet(region, size=1)
        wait_for(lambda: running(c, region, 1), 20, what="RUNNING")
        wait_for(lambda: not region.clock.held(), 20, what="the start-up's end")
        inst = next(iter(region.backend.instances.values()))
        held_before = region.clock.held_real_s
        assert region.injector.fire()["outcome"] == "preempted"
        assert region.clock.held() and region.clock.rate == 1.0
        wait_for(lambda: inst.status == "TERMINATED", 15, what="TERMINATED")
        wait_for(lambda: not region.clock.held(), 5, what="the stop's end")
        assert region.clock.held_real_s > held_before


def test_scaled_never_holds_the_clock_and_real_is_the_default(region, tmp_path):
    from spotshield.local.hypervisor import FleetConfig

    c = make_fleet(region, size=1, attrs={"test-starting-s": "1"})
    wait_for(lambda: running(c, region, 1), 20, what="RUNNING")
    assert region.fleet.cfg.guest_time == "scaled"
    assert not region.clock.held() and startup_events(region) == []
    # `spotshield up` and `local start` give no guest_time: a guest's own start-up counts 1x there
    assert FleetConfig(state_dir=tmp_path).guest_time == "real"
