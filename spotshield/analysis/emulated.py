"""A run's events on the emulated clock: the one conversion from the events' real seconds.

The events carry real unix seconds; every duration the study reports (R and its parts, wasted
compute, billed hours) is in emulated seconds. How real seconds become emulated ones is the run's
time model, its label `startup_clock` (grid.json; spotshield/analysis/grid.py):

  real     (the local driver's default) a guest's own start-up counts at 1x: from its VM's
           power-on (the boot script's vm_boot, else the trainer process's start) to its first
           training step (boots.Boot.first_step_time), or to its stop when it never trained,
           real seconds are emulated seconds. That is Python, torch, data and the checkpoint's
           download and load, which take the same real seconds on a VM and which the emulator
           does not model. Everything else counts time_scale emulated seconds per real second:
           the gaps the emulator models (notice window, repair delay, VM boot), training paced
           like an accelerator (the trainer's pace_step_s) and the wind-down. The emulator runs
           its clock the same way (guest_startup real: spotshield/local/fleet.py holds it at 1x
           until the trainer's /healthz reports a first step), so preemptions meet start-ups as
           often as on a real VM.
  scaled   every real second is time_scale emulated seconds, start-up included (the process
           driver, whose schedule runs that way; grids from before the split).

to_emulated() maps every time field of every event (t and each *_t) and scales the training
thread's own durations (stall_s, persist_s); after it, spotshield/boots.py and billing work in
emulated seconds with time_scale 1.
"""
from __future__ import annotations

import bisect

from spotshield import boots as bootmodel

STARTUP_CLOCKS = ("real", "scaled")
SCALED_DURATIONS = ("stall_s", "persist_s")  # seconds of training-thread work, paced like the rest


def startup_intervals(events: list[dict]) -> list[tuple[float, float]]:
    """Real (start, end) seconds of every boot's start-up, merged: power-on to first step."""
    spans = []
    for b in bootmodel.split_boots(events):
        start = b.t_start
        if b.first("vm_boot") is None:  # no boot script: the trainer process's own start
            st = b.first("start") or {}
            if isinstance(st.get("process_start_t"), (int, float)):
                start = min(start, float(st["process_start_t"]))
        end = b.first_step_time()
        if end is None:  # never trained: its start-up lasted until it was told to stop (or ended)
            notice = b.notice
            end = float(notice.get("notice_t") or notice["t"]) if notice else b.t_end
        if end > start:
            spans.append((start, end))
    merged: list[list[float]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return [(a, b) for a, b in merged]


class Timeline:
    """Real seconds -> emulated seconds: time_scale x, except inside `held` intervals (1x)."""

    def __init__(self, time_scale: float, held: list[tuple[float, float]] = (), origin: float = 0.0):
        self.scale, self.origin = float(time_scale), float(origin)
        self.held = sorted(held)
        self._starts = [a for a, _ in self.held]
        # held seconds before each interval's start, for O(log n) lookups
        self._before, total = [], 0.0
        for a, b in self.held:
            self._before.append(total)
            total += b - a

    def held_before(self, t: float) -> float:
        """Held real seconds in [origin, t] (held intervals are taken to lie after the origin)."""
        i = bisect.bisect_right(self._starts, t) - 1
        if i < 0:
            return 0.0
        a, b = self.held[i]
        return self._before[i] + min(t, b) - a

    def at(self, t: float) -> float:
        """The emulated time of real time t (the origin maps to itself)."""
        held = self.held_before(t)
        return self.origin + (t - self.origin - held) * self.scale + held

    def span(self, a: float, b: float) -> float:
        """Emulated seconds between real times a and b."""
        return self.at(b) - self.at(a)


def timeline(events: list[dict], time_scale: float, startup_clock: str = "scaled") -> Timeline:
    if startup_clock not in STARTUP_CLOCKS:
        raise ValueError(f"startup_clock must be one of {', '.join(STARTUP_CLOCKS)}, not {startup_clock!r}")
    times = [e["t"] for e in events if isinstance(e.get("t"), (int, float))]
    held = startup_intervals(events) if startup_clock == "real" and time_scale != 1 else []
    origin = min([*times, *(a for a, _ in held)], default=0.0)
    return Timeline(time_scale, held, origin)


def to_emulated(events: list[dict], time_scale: float, startup_clock: str = "scaled") -> list[dict]:
    """The events with every time on the emulated clock (module docstring); new dicts."""
    tl = timeline(events, time_scale, startup_clock)
    out = []
    for e in events:
        e2 = dict(e)
        for k, v in e.items():
            if (k == "t" or k.endswith("_t")) and isinstance(v, (int, float)) and not isinstance(v, bool):
                e2[k] = tl.at(float(v))
            elif k in SCALED_DURATIONS and isinstance(v, (int, float)) and not isinstance(v, bool):
                e2[k] = float(v) * tl.scale
        out.append(e2)
    return out
