"""`spotshield up --fleet-size 2 --pattern regular` end to end on the local emulator, as a user runs it:
two emulated VMs boot the real startup.sh, which runs the built-in trainer under torchrun (one rank per
VM, gloo, the rendezvous on the coordinator beside the emulator). The injector's own schedule preempts
them (regular: one notice every 3600/rate emulated s, the members in turn), each notice becomes one
agreed emergency checkpoint, the group recreates the VM, the job re-forms and resumes. The run ends
with final/model.pt byte for byte the one of the same two-node job under `--pattern none`.

Time: the emulator runs at 60x, except for a guest's own start-up and shutdown (guest_time real, the
default), so the schedule's emulated seconds go to training and the repairs, not to Python imports."""
from __future__ import annotations

import json
import time

import pytest

from spotshield import boots as bootmodel

pytestmark = pytest.mark.slow

# 3 epochs of 640 digits in global batches of 32: 60 steps, paced at 0.2 real s each (12 real s of
# training, 720 emulated s at 60x); a checkpoint every 4 steps
STEPS = 60
CONFIG = """\
model: tiny-cnn
data: digits
epochs: 3
limit_train: 640
limit_val: 100
pace_step_s: 0.2
log_every_s: 0.5
strategies: {naive: {every_steps: 4}}
checkpoint: {persist_pace_s: 0.0}
"""
# 12/h: a notice every 300 emulated s (5 real s of training at 60x). A re-form costs ~135 emulated s
# (the 60 s repair, 40 s of boot, the guest's own seconds at 1x), so each round trains ~165 emulated
# s (~14 steps) and the run meets 3 or 4 notices, the first at ~step 19.
RATE = 12
RUN_TIMEOUT_S = 480  # real s: ~90 s for the reference and ~150 s for the preempted run when idle


def test_two_node_job_through_injected_preemptions_ends_byte_identical_to_pattern_none(cli, tmp_path):
    (tmp_path / "tiny.yaml").write_text(CONFIG)
    common = ("--fleet-size", "2", "--strategy", "naive", "--config", str(tmp_path / "tiny.yaml"), "--detach")

    reference = run(cli, *common, "--pattern", "none", "--run-id", "job-none")
    spot = run(cli, *common, "--pattern", "regular", "--rate", str(RATE), "--run-id", "job-regular")

    assert reference["final"] == spot["final"], "final/model.pt differs from the uninterrupted job's"
    assert reference["notices"] == [] and reference["status"]["preemptions"]["count"] == 0
    # at least two injected preemptions, on both nodes; each one agreed emergency checkpoint, resumed from
    hosts = spot["notices"]
    assert len(hosts) >= 2 and len(set(hosts)) == 2, hosts
    victims = [h["instance"] for h in spot["injector"]["history"] if h["outcome"] == "preempted"]
    assert len(victims) >= len(hosts) and set(victims) == set(hosts), (victims, hosts)
    evs = spot["events"]
    emergencies = [e for e in evs if e["event"] == "emergency_checkpoint"]
    resumes = {e["from_step"] for e in evs if e["event"] == "resume"}
    assert emergencies and all(e["ok"] for e in emergencies), emergencies
    assert {e["step"] for e in emergencies} <= resumes
    # every round at 2 nodes (a notice that comes while the job re-forms ends no round: no emergency)
    starts = [e for e in evs if e["event"] == "start"]
    assert len(starts) == len(emergencies) + 1 and all(e["world_size"] == 2 for e in starts), starts
    done = [e for e in evs if e["event"] == "done"]
    assert len(done) == 1 and done[0]["step"] == STEPS
    p = spot["status"]["preemptions"]
    assert p["count"] == len(hosts) and p["emergency_missed"] == 0, p
    # the bill: both VMs' every boot against the same work on two uninterrupted on-demand VMs. Each
    # re-form bills the survivor's wait and the replacement's start-up, so the preempted job saves
    # less than the uninterrupted one, which saves less than the bare price discount.
    ref, cost = reference["status"]["cost"], spot["status"]["cost"]
    assert cost["savings_pct"] < ref["savings_pct"] < ref["price_discount_pct"], (cost, ref)
    assert cost["billable_s"] > cost["on_demand_s"] >= 2 * STEPS * 0.2 * 60 * 0.9, cost  # emulated s, both VMs
    print(f"\n{len(victims)} preemptions ({' '.join(victims)}), {len(emergencies)} emergency checkpoints at steps "
          f"{[e['step'] for e in emergencies]}, {len(starts)} rounds; steps lost "
          f"{spot['status']['preemptions']['steps_lost']}; savings {cost['savings_pct']}% (uninterrupted "
          f"{ref['savings_pct']}%, price discount {ref['price_discount_pct']}%)")


def run(cli, *args: str) -> dict:
    """`up` ARGS, wait for DONE and the group emptied by startup.sh, `down`. Returns final/model.pt's bytes,
    the run's events, `status --json`, the injector's record and the hosts of the preempted boots."""
    from spotshield.backends.record import load_record, record_path
    from spotshield.events import read_events
    from spotshield.layout import FINAL_KEY
    from spotshield.local import daemon
    from spotshield.status.collect import stack_env
    from spotshield.storage import open_store

    r = cli("up", *args)
    assert r.exit_code == 0, r.output
    try:
        rec = load_record()
        deadline = time.monotonic() + RUN_TIMEOUT_S
        with stack_env(rec) as src:
            store = open_store(src.store)
            while True:
                status = json.loads(cli("status", "--json").stdout)
                if store.exists("DONE") and status["progress"]["state"] == "DONE" and not status["instances"]:
                    break
                assert time.monotonic() < deadline, f"no DONE after {RUN_TIMEOUT_S} real s: {status['progress']}"
                time.sleep(1.0)
            events = read_events(store, rec.run_id)
            final = store.read(FINAL_KEY)
        injector = daemon.request({"endpoints": rec.endpoints}, "GET", "/spotshield/v1/injector")
    finally:
        if record_path().exists():
            assert cli("down").exit_code == 0
    preempted = bootmodel.preempted_boots(bootmodel.split_boots(events))
    return {"final": final, "events": events, "status": status, "injector": injector,
            "notices": [b.host for b in preempted]}
