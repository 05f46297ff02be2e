"""Spot stockouts per zone and the on-demand group, through the Compute API as GCE shows them."""
from __future__ import annotations

import pytest
from google.cloud import compute_v1

from spotshield.errors import SpotShieldError
from spotshield.local.capacity import parse_spec
from spotshield.local.testing import compute_clients, wait_for
from spotshield.spot_traces import SpotTrace

R = "us-central1"
ZONES = ["us-central1-a", "us-central1-b", "us-central1-c"]


def make_group(region, name, model="SPOT", size=1):
    c = compute_clients(region)
    sched = (compute_v1.Scheduling(provisioning_model="SPOT", preemptible=True, instance_termination_action="STOP")
             if model == "SPOT" else compute_v1.Scheduling(provisioning_model="STANDARD"))
    c["templates"].insert_unary(project=region.project, instance_template_resource=compute_v1.InstanceTemplate(
        name=f"{name}-tpl", properties=compute_v1.InstanceProperties(
            machine_type="g2-standard-4", scheduling=sched,
            guest_accelerators=[compute_v1.AcceleratorConfig(accelerator_type="nvidia-l4", accelerator_count=1)],
            metadata=compute_v1.Metadata(items=[compute_v1.Items(key="spotshield-run-id", value="r1")]))))
    c["migs"].insert_unary(project=region.project, region=R, instance_group_manager_resource=compute_v1.InstanceGroupManager(
        name=name, base_instance_name=name, target_size=size, instance_template=f"global/instanceTemplates/{name}-tpl"))
    return c


def managed(c, region, name):
    return list(c["migs"].list_managed_instances(project=region.project, region=R, instance_group_manager=name))


def running(c, region, name):
    ms = managed(c, region, name)
    return ms if ms and all(m.instance_status == "RUNNING" for m in ms) else None


def test_a_spot_group_in_a_dry_region_waits_in_creating_with_a_stockout_error_and_no_bill(region):
    for z in ZONES:
        region.capacity.set(z, False)
    c = make_group(region, "spot")
    ms = wait_for(lambda: managed(c, region, "spot"), 10, what="a managed instance")
    m = ms[0]
    assert m.current_action == "CREATING" and not m.instance_status
    assert m.last_attempt.errors.errors[0].code == "ZONE_RESOURCE_POOL_EXHAUSTED"
    errors = list(c["migs"].list_errors(project=region.project, region=R, instance_group_manager="spot"))
    assert errors and errors[0].error.code == "ZONE_RESOURCE_POOL_EXHAUSTED"
    assert errors[0].instance_action_details.action == "CREATING"
    zone = m.instance.split("/zones/")[1].split("/")[0]
    assert list(c["instances"].list(project=region.project, zone=zone)) == []  # no instance exists
    region.cost.update()
    assert region.cost.report()["hours"] == 0.0  # nothing to bill
    # capacity returns in one zone: the group creates the VM there (target shape ANY), and it runs
    region.capacity.set("us-central1-b", True)
    ms = wait_for(lambda: running(c, region, "spot"), 20, what="the VM once capacity is back")
    assert "/zones/us-central1-b/" in ms[0].instance and not ms[0].last_attempt.errors.errors
    assert len(list(c["migs"].list_errors(project=region.project, region=R, instance_group_manager="spot"))) == 1


def test_a_zone_running_dry_preempts_its_spot_vm_and_the_repair_waits_for_capacity(region):
    for z in ZONES[1:]:
        region.capacity.set(z, False)
    c = make_group(region, "spot")
    wait_for(lambda: running(c, region, "spot"), 20, what="RUNNING")
    inst = next(iter(region.backend.instances.values()))
    # RUNNING comes before the guest's trainer has its SIGTERM handler (a loaded machine's Python
    # start-up): wait for its /healthz, which it serves after the handler is in place
    wait_for(lambda: (rt := region.fleet.vms.runtime(inst)) is not None and region.fleet.vms.healthy(rt), 30,
             what="the guest's /healthz")
    region.capacity.set("us-central1-a", False)
    wait_for(lambda: inst.status == "TERMINATED", 20, what="the stockout's preemption")
    assert inst.preempted and inst.exit_code == 75
    assert [h["cause"] for h in region.preemptions if h.get("cause")] == ["stockout"]
    m = wait_for(lambda: [m for m in managed(c, region, "spot") if not m.instance_status], 20,
                 what="the repair waiting for capacity")[0]
    assert m.current_action in ("CREATING", "RECREATING")
    assert m.last_attempt.errors.errors[0].code == "ZONE_RESOURCE_POOL_EXHAUSTED"


def test_the_on_demand_group_ignores_stockouts_is_never_preempted_and_bills_on_demand(region):
    for z in ZONES:
        region.capacity.set(z, False)
    c = make_group(region, "od", model="STANDARD")
    wait_for(lambda: running(c, region, "od"), 20, what="an on-demand VM in a dry region")
    inst = next(iter(region.backend.instances.values()))
    assert region.injector.fire()["outcome"] == "skipped"  # the injector finds no Spot VM to take
    assert not region.fleet.preempt(inst) and inst.status == "RUNNING"
    wait_for(lambda: (region.cost.update() or region.cost.report()["hours"]) > 0.01, 20, what="billed time")
    rep = region.cost.report()
    row = rep["instances"][0]
    assert row["provisioning"] == "STANDARD" and row["spot_usd"] == 0.0
    assert row["on_demand_vm_usd"] == pytest.approx(row["on_demand_same_hours_usd"], rel=1e-6)
    assert rep["spent_usd"] > 0 and rep["spent_usd"] == pytest.approx(rep["on_demand_same_hours_usd"], rel=1e-6)


def test_a_trace_drives_a_zone_on_the_emulated_clock(region):
    # 10 emulated minutes of capacity, then 5 without: at 60x that is 10 s then 5 s real
    trace = SpotTrace("made-up", 1800.0, ((600.0, 900.0),))
    region.capacity.set("us-central1-a", trace, offset_s=595.0)
    assert region.capacity.available("us-central1-a")
    wait_for(lambda: not region.capacity.available("us-central1-a"), 5, what="the stretch without capacity")
    wait_for(lambda: region.capacity.available("us-central1-a"), 10, what="capacity back")
    assert region.capacity.config()["us-central1-a"]["trace"] == "made-up"


def test_capacity_specs_are_checked_in_one_line():
    assert parse_spec(None, ZONES) == {}
    assert parse_spec({"us-central1-a": False}, ZONES) == {"us-central1-a": (False, 0.0)}
    spec = parse_spec({"us-central1-b": {"trace": "aws-04-22-2023_us-west-2b_v100_1", "offset_s": 60}}, ZONES)
    assert spec["us-central1-b"][1] == 60.0 and spec["us-central1-b"][0].span_s > 0
    assert set(parse_spec("aws-04-22-2023_us-west-2b_v100_1", ZONES)) == set(ZONES)
    for bad, msg in (({"europe-west1-b": True}, "not in this region"), ({"us-central1-a": 3}, "must be true"),
                     ({"us-central1-a": {"trace": "aws-04-22-2023_us-west-2b_v100_1", "offset_s": -1}}, ">= 0"),
                     ("no-such-trace", "not found"), (["x"], "trace name or path")):
        with pytest.raises(SpotShieldError, match=msg) as e:
            parse_spec(bad, ZONES)
        assert "\n" not in str(e.value)
