"""Spot availability from the real traces: per-zone stretches with no spot capacity.

A trace CSV (spotshield/local/injector.py reads the format: `preempted_at_s,unavailable_for_s`,
'#' comments) lists when the spot instance was preempted or unavailable and for how long; outside
those stretches spot had capacity. A SpotTrace answers "has this zone spot capacity at t?" for any
t >= 0: past its span the trace repeats from its start, so a job that overruns the window it was
started in still sees real stretches (the simulator says how many runs needed that).

Shipped traces (package data, so the study and the emulator do not depend on a shared folder):
spotshield/local/traces/default.csv (AWS us-east-1c, V100) and the three in
spotshield/deadline/traces/, all from skypilot-org/spot-traces (Can't Be Late, NSDI'24).
"""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from spotshield.errors import SpotShieldError
from spotshield.local.injector import DEFAULT_TRACE, load_trace

DEFAULT_NAME = "aws-04-22-2023_us-east-1c_v100_1"  # what spotshield/local/traces/default.csv holds


@dataclass(frozen=True)
class SpotTrace:
    name: str
    span_s: float  # the length of the trace (seconds)
    outages: tuple[tuple[float, float], ...]  # (start, end) seconds with no spot capacity, sorted, disjoint

    def __post_init__(self):
        object.__setattr__(self, "_starts", [a for a, _ in self.outages])

    def _local(self, t: float) -> tuple[float, float]:
        base = (t // self.span_s) * self.span_s
        return base, t - base

    def _outage_at(self, t_local: float) -> int | None:
        i = bisect.bisect_right(self._starts, t_local) - 1
        return i if i >= 0 and t_local < self.outages[i][1] else None

    def available(self, t: float) -> bool:
        return self._outage_at(self._local(t)[1]) is None

    def next_change(self, t: float) -> float:
        """The first time after t at which availability may flip."""
        base, local = self._local(t)
        i = self._outage_at(local)
        if i is not None:
            return base + self.outages[i][1]
        j = bisect.bisect_right(self._starts, local)
        return base + (self._starts[j] if j < len(self._starts) else self.span_s)

    def inverted(self) -> "SpotTrace":
        """The same trace read the other way: its stretches are when spot HAD capacity."""
        gaps, t = [], 0.0
        for a, b in self.outages:
            if a > t:
                gaps.append((t, a))
            t = max(t, b)
        if t < self.span_s:
            gaps.append((t, self.span_s))
        return SpotTrace(self.name, self.span_s, tuple(gaps))

    def spot_fraction(self, start: float = 0.0, end: float | None = None) -> float:
        """The share of [start, end) with spot capacity (default: the whole trace)."""
        return any_available_fraction([self], start, end)


def any_available_fraction(traces: "list[SpotTrace]", start: float = 0.0, end: float | None = None) -> float:
    """The share of [start, end) in which at least one of the traces (zones) has spot capacity."""
    end = min(tr.span_s for tr in traces) if end is None else end
    t, up = start, 0.0
    while t < end:
        nxt = min(min(tr.next_change(t) for tr in traces), end)
        up += (nxt - t) if any(tr.available(t) for tr in traces) else 0.0
        t = nxt
    return up / (end - start) if end > start else 0.0


def _span_from_header(text: str) -> float | None:
    """The header's '19961 ticks' x 'tick 32s', else its '177.4 h'."""
    head = " ".join(line for line in text.splitlines() if line.startswith("#"))
    ticks, tick = re.search(r"(\d+) ticks", head), re.search(r"tick (\d+(?:\.\d+)?)\s*s", head)
    if ticks and tick:
        return int(ticks.group(1)) * float(tick.group(1))
    hours = re.search(r"(\d+(?:\.\d+)?) h\b", head)
    return float(hours.group(1)) * 3600.0 if hours else None


def from_csv(path: str | Path, name: str | None = None) -> SpotTrace:
    """A trace from a CSV file; its span from the header, else where its last row ends."""
    p = Path(path)
    events = load_trace(str(p))  # one reader of the format; raises SpotShieldError on a bad file
    merged: list[list[float]] = []
    for ev in events:
        a, b = ev.t, ev.t + (ev.unavailable_s or 0.0)
        if b <= a:
            continue  # a preemption with capacity back at once: no stretch to replay
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    end = max([b for _, b in merged] + [ev.t for ev in events])
    span = max(_span_from_header(p.read_text()) or 0.0, end)
    if span <= 0:
        raise SpotShieldError(f"trace {path} spans no time")
    return SpotTrace(name or p.stem, span, tuple((a, min(b, span)) for a, b in merged))


def shipped() -> dict[str, Path]:
    """The traces that ship with the package, by name."""
    out = {DEFAULT_NAME: Path(str(resources.files("spotshield.local") / DEFAULT_TRACE))}
    folder = resources.files("spotshield.deadline") / "traces"
    for f in sorted(folder.iterdir(), key=lambda f: f.name):
        if f.name.endswith(".csv"):
            out[f.name[:-4]] = Path(str(f))
    return out


def load(name_or_path: str) -> SpotTrace:
    """A shipped trace by name, or any trace CSV by path."""
    known = shipped()
    if name_or_path in known:
        return from_csv(known[name_or_path], name_or_path)
    p = Path(name_or_path).expanduser()
    if not p.is_file():
        raise SpotShieldError(f"trace {name_or_path} not found; give a CSV path or one of {', '.join(known)}")
    return from_csv(p)
