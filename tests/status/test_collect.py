"""collect(): the instances from the Compute API, everything else from the bucket."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest
from runs import write_run

from spotshield.status.collect import collect
from spotshield.layout import FORMAT, runs_store_url
from spotshield.backends.record import StackRecord
from spotshield.storage import open_store

RUN = "adaptive-test"


def record(bucket: str, gcs_url: str, compute_url: str, backend: str = "gcp") -> StackRecord:
    from emulated_region import PROJECT, REGION

    return StackRecord(backend=backend, name="fleet", project=PROJECT, region=REGION,
                       zones=[f"{REGION}-a", f"{REGION}-b"], mig="fleet-mig", bucket=bucket, run_id=RUN,
                       store=runs_store_url(bucket, RUN), strategy="adaptive", machine_type="g2-standard-4",
                       gpu_type="nvidia-l4", gpu_count=1, endpoints={"compute": compute_url, "storage": gcs_url},
                       created=1000.0)


@pytest.fixture
def run(gcs_bucket, gcs_server, region):
    region.create_fleet("fleet-mig", 2)
    region.fill()
    rec = record(gcs_bucket, gcs_server.url, region.url)
    store = open_store(rec.store)
    host = region.backend.members("fleet-mig")[0].name
    write_run(store, RUN, host, t0=2000.0)
    return rec, host, store


def test_instances_progress_checkpoint_preemptions(run):
    rec, host, _ = run
    d = collect(rec, now=2100.0)
    assert d["problems"] == []
    names = [i["name"] for i in d["instances"]]
    assert len(names) == 2 and host in names
    by = {i["name"]: i for i in d["instances"]}
    assert by[host]["preemptions"] == 1 and by[host]["status"] == "RUNNING"
    assert all(i["zone"].startswith("us-central1-") for i in d["instances"])
    import time

    now = time.time()
    fresh = collect(rec, now=now)["instances"]
    assert all(0 <= i["uptime_s"] < 60 for i in fresh)  # started moments ago by the emulator
    p = d["progress"]
    assert (p["state"], p["step"], p["total_steps"], p["epoch"], p["epochs"]) == ("TRAINING", 600, 1000, 2, 4)
    assert p["fraction"] == 0.6 and p["images_per_s"] == 700.0  # the last step event's speed
    assert p["eta_s"] == pytest.approx(40.0)  # 10 steps/s over the last step events, 400 to go
    c = d["checkpoint"]
    assert (c["step"], c["reason"], c["stall_s"], c["bytes"], c["age_s"]) == (300, "adaptive", 0.04, 2 << 20, 68.0)
    assert [a["accuracy"] for a in d["accuracy"]] == [0.81, 0.93]
    pr = d["preemptions"]
    # work lost is spotshield/boots.py's: b1 went from step 300 (t0+32) to 320 (t0+35), redone by b2
    assert (pr["count"], pr["resumes"], pr["seconds_lost"], pr["steps_lost"]) == (1, 1, 3.0, 20)
    assert pr["emergency_missed"] == 1
    assert d["events"][-1]["event"] == "epoch_end" and len(d["events"]) <= 8
    json.dumps(d)  # --json prints exactly this


def test_done_run_shows_final_summary_after_the_fleet_is_gone(run, region):
    rec, host, store = run
    write_run(store, RUN, host, t0=2000.0, done=True)
    region.backend.delete_mig("proj-test", "us-central1", "fleet-mig")
    d = collect(rec, now=3000.0)
    assert d["instances"] == []
    assert d["progress"]["state"] == "DONE" and d["progress"]["final_accuracy"] == 0.95
    assert d["progress"]["step"] == 1000 and d["progress"]["fraction"] == 1.0


def test_unreachable_compute_is_a_problem_line_not_a_crash(run):
    rec, _, _ = run
    rec.endpoints["compute"] = "http://127.0.0.1:9"  # discard port: connection refused
    d = collect(rec, now=2100.0)
    assert d["instances"] == []
    assert any("Compute API unreachable" in p for p in d["problems"])
    assert d["progress"]["step"] == 600  # the bucket still answers


TABLE = """name,kind,region,on_demand,spot,spot_estimated,source,date
g2-standard-4,machine,us-central1,0.7,0.3,false,test,2026-01-01
nvidia-l4,gpu,us-central1,0.3,0.2,true,test,2026-01-01
"""


def test_cost_is_the_runs_bill_from_its_events(run, monkeypatch):
    from spotshield import billing

    monkeypatch.setattr(billing, "price_table", lambda: billing.parse_prices(TABLE))
    rec, _, _ = run
    c = collect(rec, now=2100.0)["cost"]
    # billable: b1 0..37 s + b2 60..95 s = 72 s; on demand: b1's steps 0..300 kept (32 s) + b2 300..600 (34 s)
    assert (c["billable_s"], c["on_demand_s"], c["time_scale"]) == (72.0, 66.0, 1.0)
    assert c["hours"] == pytest.approx(0.02)
    assert c["spot_usd"] == pytest.approx(0.5 * 72 / 3600, abs=1e-4)
    assert c["on_demand_usd"] == pytest.approx(1.0 * 66 / 3600, abs=1e-4)
    assert c["savings_pct"] == 45.5 and c["price_discount_pct"] == 50.0  # below the bare discount
    assert c["spot_price_estimated"] is True and c["source"] == "events x price table"


def test_local_cost_is_billed_on_the_emulated_clock(run):
    """A local stack is priced the same way, in emulated hours: real seconds x the record's time scale."""
    from spotshield.billing import hourly

    rec, _, _ = run
    rec.backend, rec.time_scale = "local", 60.0
    c = collect(rec, now=2100.0)["cost"]
    rate = hourly("g2-standard-4", "nvidia-l4", 1, "us-central1")
    assert c["hours"] == pytest.approx(72 * 60 / 3600) and c["time_scale"] == 60.0
    assert c["spot_usd"] == pytest.approx(rate.spot * 72 * 60 / 3600, abs=1e-4)
    assert c["savings_pct"] == round(100 * (1 - rate.spot * 72 / (rate.on_demand * 66)), 1)


def test_status_and_analyze_give_the_same_savings_below_the_discount(gcs_bucket, gcs_server, region, tmp_path):
    """Three preemptions, each with its start-up billed: savings clearly below the 60.2 % price
    discount, and `analyze` of the same store gives the same figures."""
    from boot_events import four_boots

    from spotshield.analysis.analyze import run_analysis
    from spotshield.events import EventLog

    rec = record(gcs_bucket, gcs_server.url, region.url, backend="local")
    rec.time_scale = 60.0
    store = open_store(rec.store)
    for e in four_boots(run_id=RUN):
        name = f"{e['host']}-{e['boot']}" + ("-vm" if e["event"].startswith(("vm_", "command_")) else "")
        key = f"events/{RUN}/{name}.jsonl"
        old = store.read(key).decode() if store.exists(key) else ""
        store.write(key, (old + json.dumps(e) + "\n").encode())
    d = collect(rec, now=2000.0)
    c = d["cost"]
    assert d["preemptions"]["count"] == 3 and c["price_discount_pct"] == 60.2
    assert c["savings_pct"] < c["price_discount_pct"] - 15
    a = run_analysis(rec.store, tmp_path / "analysis", time_scale=60.0)
    import pandas as pd

    row = pd.read_csv(a.summary_csv).iloc[0]
    assert round(100 * row["savings"], 1) == c["savings_pct"]
    assert row["cost_spot"] == pytest.approx(c["spot_usd"], abs=1e-4)
    assert row["cost_ondemand"] == pytest.approx(c["on_demand_usd"], abs=1e-4)
    assert row["preemptions"] == d["preemptions"]["count"]
    assert EventLog  # the store holds the trainer's and the boot script's objects side by side


def test_under_guest_time_real_status_bills_what_analysis_bills(gcs_bucket, gcs_server, region):
    """A stack whose emulator counts guests' start-up at 1x (the study's time model): status's
    cost is analysis's (metrics + tables.run_bill), not real seconds x 60."""
    from boot_events import four_boots

    from spotshield.analysis.metrics import run_metrics
    from spotshield.analysis.runs import Run
    from spotshield.analysis.tables import run_bill
    from spotshield.billing import hourly

    rec = record(gcs_bucket, gcs_server.url, region.url, backend="local")
    rec.time_scale, rec.guest_time = 60.0, "real"
    store = open_store(rec.store)
    events = four_boots(run_id=RUN)
    for e in events:
        name = f"{e['host']}-{e['boot']}" + ("-vm" if e["event"].startswith(("vm_", "command_")) else "")
        key = f"events/{RUN}/{name}.jsonl"
        old = store.read(key).decode() if store.exists(key) else ""
        store.write(key, (old + json.dumps(e) + "\n").encode())
    c = collect(rec, now=2000.0)["cost"]
    m = run_metrics(Run(RUN, sorted(events, key=lambda e: e["t"]), {"time_scale": 60.0, "guest_time": "real"}))
    bill = run_bill(m, hourly("g2-standard-4", "nvidia-l4", 1, "us-central1"))
    assert c["guest_time"] == "real" and c["billable_s"] == pytest.approx(m["billable_emulated_s"], abs=0.1)
    assert c["spot_usd"] == pytest.approx(bill.spot_usd, abs=1e-4) and c["savings_pct"] == bill.savings_pct
    scaled = collect(replace(rec, guest_time="scaled"), now=2000.0)["cost"]
    assert scaled["hours"] > c["hours"]  # the start-ups billed 60x instead of 1x


def test_a_command_without_the_library_shows_through_the_boot_scripts_events(gcs_bucket, gcs_server, region):
    """A boot script that runs the user's own command writes vm_boot/command_start/command_exit: status shows it."""
    rec = record(gcs_bucket, gcs_server.url, region.url)
    store = open_store(rec.store)
    base = {"run_id": RUN, "host": "vm-c", "boot": "b1"}
    lines = [{"event": "vm_boot", "t": 3000.0, **base},
             {"event": "command_start", "t": 3001.0, "command": ["python", "my_train.py", "--lr", "0.1"], **base}]
    key = f"events/{RUN}/vm-c-b1-vm.jsonl"
    store.write(key, "".join(json.dumps(x) + "\n" for x in lines).encode())
    p = collect(rec, now=3010.0)["progress"]
    assert (p["state"], p["command"], p["command_exit"]) == ("RUNNING", "python my_train.py --lr 0.1", None)
    lines.append({"event": "command_exit", "t": 3100.0, "code": 2, **base})
    store.write(key, "".join(json.dumps(x) + "\n" for x in lines).encode())
    d = collect(rec, now=3110.0)
    assert (d["progress"]["state"], d["progress"]["command_exit"]) == ("EXITED", 2)
    assert d["cost"]["billable_s"] == 100.0 and d["cost"]["on_demand_s"] is None  # billed; no training to compare
    assert d["cost"]["savings_pct"] is None


def test_stopped_by_the_crash_loop_breaker(run):
    """The boot script writes STOPPED when it gives up; status says why, in the view and --json."""
    rec, _, store = run
    store.write("STOPPED", json.dumps({"reason": "crash loop", "error": "ImportError: no module named torch",
                                       "boots": 3, "t": 2090.0}).encode())
    d = collect(rec, now=2100.0)
    assert d["stopped"]["line"] == "stopped: crash loop: ImportError: no module named torch"
    assert d["stopped"]["boots"] == 3 and d["progress"]["state"] == "STOPPED"
    json.dumps(d)
    store.write("STOPPED", b"{torn")
    assert "not valid JSON" in collect(rec, now=2100.0)["stopped"]["line"]


def test_checkpoint_from_meta_before_its_event_lands(run):
    """The trainer writes meta.json last; its event may be flushed later. meta alone is enough."""
    rec, _, store = run
    store.write("ckpt/step-000640/meta.json", json.dumps({
        "format": FORMAT, "step": 640, "epoch": 2, "reason": "adaptive", "committed_t": 2098.0, "stall_s": 0.01,
        "persist_s": 0.5, "bytes": 4096, "files": {}}).encode())
    c = collect(rec, now=2100.0)["checkpoint"]
    assert (c["step"], c["reason"], c["age_s"], c["stall_s"], c["bytes"], c["count"]) == (640, "adaptive", 2.0, 0.01,
                                                                                        4096, 2)


def test_checkpoint_with_an_invalid_marker_is_not_committed(run):
    """Status counts a checkpoint by the loader's rule: a marker for another step (or of another
    format, or not JSON) does not make its folder the newest checkpoint."""
    rec, _, store = run
    store.write("ckpt/step-000700/meta.json", b"{not json")
    store.write("ckpt/step-000800/meta.json", json.dumps({"format": FORMAT, "step": 799, "files": {}}).encode())
    store.write("ckpt/step-000900/meta.json", json.dumps({"format": FORMAT + 1, "step": 900, "files": {}}).encode())
    c = collect(rec, now=2100.0)["checkpoint"]
    assert c["step"] == 300 and c["path"] == "ckpt/step-000300"


def test_eta_right_after_a_resume_uses_the_boot_before():
    """A fresh boot has logged one step: the ETA comes from the previous boot's speed, not '-'."""
    from spotshield.status.collect import _progress

    def ev(event, t, boot, **f):
        return {"event": event, "t": t, "host": "vm-a", "boot": boot, **f}

    events = [ev("start", 0, "b1", total_steps=1000, epochs=4),
              *[ev("step", 10 * i, "b1", step=50 * i, epoch=0) for i in range(1, 5)],  # 5 steps/s
              ev("start", 60, "b2", total_steps=1000, epochs=4),
              ev("resume", 61, "b2", from_step=200, epoch=0),
              ev("step", 62, "b2", step=201, epoch=0)]
    assert _progress(events, now=63)["eta_s"] == pytest.approx((1000 - 201) / 5.0)
    events.append(ev("step", 72, "b2", step=301, epoch=0))  # the new boot's own speed wins: 10 steps/s
    assert _progress(events, now=73)["eta_s"] == pytest.approx((1000 - 301) / 10.0)
    assert _progress(events[:1], now=1)["eta_s"] is None  # nothing logged yet: no guess
