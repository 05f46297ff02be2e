"""A small generator of realistic run events (EVENT_FIELDS) with known ground truth.

It plays a run step by step on a synthetic clock: periodic `step` events, validation at
epoch ends, checkpoints every `ckpt_every` steps with a stall, preemption notices at
chosen steps (with or without an emergency checkpoint), then a new boot that resumes
from the last committed checkpoint after `restart_s`. Every record passes validate_event.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from spotshield.events import validate_event


@dataclass
class Truth:
    wasted_steps: int = 0
    wasted_s: float = 0.0
    recoveries: list[float] = field(default_factory=list)
    stall_s: float = 0.0
    preemptions: int = 0


def gen_run(root: Path, run_id: str, *, strategy: str = "naive", total_steps: int = 600, steps_per_epoch: int = 100,
            step_s: float = 0.1, val_s: float = 0.3, ckpt_every: int = 50, stall_s: float = 0.02,
            preempt_at: tuple[int, ...] = (), restart_s: float = 5.0, emergency: bool = False,
            emergency_s: float = 0.5, log_every: int = 10, accuracy: float = 0.9, t0: float = 1.8e9,
            startup_s: float | None = None) -> Truth:
    """startup_s: every boot begins with the boot script's vm_boot, and its trainer starts that
    many seconds later (the guest's start-up); None: no boot script events."""
    truth = Truth()
    files: dict[str, list[str]] = {}
    t, committed, boot_no = t0, 0, 0
    pending = sorted(preempt_at)
    notice_t = None
    t_at: dict[int, float] = {0: t0}  # when training went on from each step

    while True:
        host, boot = "vm-0", f"b{boot_no}"
        key = f"{host}-{boot}"

        def emit(event, **f):
            rec = {"event": event, "t": round(t, 6), "run_id": run_id, "host": host, "boot": boot, **f}
            assert validate_event(rec) == [], validate_event(rec)
            files.setdefault(key, []).append(json.dumps(rec))

        if startup_s is not None:
            emit("vm_boot")
            t += startup_s
        emit("start", strategy=strategy, model="tiny-cnn", data="digits", epochs=total_steps // steps_per_epoch,
             total_steps=total_steps, device="cpu", pid=1000 + boot_no)
        step = committed
        if committed:
            emit("resume", from_step=committed, epoch=committed // steps_per_epoch, checkpoint=f"ckpt/step-{committed}",
                 seconds_lost=0.0, steps_lost=0)
        preempted = False
        while step < total_steps:
            t += step_s
            step += 1
            if notice_t is not None:
                truth.recoveries.append(t - notice_t)
                notice_t = None
            if step % log_every == 0:
                emit("step", step=step, epoch=(step - 1) // steps_per_epoch, loss=1.0 / step, images_per_s=640.0)
            if step % steps_per_epoch == 0:
                t += val_s
                emit("epoch_end", epoch=step // steps_per_epoch - 1, step=step, loss=1.0 / step,
                     accuracy=accuracy * step / total_steps, images_per_s=640.0, epoch_seconds=steps_per_epoch * step_s)
            if step % ckpt_every == 0 and step < total_steps:
                t += stall_s
                truth.stall_s += stall_s
                emit("checkpoint", step=step, epoch=step // steps_per_epoch, reason="interval", stall_s=stall_s,
                     persist_s=0.05, bytes=1000, path=f"ckpt/step-{step}")
                committed = step
            if pending and step == pending[0]:
                pending.pop(0)
                emit("preempt_notice", step=step, source="sigterm")
                notice_t = t
                truth.preemptions += 1
                if emergency:
                    t += emergency_s
                    emit("checkpoint", step=step, epoch=step // steps_per_epoch, reason="emergency",
                         stall_s=emergency_s, persist_s=0.0, bytes=1000, path=f"ckpt/step-{step}")
                    emit("emergency_checkpoint", step=step, ok=True, seconds=emergency_s)
                    committed = step
                else:
                    truth.wasted_steps += step - committed
                    truth.wasted_s += (t - t_at[committed]) if committed in t_at else 0.0
                emit("exit", step=step, code=75, reason="preempted")
                preempted = True
                break
            t_at[step] = t  # after any stall or validation at this step
        if not preempted:
            emit("done", step=step, epoch=step // steps_per_epoch, accuracy=accuracy, final_path="final/model.pt")
            break
        t += restart_s
        boot_no += 1

    d = Path(root) / "events" / run_id
    d.mkdir(parents=True, exist_ok=True)
    for k, lines in files.items():
        (d / f"{k}.jsonl").write_text("\n".join(lines) + "\n")
    return truth

