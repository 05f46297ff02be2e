"""A run of four boots with the boot script's events and the trainer's, at known times (real seconds).

Boot k starts at t0 + 30 k: vm_boot, the command at +0.1 s, the trainer ready at +8.5 s (start,
and resume from step 100 k after the first boot), 10 s of training at 10 steps/s. Boots 0-2 are
preempted at step 100 k + 100 (+18.5 s: notice, emergency checkpoint, exit 75 at +20 s, the
command's exit at +20.2 s); boot 3 trains 350 -> 400 and finishes (done at +19.5 s, last event
at +19.7 s). Billable: 3 x 20.2 + 19.7 = 80.3 s. On demand: one start-up 8.5 s + 3 x 10 s +
11 s (the final boot up to done) + 0.2 s wind-down = 49.7 s.
"""
from __future__ import annotations

BILLABLE_S = 80.3
ON_DEMAND_S = 49.7
TOTAL_STEPS = 400


def four_boots(run_id: str = "r1", host: str = "vm-a", t0: float = 1000.0, vm_events: bool = True) -> list[dict]:
    out: list[dict] = []
    for k in range(4):
        t, boot = t0 + 30.0 * k, f"b{k}"

        def ev(dt, event, **f):
            out.append({"event": event, "t": round(t + dt, 6), "run_id": run_id, "host": host, "boot": boot, **f})

        if vm_events:
            ev(0.0, "vm_boot")
            ev(0.1, "command_start", command="spotshield train")
        ev(8.5, "start", strategy="adaptive", model="tiny-cnn", data="digits", epochs=4, total_steps=TOTAL_STEPS,
           device="cpu", pid=100 + k)
        if k:
            ev(8.5, "resume", from_step=100 * k, epoch=k, checkpoint=f"ckpt/step-{100 * k:06d}", seconds_lost=0.0,
               steps_lost=0)
        ev(13.5, "step", step=100 * k + 50, epoch=k, loss=0.5, images_per_s=640.0)
        if k < 3:
            ev(18.5, "step", step=100 * k + 100, epoch=k, loss=0.4, images_per_s=640.0)
            ev(18.5, "epoch_end", epoch=k, step=100 * k + 100, loss=0.4, accuracy=0.8, images_per_s=640.0,
               epoch_seconds=10.0)
            ev(18.5, "preempt_notice", step=100 * k + 100, source="metadata")
            if vm_events:
                ev(18.6, "vm_notice", preempted=True)
            ev(19.5, "checkpoint", step=100 * k + 100, epoch=k + 1, reason="emergency", stall_s=1.0, persist_s=0.2,
               bytes=1000, path=f"ckpt/step-{100 * k + 100:06d}", snapshot_t=t + 18.5)
            ev(19.6, "emergency_checkpoint", step=100 * k + 100, ok=True, seconds=1.1)
            ev(20.0, "exit", step=100 * k + 100, code=75, reason="preempted")
            if vm_events:
                ev(20.2, "command_exit", code=75)
        else:
            ev(18.5, "step", step=400, epoch=3, loss=0.3, images_per_s=640.0)
            ev(19.0, "epoch_end", epoch=3, step=400, loss=0.3, accuracy=0.95, images_per_s=640.0, epoch_seconds=10.0)
            ev(19.5, "done", step=400, epoch=4, accuracy=0.95, final_path="final/model.pt")
            ev(19.6, "exit", step=400, code=0, reason="done")
            if vm_events:
                ev(19.7, "command_exit", code=0)
    return sorted(out, key=lambda e: e["t"])
