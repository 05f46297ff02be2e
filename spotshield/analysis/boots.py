"""A run's events split into boots (one trainer process each), in order.

Each (host, boot) pair is one process; the order of boots is the order of their first
event. Progress points (t, step) come from every event that carries a step, so the
step clock can be interpolated between the periodic `step` events.
"""
from __future__ import annotations

from dataclasses import dataclass, field

_PROGRESS_EVENTS = ("step", "epoch_end", "checkpoint", "preempt_notice", "done")


@dataclass
class Boot:
    host: str
    boot: str
    events: list[dict] = field(default_factory=list)

    def first(self, name: str) -> dict | None:
        return next((e for e in self.events if e["event"] == name), None)

    def all(self, name: str) -> list[dict]:
        return [e for e in self.events if e["event"] == name]

    @property
    def from_step(self) -> int:
        r = self.first("resume")
        return int(r["from_step"]) if r else 0

    @property
    def t_begin(self) -> float:
        return self.events[0]["t"]

    def progress(self) -> list[tuple[float, int]]:
        """(t, step) points of training progress in this boot, from the resume point on."""
        r = self.first("resume") or self.first("start")
        pts = [(r["t"], self.from_step)] if r else []
        for e in self.events:
            if e["event"] in _PROGRESS_EVENTS and "step" in e:
                # a checkpoint event is written when the save commits, possibly many steps
                # later (async persist); snapshot_t is when training was at its step
                t = e.get("snapshot_t", e["t"]) if e["event"] == "checkpoint" else e["t"]
                pts.append((float(t), int(e["step"])))
        return pts

    @property
    def last_step(self) -> int:
        steps = [s for _, s in self.progress()]
        ex = self.first("exit")
        if ex is not None and "step" in ex:
            steps.append(int(ex["step"]))
        return max(steps, default=self.from_step)

    def time_at_step(self, step: float) -> float:
        """When this boot reached `step`, interpolated linearly between progress points."""
        # Several events can share a step (the step event, then a checkpoint after its
        # stall, then validation): the latest time at a step is when training went on.
        latest: dict[int, float] = {}
        for t, s in self.progress():
            latest[s] = max(t, latest.get(s, t))
        pts = sorted((t, s) for s, t in latest.items())
        pts.sort(key=lambda p: p[1])
        if not pts:
            return self.t_begin
        if step <= pts[0][1]:
            return pts[0][0]
        for (t0, s0), (t1, s1) in zip(pts, pts[1:]):
            if s0 <= step <= s1:
                return t0 if s1 == s0 else t0 + (t1 - t0) * (step - s0) / (s1 - s0)
        return pts[-1][0]

    def seconds_per_step(self) -> float | None:
        pts = [p for p in self.progress()]
        if len(pts) < 2:
            return None
        (t0, s0), (t1, s1) = min(pts, key=lambda p: p[0]), max(pts, key=lambda p: p[0])
        return (t1 - t0) / (s1 - s0) if s1 > s0 else None

    def first_step_time(self) -> float | None:
        """Estimated time of the first training step after the resume point.

        `step` events are periodic, so the first one after a resume may be several steps
        in; its time is walked back by the boot's own seconds per step.
        """
        base = self.from_step
        later = [(t, s) for t, s in self.progress() if s > base]
        if not later:
            return None
        t, s = min(later)
        sps = self.seconds_per_step() or 0.0
        return max(t - (s - base - 1) * sps, (self.first("resume") or self.first("start") or {"t": t})["t"])


def split_boots(events: list[dict]) -> list[Boot]:
    boots: dict[tuple[str, str], Boot] = {}
    for e in events:
        key = (str(e.get("host")), str(e.get("boot")))
        boots.setdefault(key, Boot(*key)).events.append(e)
    return sorted(boots.values(), key=lambda b: b.t_begin)
