"""Status with a deadline: the deadline, the slack, where the job runs now, and on-demand VMs billed as such."""
from __future__ import annotations

import json

import pytest
from runs import emit
from test_collect import RUN, record
from test_render import text_of

from spotshield.events import EventLog
from spotshield.layout import DEADLINE_KEY
from spotshield.status.collect import collect
from spotshield.status.render import render
from spotshield.storage import open_store


def deadline_record(bucket, gcs_url, compute_url, deadline=5000.0, scale=60.0):
    rec = record(bucket, gcs_url, compute_url, backend="local")
    rec.time_scale = scale
    rec.deadline = {"text": "8h", "start": 1000.0, "deadline": deadline, "time_scale": scale,
                    "policy": "uniform-progress", "on_demand_mig": "fleet-od-mig", "on_demand_base": "fleet-od-",
                    "controller": {"runs": "a process beside the emulator", "pid": 1}}
    return rec


def two_groups(region, spot_capacity: bool):
    from emulated_region import PROJECT, REGION

    region.create_fleet("fleet-mig", 1)
    b = region.backend
    b.spot_capacity = lambda zone: spot_capacity
    b.insert_template(PROJECT, {"name": "fleet-od-tpl", "properties": {
        "machineType": "g2-standard-4", "scheduling": {"provisioningModel": "STANDARD"}}})
    b.insert_mig(PROJECT, REGION, {"name": "fleet-od-mig", "instanceTemplate": "global/instanceTemplates/fleet-od-tpl",
                                   "targetSize": 1, "baseInstanceName": "fleet-od"})
    with b.lock:
        for m in b.migs.values():
            inst = b.new_member(m)
            if inst.exists:
                for status in ("STAGING", "RUNNING"):
                    b.transition(inst, status)
    return b.members("fleet-od-mig")[0].name


START = dict(strategy="adaptive", model="tiny-cnn", data="digits", epochs=4, total_steps=1000, device="cpu", pid=1)


def write_spot_then_on_demand(store, spot_host, od_host, t0=2000.0):
    """A spot boot to step 300, preempted; an on-demand boot resumes and goes on to 600."""
    a = EventLog(store, RUN, spot_host, "b1")
    emit(a, t0, "vm_boot")
    emit(a, t0 + 5, "start", **START)
    emit(a, t0 + 35, "step", step=300, epoch=1, loss=0.5, images_per_s=600.0)
    emit(a, t0 + 40, "preempt_notice", step=300, source="sigterm")
    emit(a, t0 + 41, "exit", step=300, code=75, reason="preempted")
    b = EventLog(store, RUN, od_host, "b2")
    emit(b, t0 + 60, "vm_boot")
    emit(b, t0 + 65, "start", **START)
    emit(b, t0 + 66, "resume", from_step=300, epoch=1, checkpoint="ckpt/step-000300", seconds_lost=0.0, steps_lost=0)
    emit(b, t0 + 96, "step", step=600, epoch=2, loss=0.3, images_per_s=600.0)


TICK = {"t": 2090.0, "slack_s": 9000.0, "remaining_work_s": 2400.0, "remaining_time_s": 11400.0, "progress": 0.6,
        "expected_progress": 0.35, "running": "on_demand", "zone": None, "decision": "on_demand",
        "decision_zone": None, "reason": "on-demand until ahead of uniform progress by 2d", "held": False,
        "restart_s": 600.0, "finished": False, "error": None,
        "moves": [{"t": 2001.0, "to": "spot:us-central1-a", "reason": "spot has capacity"},
                  {"t": 2045.0, "to": "on_demand", "reason": "behind uniform progress: on-demand to catch up"}]}


def test_deadline_slack_and_where_it_runs_now(gcs_bucket, gcs_server, region):
    od_host = two_groups(region, spot_capacity=False)
    rec = deadline_record(gcs_bucket, gcs_server.url, region.url)
    store = open_store(rec.store)
    write_spot_then_on_demand(store, "fleet-vm-gone", od_host)
    store.write(DEADLINE_KEY, json.dumps(TICK).encode())
    d = collect(rec, now=2100.0)
    assert d["problems"] == []
    by_group = {i["group"]: i for i in d["instances"]}
    assert by_group["on-demand"]["status"] == "RUNNING"
    assert by_group["spot"]["error"] == "ZONE_RESOURCE_POOL_EXHAUSTED" and by_group["spot"]["action"] == "CREATING"
    dl = d["deadline"]
    assert dl["where"] == "on-demand" and dl["met"] is None
    assert dl["left_s"] == pytest.approx((5000.0 - 2100.0) * 60)  # emulated seconds
    assert dl["tick"]["slack_s"] == 9000.0 and dl["tick"]["age_s"] == 10.0
    assert [m["to"] for m in dl["moves"]] == ["spot:us-central1-a", "on_demand"]
    # the on-demand boot is billed at the on-demand price, the spot boot at the spot price
    c = d["cost"]
    assert c["on_demand_vm_s"] == pytest.approx(36.0) and c["on_demand_vm_usd"] > 0 and c["spot_usd"] > 0
    assert c["spent_usd"] == pytest.approx(c["spot_usd"] + c["on_demand_vm_usd"], abs=1e-4)
    out = text_of(render(d), width=140)
    for needle in ("Deadline", "where now   on-demand", "slack       emulated 2h30m", "60% done vs 35% at a uniform pace",
                   "uniform-progress: on_demand (on-demand until ahead of uniform progress by 2d)",
                   "spot:us-central1-a -> on_demand", "on-demand VMs)", "no capacity", "on-demand fallback"):
        assert needle in out, needle


def test_waiting_for_spot_and_a_deadline_met(gcs_bucket, gcs_server, region):
    region.create_fleet("fleet-mig", 1)
    region.backend.spot_capacity = lambda zone: False
    with region.backend.lock:
        region.backend.new_member(region.backend.migs["fleet-mig"])
    rec = deadline_record(gcs_bucket, gcs_server.url, region.url)
    d = collect(rec, now=2100.0)
    assert d["deadline"]["where"] == "waiting for spot (ZONE_RESOURCE_POOL_EXHAUSTED)"
    assert d["deadline"]["tick"] is None
    assert "no decision yet" in text_of(render(d), width=140)
    store = open_store(rec.store)
    log = EventLog(store, RUN, "fleet-vm-x", "b1")
    emit(log, 2000.0, "start", **{**START, "total_steps": 10})
    emit(log, 2010.0, "done", step=10, epoch=4, accuracy=0.9, final_path="final/model.pt")
    done = collect(rec, now=2100.0)["deadline"]
    assert done["met"] is True and done["where"] == "done"
    late = deadline_record(gcs_bucket, gcs_server.url, region.url, deadline=2005.0)
    assert collect(late, now=2100.0)["deadline"]["met"] is False


def test_no_deadline_no_deadline_section(gcs_bucket, gcs_server, region):
    region.create_fleet("fleet-mig", 1)
    region.fill()
    d = collect(record(gcs_bucket, gcs_server.url, region.url), now=2100.0)
    assert d["deadline"] is None and "Deadline" not in text_of(render(d))
    assert {i["group"] for i in d["instances"]} == {"spot"}
