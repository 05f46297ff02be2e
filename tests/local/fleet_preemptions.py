"""A job over an emulated fleet through preemptions of its members, for tests/local/test_fleet_job.py (a user's
command): each preemption fires once the job has committed a checkpoint at or past a known step, on the
member not taken last time. The injector's own schedule drives tests/cli/test_fleet_up_e2e.py (the built-in
trainer, `up --pattern regular`)."""
from __future__ import annotations

import io
import os

import torch

from spotshield import backends, layout
from spotshield.local import daemon
from spotshield.local.testing import compute_clients, wait_for
from spotshield.settings import StackSettings
from spotshield.storage import open_store
from tests.local.test_daemon import Handle
from tests.local.test_fleet import managed


def final_weights(store) -> dict:
    return torch.load(io.BytesIO(store.read(layout.FINAL_KEY)), weights_only=True)


def run_through_preemptions(state, s: StackSettings, after_steps: tuple[int, ...], run_s: float):
    """`up` s on the local backend; per step in after_steps, preempt a RUNNING member (another than last
    time) once a checkpoint at or past it is committed; wait for DONE and the group emptied by startup.sh;
    `down`. Returns (the stack record, the run's events, final/model.pt)."""
    from spotshield.events import read_events

    local = backends.make("local", state_dir=state)
    stack = local.up(s)
    rec = daemon.read_state(state)
    os.environ["STORAGE_EMULATOR_HOST"] = stack.endpoints["storage"]
    try:
        store = open_store(stack.store)
        c = compute_clients(Handle(rec))
        victims: list[str] = []
        for after in after_steps:
            wait_for(lambda: (n := layout.newest_committed(store)) and n[0] >= after, run_s, interval_s=0.2,
                     what=f"a checkpoint at step >= {after}")
            running = sorted(m.instance.rsplit("/", 1)[1] for m in managed(c, Handle(rec), s.mig_name)
                             if m.instance_status == "RUNNING")
            victim = next(n for n in running if n not in victims)  # the other member than last time
            out = daemon.request(rec, "POST", "/spotshield/v1/preempt", {"instance": victim})
            assert out["outcome"] == "preempted", out
            victims.append(victim)
        wait_for(lambda: store.exists("DONE") and not managed(c, Handle(rec), s.mig_name), run_s, interval_s=1.0,
                 what="DONE and the group emptied by startup.sh")
        return stack, read_events(store, s.run_id), final_weights(store)
    finally:
        local.down(stack)
        del os.environ["STORAGE_EMULATOR_HOST"]
