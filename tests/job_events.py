"""The events of a job of two VMs under torchrun, in the shapes the real writers give them.

Who writes what (docs/distributed.md): each VM's boot script its own vm_boot, command_start,
vm_notice and command_exit (<host>-<boot>-vm.jsonl); only rank 0 of each round writes the
trainer's events (spotshield/library/session.py), into its own VM's (host, boot), and its start
names every node with its ranks (spotshield/distributed/nodes.py). Two ranks per VM (nproc 2).

  t0 +0 / +2      vm-a (boot a1) and vm-b (boot b1) boot
  +10             round 1: world 4, vm-a ranks 0-1, vm-b ranks 2-3; steps to 28
  +30             vm-b is preempted: its vm_notice; rank 0 learns it from the stop agreement
                  (noticed_by 3, source peer), one emergency checkpoint of step 28, exit 75
  +45             round 2: vm-a alone, world 2, resumes from step 28
  +100            vm-b is back (boot b2); +110 the agents stop their workers to let it in
                  (a SIGTERM from vm-a's own agent: noticed_by 1), emergency checkpoint of step 60
  +120            round 3: world 4 again, vm-a ranks 0-1, vm-b ranks 2-3; resumes from step 60
  +200            done at step 100 (only with done=True)
"""
from __future__ import annotations

RUN = "job-run"
A, B = "vm-a", "vm-b"
START = dict(strategy="naive", model="Sequential", data="TensorDataset", epochs=3, total_steps=100, device="cpu",
             client="library", rank=0)


def nodes(*placed: tuple[str, str]) -> list[dict]:
    return [{"host": h, "boot": b, "ranks": [2 * i, 2 * i + 1]} for i, (h, b) in enumerate(placed)]


def two_vm_job(t0: float = 1000.0, *, until: float | None = None, done: bool = False, a: str = A,
               b: str = B) -> list[dict]:
    """The run above, its events up to t0 + `until` (all of them by default); `a`, `b` name the VMs."""
    out: list[dict] = []
    A, B = a, b  # noqa: N806 (the module's names, or the caller's VMs)

    def ev(dt, host, boot, event, **f):
        out.append({"event": event, "t": t0 + dt, "run_id": RUN, "host": host, "boot": boot, **f})

    ev(0.0, A, "a1", "vm_boot", script_start_t=t0 - 0.5)
    ev(0.1, A, "a1", "command_start", command="python train.py")
    ev(2.0, B, "b1", "vm_boot", script_start_t=t0 + 1.5)
    ev(2.1, B, "b1", "command_start", command="python train.py")
    # round 1
    ev(10.0, A, "a1", "start", **START, pid=11, world_size=4, nodes=nodes((A, "a1"), (B, "b1")))
    for i, step in enumerate((10, 20)):
        ev(15.0 + 5 * i, A, "a1", "step", step=step, epoch=0, loss=1.0, images_per_s=100.0)
    ev(21.0, A, "a1", "checkpoint", step=20, epoch=0, reason="interval", stall_s=0.1, persist_s=0.2, bytes=1000,
       path="ckpt/step-000020", snapshot_t=t0 + 20.0)
    ev(25.0, A, "a1", "step", step=26, epoch=0, loss=0.9, images_per_s=100.0)
    # vm-b preempted
    ev(30.0, B, "b1", "vm_notice", preempted=True)
    ev(30.5, A, "a1", "preempt_notice", step=28, source="peer", notice_t=t0 + 30.2, epoch=0, noticed_by=3,
       world_size=4)
    ev(31.0, A, "a1", "checkpoint", step=28, epoch=0, reason="emergency", stall_s=0.1, persist_s=0.2, bytes=1000,
       path="ckpt/step-000028", snapshot_t=t0 + 30.6)
    ev(31.2, A, "a1", "emergency_checkpoint", step=28, ok=True, seconds=0.7, noticed_by=3, world_size=4)
    ev(31.3, A, "a1", "exit", step=28, code=75, reason="preempted")
    ev(32.0, B, "b1", "command_exit", code=143)
    # round 2: vm-a alone
    ev(45.0, A, "a1", "start", **START, pid=12, world_size=2, nodes=nodes((A, "a1")))
    ev(46.0, A, "a1", "resume", from_step=28, epoch=0, checkpoint="ckpt/step-000028", seconds_lost=0.0, steps_lost=0)
    for i, step in enumerate((40, 50, 60)):
        ev(55.0 + 10 * i, A, "a1", "step", step=step, epoch=1, loss=0.8, images_per_s=50.0)
    # vm-b back: the job grows again through a stop
    ev(100.0, B, "b2", "vm_boot", script_start_t=t0 + 99.5)
    ev(100.1, B, "b2", "command_start", command="python train.py")
    ev(110.0, A, "a1", "preempt_notice", step=60, source="sigterm", notice_t=t0 + 109.9, epoch=1, noticed_by=1,
       world_size=2)
    ev(110.5, A, "a1", "emergency_checkpoint", step=60, ok=True, seconds=0.4, noticed_by=1, world_size=2)
    ev(110.6, A, "a1", "exit", step=60, code=75, reason="preempted")
    # round 3: both again
    ev(120.0, A, "a1", "start", **START, pid=13, world_size=4, nodes=nodes((A, "a1"), (B, "b2")))
    ev(121.0, A, "a1", "resume", from_step=60, epoch=1, checkpoint="ckpt/step-000060", seconds_lost=0.0, steps_lost=0)
    for i, step in enumerate((70, 80)):
        ev(130.0 + 10 * i, A, "a1", "step", step=step, epoch=2, loss=0.5, images_per_s=100.0)
    if done:
        ev(200.0, A, "a1", "done", step=100, epoch=3, accuracy=0.9, final_path="final/model.pt")
        ev(200.1, A, "a1", "exit", step=100, code=0, reason="done")
        ev(201.0, A, "a1", "command_exit", code=0)
        ev(201.0, B, "b2", "command_exit", code=0)
    keep = [e for e in out if until is None or e["t"] <= t0 + until]
    return sorted(keep, key=lambda e: e["t"])
