"""The real actuator (deadline/gce.py) and the controller service against the emulator's Compute API."""
from __future__ import annotations

import json

import pytest
from google.cloud import compute_v1

from spotshield.deadline.actuator import Placement
from spotshield.deadline.gce import GroupActuator
from spotshield.deadline.service import Service, ServiceConfig
from spotshield.deadline.state import Where
from spotshield.local.testing import compute_clients, wait_for
from spotshield.storage import FileStore

R = "us-central1"
ZONES = ["us-central1-a", "us-central1-b", "us-central1-c"]


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def two_groups(region, spot_size=1):
    c = compute_clients(region)
    for name, sched, size in (("spot", compute_v1.Scheduling(provisioning_model="SPOT", preemptible=True), spot_size),
                              ("od", compute_v1.Scheduling(provisioning_model="STANDARD"), 0)):
        c["templates"].insert_unary(project=region.project, instance_template_resource=compute_v1.InstanceTemplate(
            name=f"{name}-tpl", properties=compute_v1.InstanceProperties(
                machine_type="g2-standard-4", scheduling=sched,
                metadata=compute_v1.Metadata(items=[compute_v1.Items(key="spotshield-run-id", value="r1")]))))
        c["migs"].insert_unary(project=region.project, region=R,
                               instance_group_manager_resource=compute_v1.InstanceGroupManager(
                                   name=name, base_instance_name=name, target_size=size,
                                   instance_template=f"global/instanceTemplates/{name}-tpl"))
    return c


def actuator(region, clock, memory_s=600.0):
    return GroupActuator(region.project, R, "spot", "od", ZONES, endpoint=region.compute_url, clock=clock,
                         stockout_memory_s=memory_s)


def test_observe_sees_spot_then_a_stockout_and_moves_to_on_demand_with_one_writer(region):
    two_groups(region)
    clock = Clock()
    act = actuator(region, clock)
    obs = wait_for(lambda: (o := act.observe()).running == Where.SPOT and o, 20, what="the spot VM")
    assert obs.spot_available[obs.zone] is True and sum(obs.placement.spot.values()) == 1
    assert obs.placement.on_demand == 0
    for z in ZONES:
        region.capacity.set(z, False)
    obs = wait_for(lambda: (o := act.observe()).spot_available[o.zone or ZONES[0]] is False and o, 30,
                   what="the stockout seen through listManagedInstances")
    assert obs.running == Where.NONE and set(obs.spot_available.values()) == {False}
    # move to on-demand: the spot group shrinks first; on-demand grows once no spot VM is left
    assert act.resize(Placement({z: 0 for z in ZONES}, 1)) is True
    wait_for(lambda: act.size("od") == 1 or (act.observe() and act.resize(Placement({z: 0 for z in ZONES}, 1)) and False)
             or act.size("od") == 1, 30, interval_s=0.5, what="the on-demand group grown after the spot one emptied")
    assert act.size("spot") == 0
    obs = wait_for(lambda: (o := act.observe()).running == Where.ON_DEMAND and o, 20, what="the on-demand VM")
    # no spot attempt since: the stockout is remembered for stockout_memory_s of the controller's clock
    assert set(obs.spot_available.values()) == {False}
    clock.t += 600.0
    assert set(act.observe().spot_available.values()) == {True}  # worth another try


def test_growing_waits_while_the_other_group_has_a_vm_that_could_still_train(region):
    two_groups(region)
    act = actuator(region, Clock())
    wait_for(lambda: [m for m in act.members("spot") if m.status == "RUNNING"], 20, what="a RUNNING spot VM")
    act.observe()
    to_od = Placement({z: 0 for z in ZONES}, 1)
    assert act.resize(to_od) is True and act.size("spot") == 0
    wait_for(lambda: act.resize(to_od) or act.size("od") == 1, 30, interval_s=0.2,
             what="the on-demand group grown once the spot VM is gone")
    log = wait_for(lambda: (ev := list(region.fleet.events)) and any(e["instance"].startswith("od-") for e in ev) and ev,
                   10, what="the on-demand VM created")
    spot_gone = max(e["t"] for e in log if e["instance"].startswith("spot-") and e["what"] in ("stopped", "deleted"))
    od_created = min(e["t"] for e in log if e["instance"].startswith("od-") and e["what"] == "create")
    assert spot_gone <= od_created  # never two trainers on one store
    assert act.resize(to_od) is False  # nothing left to change: no call


def test_the_service_ticks_through_the_compute_api_and_writes_its_record(region, tmp_path):
    two_groups(region, spot_size=0)
    store = FileStore(tmp_path / "store")
    import time

    now = time.time()
    cfg = ServiceConfig(project=region.project, region=R, zones=ZONES, spot_mig="spot", on_demand_mig="od",
                        store=f"file://{tmp_path / 'store'}", run_id="r1", start=now, deadline=now + 7200 / 60,
                        work_estimate_s=30.0, restart_s=60.0, time_scale=60.0, compute_endpoint=region.compute_url)
    service = Service(cfg, store=store)
    t = service.once()
    assert t is not None and t.decision.where == Where.SPOT and t.resized  # optimistic: try spot first
    rec = json.loads(store.read("deadline.json"))
    assert rec["decision"] == "spot" and rec["time_scale"] == 60.0 and rec["clock"] == "emulated"
    assert rec["remaining_work_s"] == pytest.approx(30.0 * 60, rel=1e-3)  # 30 real s = 30 emulated min
    assert rec["moves"] and rec["moves"][0]["to"].startswith("spot:")
    wait_for(lambda: service.actuator.size("spot") == 1, 5, what="the spot group asked for one VM")
