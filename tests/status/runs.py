"""Write a realistic run into a store with the trainer's own EventLog, at chosen times."""
from __future__ import annotations

import json
import time
from unittest import mock

from spotshield.events import EventLog
from spotshield.layout import FORMAT, events_prefix


def emit(log: EventLog, t: float, event: str, **fields) -> None:
    with mock.patch("spotshield.events.time.time", return_value=t):
        log.emit(event, **fields)


def write_run(store, run_id: str, host: str, t0: float, *, done: bool = False) -> None:
    """Boot 1 trains to step 300, is preempted at 320; boot 2 resumes from 300 and goes on."""
    b1 = EventLog(store, run_id, host, "b1")
    emit(b1, t0, "start", strategy="adaptive", model="tiny-cnn", data="digits", epochs=4,
         total_steps=1000, device="cpu", pid=1)
    for i, step in enumerate((100, 200)):
        emit(b1, t0 + 10 + 10 * i, "step", step=step, epoch=0, loss=1.0 - i * 0.2, images_per_s=640.0)
    emit(b1, t0 + 30, "epoch_end", epoch=1, step=250, loss=0.5, accuracy=0.81, images_per_s=600.0,
         epoch_seconds=30.0)
    emit(b1, t0 + 32, "checkpoint", step=300, epoch=1, reason="adaptive", stall_s=0.04, persist_s=0.3,
         bytes=2 * 1024 * 1024, path="ckpt/step-000300")
    store.write("ckpt/step-000300/meta.json", json.dumps({"format": FORMAT, "step": 300, "epoch": 1, "files": {}}).encode())
    emit(b1, t0 + 35, "preempt_notice", step=320, source="sigterm")
    emit(b1, t0 + 36, "emergency_checkpoint", step=320, ok=False, seconds=26.0)
    emit(b1, t0 + 37, "exit", step=320, code=75, reason="preempted")
    b2 = EventLog(store, run_id, host, "b2")
    emit(b2, t0 + 60, "start", strategy="adaptive", model="tiny-cnn", data="digits", epochs=4,
         total_steps=1000, device="cpu", pid=2)
    emit(b2, t0 + 61, "resume", from_step=300, epoch=1, checkpoint="ckpt/step-000300", seconds_lost=4.5,
         steps_lost=20)
    for i, step in enumerate((400, 500, 600)):
        emit(b2, t0 + 70 + 10 * i, "step", step=step, epoch=2, loss=0.4, images_per_s=700.0)
    emit(b2, t0 + 95, "epoch_end", epoch=2, step=600, loss=0.3, accuracy=0.93, images_per_s=690.0,
         epoch_seconds=35.0)
    if done:
        emit(b2, t0 + 120, "done", step=1000, epoch=4, accuracy=0.95, final_path="final/model.pt")
    # Let time.time() move on for nothing else.
    _ = time.time()


VM_EVENTS = ("vm_boot", "command_start", "command_exit", "vm_notice", "crash_loop")  # the boot script's


def write_events(store, run_id: str, events: list[dict]) -> None:
    """Event dicts into the store as their writers lay them out: the boot script's per boot in
    <host>-<boot>-vm.jsonl, the trainer's (rank 0) in <host>-<boot>.jsonl."""
    objects: dict[str, list[str]] = {}
    for e in events:
        suffix = "-vm" if e["event"] in VM_EVENTS else ""
        key = f"{events_prefix(run_id)}/{e['host']}-{e['boot']}{suffix}.jsonl"
        objects.setdefault(key, []).append(json.dumps({**e, "run_id": run_id}, sort_keys=True))
    for key, lines in objects.items():
        store.write(key, ("\n".join(lines) + "\n").encode())
