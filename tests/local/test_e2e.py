"""End to end on the emulator: the real startup.sh boots the real trainer, the injector preempts.

Slow (minutes on two busy cores): run with `pytest -m slow tests/local`. `make test` runs them too.
"""
from __future__ import annotations

import os

import pytest

from spotshield import backends
from spotshield.local import daemon
from spotshield.local.testing import compute_clients, pid_alive, wait_for
from spotshield.settings import StackSettings
from tests.local.test_daemon import FLEET, Handle, state  # noqa: F401 (state: the emulator's folder fixture)
from tests.local.test_fleet import make_fleet, managed

pytestmark = pytest.mark.slow
# Trainer start-up (torch import, data, resume) takes ~10-15 s here, so preemptions come every
# 30 real s (2/h at 60x): each boot gets some training in, and the run sees >= 2 of them.
REGULAR_RATE = 3600 / (30 * 60)
TRAINER = {"model": "tiny-cnn", "data": "digits", "epochs": 10, "batch_size": 32, "pace_step_s": 0.15,
           "num_threads": 1, "log_every_s": 1.0}


@pytest.mark.parametrize("pattern,rate,seed,min_notices", [
    ("regular", REGULAR_RATE, 0, 2),
    # seeded: the first preemptions come 25, 42, 68, 75 real s after start (2/h at 60x)
    ("poisson", 2.0, 10, 1),
])
def test_tiny_cnn_finishes_through_preemptions(state, pattern, rate, seed, min_notices):
    from spotshield.events import read_events
    from spotshield.storage import open_store

    s = StackSettings(name="e2e", run_id=f"e2e-{pattern}", strategy="naive", fleet_size=1, pattern=pattern,
                      rate=rate, time_scale=60, trainer_overrides=dict(TRAINER))
    local = backends.make("local", state_dir=state, seed=seed)
    stack = local.up(s)
    rec = daemon.read_state(state)
    os.environ["STORAGE_EMULATOR_HOST"] = stack.endpoints["storage"]
    try:
        store = open_store(stack.store)
        c = compute_clients(Handle(rec))
        seen_pids: set[int] = set()

        def finished():
            seen_pids.update(daemon.request(rec, "GET", "/spotshield/v1/status")["instance_pids"])
            return store.exists("DONE") and not managed(c, Handle(rec), "e2e-mig")

        wait_for(finished, 480, interval_s=1.0, what="DONE and the group emptied by startup.sh")
        mig = c["migs"].get(project=rec["project"], region="us-central1", instance_group_manager="e2e-mig")
        assert mig.target_size == 0  # startup.sh resized it through the Compute API
        events = read_events(store, s.run_id)
        injector = daemon.request(rec, "GET", "/spotshield/v1/injector")
        cost = local.cost(s.run_id)
    finally:
        local.down(stack)
        del os.environ["STORAGE_EMULATOR_HOST"]

    notices = [e for e in events if e["event"] == "preempt_notice"]
    assert len(notices) >= min_notices, [e["event"] for e in events]
    assert injector["preemptions"] >= len(notices)
    by_boot: dict[str, list[dict]] = {}
    for e in events:
        by_boot.setdefault(e["boot"], []).append(e)
    committed: list[tuple[float, int]] = []
    for boot, evs in sorted(by_boot.items(), key=lambda kv: kv[1][0]["t"]):
        names = [e["event"] for e in evs]
        resumes = [e for e in evs if e["event"] == "resume"]
        if committed and "start" in names:  # every trainer after a checkpoint resumes from the newest one
            # (a boot preempted before its trainer started has only the boot script's vm_* events)
            assert resumes and resumes[0]["from_step"] == max(step for _, step in committed), (boot, names)
        if "preempt_notice" in names:  # every preemption: emergency checkpoint, then exit 75
            em = [e for e in evs if e["event"] == "emergency_checkpoint"]
            assert em and em[0]["ok"], (boot, names)
            assert [e["code"] for e in evs if e["event"] == "exit"] == [75]
        committed += [(e["t"], e["step"]) for e in evs if e["event"] == "checkpoint"]
    done = [e for e in events if e["event"] == "done"]
    total = {e["total_steps"] for e in events if e["event"] == "start"}
    assert len(done) == 1 and total == {done[0]["step"]} and done[0]["epoch"] == 10  # all of it, once
    assert 0 < cost["spot_usd"] < cost["on_demand_same_hours_usd"]
    trainer_pids = [e["pid"] for e in events if e["event"] == "start"]
    assert not any(pid_alive(p) for p in trainer_pids + sorted(seen_pids) + [rec["pid"], rec["gcs_pid"]])


def test_group_of_two_keeps_its_size_under_poisson(state):
    """Every preemption is followed by a repair; the group returns to 2 RUNNING each time."""
    rec = daemon.start(state, time_scale=60, pattern="poisson", rate=12, seed=4, fleet=FLEET)  # 12/h at 60x: one every 5 real s on average
    h = Handle(rec)
    c = make_fleet(h, size=2)
    seen: set[int] = set()

    def enough():
        st = daemon.request(rec, "GET", "/spotshield/v1/status")
        seen.update(st["instance_pids"])
        return st["injector"]["preemptions"] >= 4

    wait_for(enough, 240, interval_s=0.5, what="4 preemptions")
    daemon.request(rec, "POST", "/spotshield/v1/injector", {"pattern": "none"})
    wait_for(lambda: len([m for m in managed(c, h) if m.instance_status == "RUNNING"]) == 2, 60,
             what="the group back at 2 RUNNING")
    history = daemon.request(rec, "GET", "/spotshield/v1/injector")["history"]
    preempted = [x["instance"] for x in history if x["outcome"] == "preempted"]
    from google.cloud import compute_v1

    ops = []
    for zone in ("us-central1-a", "us-central1-b"):
        ops += list(c["zone_ops"].list(request=compute_v1.ListZoneOperationsRequest(
            project=h.project, zone=zone, filter='operationType="compute.instances.preempted"')))
    repairs = []
    for zone in ("us-central1-a", "us-central1-b", "us-central1-c"):
        repairs += [o for o in c["zone_ops"].list(project=h.project, zone=zone)
                    if o.operation_type == "compute.instances.repair.recreateInstance"]
    assert len(ops) == len(preempted) >= 4
    assert len(repairs) >= len(preempted)  # each preempted member was recreated
    assert sorted(o.target_link.rsplit("/", 1)[1] for o in ops) == sorted(preempted)
    assert len(managed(c, h)) == 2
    daemon.stop(state)
    assert not any(pid_alive(p) for p in seen | {rec["pid"], rec["gcs_pid"]})
