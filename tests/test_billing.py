"""spotshield/billing.py: the one price table (exact columns), the billable-time rule and the Bill."""
from __future__ import annotations

import csv
from importlib import resources

import pytest

from spotshield import billing
from spotshield.errors import SpotShieldError

HEADER = ",".join(billing.PRICE_COLUMNS)


def shipped(name: str) -> dict:
    rows = csv.DictReader(resources.files("spotshield").joinpath("prices.csv").read_text().splitlines())
    return next(r for r in rows if r["name"] == name and r["region"] == "us-central1")


def test_hourly_adds_gpus_to_the_machine():
    m, g = shipped("g2-standard-4"), shipped("nvidia-l4")
    rate = billing.hourly("g2-standard-4", "nvidia-l4", 2, "us-central1")
    assert rate.spot == pytest.approx(float(m["spot"]) + 2 * float(g["spot"]))
    assert rate.on_demand == pytest.approx(float(m["on_demand"]) + 2 * float(g["on_demand"]))
    alone = billing.hourly("g2-standard-4", None, 0, "us-central1")
    assert (alone.spot, alone.on_demand) == pytest.approx((float(m["spot"]), float(m["on_demand"])))


def test_estimated_spot_prices_are_marked():
    assert shipped("g2-standard-4")["spot_estimated"] == "true"
    assert billing.hourly("g2-standard-4", "nvidia-l4", 1, "us-central1").spot_estimated is True
    assert billing.hourly("n1-standard-4", "nvidia-tesla-t4", 1, "us-central1").spot_estimated is False


def test_the_default_machines_bare_discount_is_60_2_percent():
    assert billing.hourly("g2-standard-4", "nvidia-l4", 1, "us-central1").price_discount_pct == 60.2


def test_unknown_machine_region_or_gpu_has_no_price():
    assert billing.hourly("z9-mega-1", None, 0, "us-central1") is None
    assert billing.hourly("g2-standard-4", None, 0, "europe-west4") is None
    assert billing.hourly("g2-standard-4", "nvidia-h200", 1, "us-central1") is None
    assert billing.hourly("nvidia-l4", None, 0, "us-central1") is None  # a GPU is not a machine


@pytest.mark.parametrize("text, needle", [
    ("name,region,spot,on_demand\n", "must have the columns"),
    (HEADER.replace("on_demand", "ondemand") + "\n", "must have the columns"),
    (HEADER + "\nm,machine,r,1.0,x,false,s,d\n", "USD per hour"),
    (HEADER + "\nm,vm,r,1.0,0.5,false,s,d\n", "kind must be machine or gpu"),
    (HEADER + "\nm,machine,r,1.0,0.5,maybe,s,d\n", "spot_estimated must be true or false"),
    (HEADER + "\nm,machine,r,1.0,2.0,false,s,d\n", "0 < spot <= on_demand"),
])
def test_a_malformed_table_is_one_clear_line(text, needle):
    with pytest.raises(SpotShieldError, match=needle) as e:
        billing.parse_prices(text)
    assert "\n" not in str(e.value)


def test_resolve_rate_flags_win_and_fill_from_the_table():
    assert billing.resolve_rate(0.25, 0.70) == billing.Rate(0.25, 0.70, False)
    table = billing.hourly("g2-standard-4", "nvidia-l4", 1, "us-central1")
    assert billing.resolve_rate(None, None) == table
    assert billing.resolve_rate(0.1, None) == billing.Rate(0.1, table.on_demand, False)  # the user's spot price
    with pytest.raises(SpotShieldError, match="no price for z9"):
        billing.resolve_rate(None, None, machine="z9")
    with pytest.raises(SpotShieldError, match="must be > 0"):
        billing.resolve_rate(-1, 1)


def test_billable_seconds_sums_each_span():
    assert billing.billable_seconds([(10.0, 40.0), (100.0, 130.0), (5.0, 5.0), (9.0, 7.0)]) == 60.0


def test_bill_spot_spent_on_demand_equivalent_and_savings():
    rate = billing.Rate(spot=0.3, on_demand=1.0)
    bill = billing.Bill(rate, billable_s=90.0, on_demand_s=60.0, time_scale=60.0)
    assert bill.hours == pytest.approx(1.5)  # 90 real s at 60x = 1.5 emulated hours
    assert bill.spot_usd == pytest.approx(0.45) and bill.on_demand_usd == pytest.approx(1.0)
    assert bill.savings_pct == 55.0 and rate.price_discount_pct == 70.0  # savings below the bare discount
    d = bill.to_dict("test")
    assert d["savings_pct"] == 55.0 and d["price_discount_pct"] == 70.0 and d["time_scale"] == 60.0
    assert d["billable_s"] == 90.0 and d["on_demand_s"] == 60.0 and d["source"] == "test"
    # no preemption, no restart: savings are the price discount
    assert billing.Bill(rate, 60.0, 60.0).savings_pct == rate.price_discount_pct
    unknown = billing.Bill(rate, 60.0, None)
    assert unknown.on_demand_usd is None and unknown.savings_pct is None


def test_on_demand_vm_time_is_billed_at_the_on_demand_price():
    rate = billing.Rate(spot=0.3, on_demand=1.0)
    # 90 s billed, 30 of them on an on-demand VM (a deadline's fallback), at 60x
    bill = billing.Bill(rate, billable_s=90.0, on_demand_s=60.0, time_scale=60.0, on_demand_vm_s=30.0)
    assert bill.spot_usd == pytest.approx(0.3 * 1.0) and bill.on_demand_vm_usd == pytest.approx(0.5)
    assert bill.spent_usd == pytest.approx(0.8) and bill.savings_pct == 20.0  # 1 - 0.8 / 1.0
    d = bill.to_dict("test")
    assert d["spent_usd"] == 0.8 and d["on_demand_vm_usd"] == 0.5 and d["on_demand_vm_s"] == 30.0
    # all on-demand VM time, no restart: no saving at all, never a negative "spot" share
    assert billing.Bill(rate, 60.0, 60.0, on_demand_vm_s=60.0).savings_pct == 0.0


def test_bill_for_boots_bills_the_boots_the_caller_names_on_demand():
    from spotshield import boots

    def ev(event, t, host, **f):
        return {"event": event, "t": t, "host": host, "boot": "b", **f}

    evs = [ev("vm_boot", 0, "s-vm-a"), ev("start", 10, "s-vm-a", total_steps=100), ev("step", 40, "s-vm-a", step=30),
           ev("vm_boot", 50, "s-od-b"), ev("resume", 60, "s-od-b", from_step=30), ev("step", 130, "s-od-b", step=100),
           ev("done", 130, "s-od-b", step=100)]
    bs = boots.split_boots(evs)
    rate = billing.Rate(spot=0.36, on_demand=3.6)
    spot_only = billing.Bill.for_boots(rate, bs)
    mixed = billing.Bill.for_boots(rate, bs, on_demand_vm=lambda b: b.host.startswith("s-od-"))
    assert mixed.billable_s == spot_only.billable_s == 120.0 and mixed.on_demand_vm_s == 80.0
    assert mixed.spot_usd == pytest.approx(0.36 * 40 / 3600) and mixed.on_demand_vm_usd == pytest.approx(3.6 * 80 / 3600)
    assert mixed.savings_pct < spot_only.savings_pct


# ---- service VMs: the rendezvous coordinator (issue 13) ------------------------------------------
def _record(**kw):
    from spotshield.backends.record import StackRecord

    base = dict(backend="gcp", name="s", project="p", region="us-central1", zones=["us-central1-a"], mig="s-mig",
                bucket="b", run_id="r", store="gs://b/runs/r", strategy="adaptive", created=1000.0,
                resources={"coordinator_machine_type": billing.COORDINATOR_MACHINE})
    return StackRecord(**{**base, **kw})


def test_the_coordinator_is_billed_on_demand_from_the_stacks_creation_until_done():
    e2 = shipped("e2-small")
    done = [{"event": "step", "t": 1500.0}, {"event": "done", "t": 4600.0}, {"event": "done", "t": 4700.0}]
    (vm,) = billing.service_vms(_record(), done, now=9000.0)
    assert (vm.name, vm.machine_type, vm.billed_s) == ("coordinator", "e2-small", 3600.0)  # until the first done
    assert vm.usd == pytest.approx(float(e2["on_demand"])) and vm.usd_per_h == float(e2["on_demand"])
    (running,) = billing.service_vms(_record(), [{"event": "step", "t": 1500.0}], now=2800.0)
    assert running.billed_s == 1800.0  # no DONE yet: until now
    (local,) = billing.service_vms(_record(backend="local", time_scale=60.0), done, now=0)
    assert local.billed_s == 3600.0 * 60  # emulated seconds, as the trainers' VMs are billed
    assert billing.service_vms(_record(resources={}), done, now=9000.0) == ()  # no coordinator in the stack
    assert billing.service_vms(_record(region="europe-west4"), done, now=9000.0) == ()  # no price: no Bill at all


def test_under_guest_time_real_the_coordinator_follows_the_runs_timeline():
    """A guest's start-up runs the emulated clock at 1x: the coordinator's emulated time follows it."""
    evs = [{"event": "vm_boot", "t": 1010.0, "host": "h", "boot": "b"},
           {"event": "start", "t": 1010.0, "host": "h", "boot": "b", "total_steps": 10},
           {"event": "step", "t": 1020.0, "host": "h", "boot": "b", "step": 1},
           {"event": "done", "t": 1100.0, "host": "h", "boot": "b", "step": 10}]
    (vm,) = billing.service_vms(_record(backend="local", time_scale=60.0, guest_time="real"), evs, now=0)
    assert vm.billed_s == pytest.approx((100 - 10) * 60 + 10)  # 10 held seconds of start-up at 1x


def test_a_service_vm_is_in_the_on_demand_vms_and_what_savings_compare():
    rate = billing.Rate(spot=0.3, on_demand=1.0)
    vm = billing.ServiceVm("coordinator", "e2-small", usd_per_h=0.02, billed_s=7200.0)  # billed clock already
    bill = billing.Bill(rate, billable_s=90.0, on_demand_s=60.0, time_scale=60.0, services=(vm,))
    without = billing.Bill(rate, billable_s=90.0, on_demand_s=60.0, time_scale=60.0)
    assert bill.on_demand_vm_usd == pytest.approx(0.04) and bill.spot_usd == without.spot_usd  # not x time_scale
    assert bill.spent_usd == pytest.approx(without.spent_usd + 0.04) and bill.savings_pct < without.savings_pct
    assert bill.on_demand_usd == without.on_demand_usd  # an on-demand run needs no coordinator of its own
    d = bill.to_dict("test")
    assert d["services"] == [{"name": "coordinator", "machine_type": "e2-small", "on_demand_usd_per_h": 0.02,
                              "billed_s": 7200.0, "usd": 0.04}]
    assert "services" not in without.to_dict("test")


def test_the_coordinators_machine_is_the_terraform_default_and_has_a_price():
    from pathlib import Path

    from spotshield.validate.invariants import load_stack

    mod = load_stack(Path(__file__).resolve().parents[1]).module_dir("modules/coordinator")
    assert mod.variables["machine_type"]["default"] == billing.COORDINATOR_MACHINE
    rate = billing.hourly(billing.COORDINATOR_MACHINE, None, 0, "us-central1")
    # GCE bills the shared-core e2-small as 0.5 vCPU + 2 GB, not 2 vCPUs (a catalog's 0.04947)
    assert rate.on_demand == pytest.approx(0.5 * 0.021812 + 2 * 0.002923, abs=1e-5)


def test_a_job_of_several_vms_compares_with_as_many_on_demand_vms():
    """A torchrun job over 2 VMs bills both VMs' boots; its events time one job (rank 0's), so the
    uninterrupted on-demand run of the same work is that time on 2 on-demand VMs, not on one."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from job_events import two_vm_job

    from spotshield.billing import Bill, Rate
    from spotshield.boots import split_boots

    boots = split_boots(sorted(two_vm_job(done=True), key=lambda e: e["t"]))
    rate = Rate(0.3, 1.0, False)
    one, two = Bill.for_boots(rate, boots), Bill.for_boots(rate, boots, nodes=2)
    assert one.on_demand_s > 0 and two.on_demand_s == 2 * one.on_demand_s
    assert two.billable_s == one.billable_s and two.savings_pct > one.savings_pct
