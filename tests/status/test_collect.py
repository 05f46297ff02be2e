"""collect(): the instances from the Compute API, everything else from the bucket."""
from __future__ import annotations

import json

import pytest
from runs import write_run

from spotshield.status.collect import collect
from spotshield.layout import FORMAT, runs_store_url
from spotshield.status.record import StackRecord
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
    assert (pr["count"], pr["resumes"], pr["seconds_lost"], pr["steps_lost"]) == (1, 1, 4.5, 20)
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


def test_cost_from_price_table(run, monkeypatch):
    from spotshield.status import cost

    table = [{"name": "g2-standard-4", "spot": 0.3, "on_demand": 0.7},
             {"name": "nvidia-l4", "spot": 0.2, "on_demand": 0.3}]
    monkeypatch.setattr(cost, "price_table", lambda: table)
    rec, _, _ = run
    d = collect(rec, now=2100.0)
    # boot spans: b1 0..37 s, b2 60..95 s = 72 s = 0.02 h; spot 0.5/h, on-demand 1.0/h
    assert d["cost"]["hours"] == pytest.approx(0.02)
    assert d["cost"]["spot_usd"] == pytest.approx(0.01)
    assert d["cost"]["on_demand_usd"] == pytest.approx(0.02)
    assert d["cost"]["savings_pct"] == 50.0


def test_local_cost_comes_from_the_emulators_meter(tmp_path):
    """A local stack's cost is the emulator's cost meter (emulated billed time), not an estimate."""
    from spotshield.local.emulator import local_region

    with local_region(tmp_path / "region", time_scale=60.0) as region:
        bucket = "spotshield-local"
        region.gcs.create_bucket(bucket)
        rec = StackRecord(backend="local", name="spotshield", project=region.project, region="us-central1",
                          zones=["us-central1-a"], mig="spotshield-mig", bucket=bucket, run_id=RUN,
                          store=runs_store_url(bucket, RUN), strategy="adaptive", machine_type="g2-standard-4",
                          gpu_type="nvidia-l4", gpu_count=1, endpoints=region.endpoints())
        d = collect(rec)
        assert d["cost"]["source"] == "emulator cost meter"
        assert (d["cost"]["spot_usd"], d["cost"]["on_demand_usd"]) == (0.0, 0.0)  # nothing has run yet
        assert d["instances"] == [] and d["progress"]["state"] == "WAITING"
    d = collect(rec)  # the emulator is gone: status still answers, with what it can read
    assert d["cost"] is None or d["cost"]["source"] != "emulator cost meter"
    assert any("unreachable" in p or "store" in p for p in d["problems"])


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
