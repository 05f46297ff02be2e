"""A run's events on the emulated clock: the one conversion from the events' real seconds.

The events carry real unix seconds; every duration the study reports (R and its parts, wasted
compute, billed hours) is in emulated seconds. How real seconds become emulated ones is the run's
time model, its label `guest_time` (grid.json; spotshield/analysis/grid.py):

  real     (the default of grids) a guest's own work that the emulator does not model counts
           at 1x, real seconds as emulated seconds, as it takes the same real seconds on a VM:
             start-up   from its VM's power-on (the boot script's vm_boot: its script_start_t,
                        else its t; without a boot script the trainer process's start) to its
                        first training step (boots.Boot.first_step_time), or to its notice when
                        it never trained: Python, torch, data, the checkpoint's download and load;
                        in a job of several VMs, to the job's next first step after its power-on
                        (boots.round_first_steps), whichever VM's rank 0 wrote it;
             shutdown   from a notice (vm_notice / preempt_notice) to the boot's last event:
                        shutdown.sh, the emergency checkpoint, the exit; in a job of several VMs
                        only the VM's own notice (boots.Boot.own_notice), not a peer's.
           Everything else counts time_scale emulated seconds per real second: the gaps the
           emulator models (repair delay, VM boot), training paced like an accelerator (the
           trainer's pace_step_s, its checkpoint stalls) and the wind-down after the last step.
           The emulator runs its clock the same way (fleet guest_time real: it holds the clock at
           1x until the trainer's /healthz reports a first step, and from a notice until the
           guest has exited), so preemptions meet start-ups as often as on a real VM; so does
           the grid's process driver.
  scaled   every real second is time_scale emulated seconds (grids from before the split, or
           guest_time: scaled).

to_emulated() maps every time field of every event (t and each *_t) and scales the training
thread's own durations (stall_s, persist_s); after it, spotshield/boots.py and billing work in
emulated seconds with time_scale 1.
"""
from __future__ import annotations

import bisect

from spotshield import boots as bootmodel
from spotshield.local.clock import GUEST_TIMES

SCALED_DURATIONS = ("stall_s", "persist_s")  # seconds of training-thread work, paced like the rest


def guest_intervals(events: list[dict]) -> list[tuple[float, float]]:
    """Real (start, end) seconds of every boot's own work, merged: its start-up (power-on to first
    step) and its shutdown (notice to its last event)."""
    spans = []
    boots = bootmodel.split_boots(events)
    several = bootmodel.side_by_side(boots)
    firsts = bootmodel.round_first_steps(boots) if several else []  # once: every boot looks them up
    for b in boots:
        start = b.t_start
        if b.first("vm_boot") is None:  # no boot script: the trainer process's own start
            st = b.first("start") or {}
            if isinstance(st.get("process_start_t"), (int, float)):
                start = min(start, float(st["process_start_t"]))
        notice = b.own_notice(several)
        t_notice = float(notice.get("notice_t") or notice["t"]) if notice else None
        # in a job every node's start-up ends at the job's next first step, whichever VM's rank 0 wrote it
        end = min((t for t0, t in firsts if t0 >= start), default=None) if several else b.first_step_time()
        if end is None or (t_notice is not None and end > t_notice):
            # never trained: its start-up lasted until it was told to stop (or ended)
            end = t_notice if t_notice is not None else b.t_end
        if end > start:
            spans.append((start, end))
        if t_notice is not None and b.t_end > t_notice:
            spans.append((t_notice, b.t_end))
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


def timeline(events: list[dict], time_scale: float, guest_time: str = "scaled") -> Timeline:
    if guest_time not in GUEST_TIMES:
        raise ValueError(f"guest_time must be one of {', '.join(GUEST_TIMES)}, not {guest_time!r}")
    times = [e["t"] for e in events if isinstance(e.get("t"), (int, float))]
    held = guest_intervals(events) if guest_time == "real" and time_scale != 1 else []
    origin = min([*times, *(a for a, _ in held)], default=0.0)
    return Timeline(time_scale, held, origin)


def to_emulated(events: list[dict], time_scale: float, guest_time: str = "scaled") -> list[dict]:
    """The events with every time on the emulated clock (module docstring); new dicts."""
    tl = timeline(events, time_scale, guest_time)
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
