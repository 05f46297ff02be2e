"""The job's progress, rate and restart overhead, measured from its events (spotshield/events.py).

  steps done      the `step` of the newest event that has one (after a resume that is the step
                  it resumed from, so lost work is not counted as done)
  total_steps     from the newest `start` event
  rate            steps per second, pooled over consecutive `step` events of the same boot
                  (pairs across a preemption or a resume are left out: they include downtime)
  restart overhead for each resumed boot: from its process start to its first `step` event,
                  plus the `seconds_lost` its `resume` event reports, plus `boot_s`, the VM
                  provisioning before the process starts, which no event sees
  finished        a `done` event
Work is in seconds of compute at the measured rate; before the first rate the caller's estimate
of the total work stands in, and progress is that estimate times steps done / total_steps.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from spotshield.events import read_events
from spotshield.storage import Store


@dataclass(frozen=True)
class JobProgress:
    work_done_s: float
    work_total_s: float
    finished: bool = False
    restart_s: float | None = None  # measured restart overhead, None until a resume was seen
    steps_done: int = 0
    total_steps: int | None = None
    steps_per_s: float | None = None


ProgressSource = Callable[[], JobProgress]


def _boot(e: dict) -> tuple:
    return e.get("host"), e.get("boot")


def _step_of(e: dict) -> int | None:
    name = e.get("event")
    if name == "resume":
        return e.get("from_step")
    return e.get("step") if name in ("step", "checkpoint", "done") else None


def measured_rate(events: list[dict]) -> float | None:
    """Steps per second over consecutive step events within one boot, or None with too few."""
    last: dict[tuple, dict] = {}
    steps = seconds = 0.0
    for e in events:
        if e.get("event") == "resume":
            last.pop(_boot(e), None)
        if e.get("event") != "step":
            continue
        prev = last.get(_boot(e))
        if prev is not None and e["step"] > prev["step"] and e["t"] > prev["t"]:
            steps += e["step"] - prev["step"]
            seconds += e["t"] - prev["t"]
        last[_boot(e)] = e
    return steps / seconds if seconds > 0 else None


def measured_restart_s(events: list[dict], boot_s: float = 0.0) -> float | None:
    """Mean restart overhead of the boots that resumed, in seconds; None when none did."""
    starts: dict[tuple, float] = {}
    resumed: dict[tuple, float] = {}
    overheads = []
    for e in events:
        key, name = _boot(e), e.get("event")
        if name == "start":
            starts[key] = min(e["t"], e.get("process_start_t") or e["t"])
        elif name == "resume" and key in starts:
            resumed[key] = float(e.get("seconds_lost") or 0.0)
        elif name == "step" and key in resumed:
            overheads.append(boot_s + (e["t"] - starts[key]) + resumed.pop(key))
    return sum(overheads) / len(overheads) if overheads else None


def progress_from_events(events: list[dict], work_estimate_s: float, boot_s: float = 0.0) -> JobProgress:
    total_steps = next((e.get("total_steps") for e in reversed(events) if e.get("event") == "start"), None)
    steps = next((int(n) for e in reversed(events) if (n := _step_of(e)) is not None), 0)
    finished = any(e.get("event") == "done" for e in events)
    rate = measured_rate(events)
    if rate and total_steps:
        done_s, total_s = steps / rate, total_steps / rate
    elif total_steps:
        done_s, total_s = work_estimate_s * min(1.0, steps / total_steps), work_estimate_s
    else:
        done_s, total_s = 0.0, work_estimate_s
    if finished:
        done_s = total_s
    return JobProgress(done_s, total_s, finished, measured_restart_s(events, boot_s), steps, total_steps, rate)


class EventsProgress:
    """A ProgressSource over the run's events in its store (read with events.read_events)."""

    def __init__(self, store: Store, run_id: str, work_estimate_s: float, boot_s: float = 0.0):
        self.store, self.run_id = store, run_id
        self.work_estimate_s, self.boot_s = work_estimate_s, boot_s

    def __call__(self) -> JobProgress:
        return progress_from_events(read_events(self.store, self.run_id), self.work_estimate_s, self.boot_s)
