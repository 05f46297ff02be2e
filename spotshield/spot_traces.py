"""Spot traces: the one reader of trace CSVs and the one reading of the real traces' polarity.

Every user imports this module: the emulator's `trace` preemption pattern (local/injector.py),
zone stockouts (local/capacity.py), the deadline simulator and its report (deadline/) and the
study's trace regime (analysis/grids/study-trace.yaml). A SpotTrace answers "has this zone spot
capacity at t?" for any t >= 0 (past its span the trace repeats from its start) and lists the
preemptions it holds.

Files: CSV with '#' comment lines and the columns `preempted_at_s[,unavailable_for_s]`, read in
one of two ways:

  a plain list     (a user's or a test's file): read as written, each row a preemption at
                   preempted_at_s with spot capacity back unavailable_for_s later (none: at once).
  a source export  (its header names skypilot-org/spot-traces: shared/data/spot-traces/*.csv and
                   the packaged copies in spotshield/traces/): each row is a stretch of ticks whose
                   value in the source JSON is 1, under the columns its exporter chose.

Polarity of an export (SOURCE_ONE_MEANS). The source's README says each tick holds "the number
of available instances"; its 4-node traces hold 0-4; every 1-node trace starts at 0 (the probe
before the instance is up); the GCP us-central1 traces are 1 for 45.6 h straight. So a 1 is a
running instance, spot AVAILABLE (docs/deadline.md, "The two readings", gives all the evidence;
the project settled on it). The columns' names follow the other reading (1 = preempted), kept
as READING_AS_NAMED for the deadline report's side-by-side tables. Under the project's reading a
preemption is the END of a stretch of 1s (the instance was running, then was not) and capacity
is back where the next stretch starts; the gap before the first stretch is the launch, not a
preemption.
"""
from __future__ import annotations

import bisect
import csv
import math
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from spotshield.errors import SpotShieldError

SOURCE_MARK = "skypilot-org/spot-traces"  # in the header of an export of the source
READING_AVAILABLE = "available"  # a source tick of 1 = a running instance (the project's reading)
READING_AS_NAMED = "unavailable"  # a source tick of 1 = preempted, as the export's columns say
READINGS = (READING_AVAILABLE, READING_AS_NAMED)
SOURCE_ONE_MEANS = READING_AVAILABLE
TRACE_DIR = "traces"  # package data of spotshield: the four exports of shared/data/spot-traces
DEFAULT_NAME = "aws-04-22-2023_us-east-1c_v100_1"  # the emulator's default `trace` pattern
GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0  # spreads seeded offsets evenly over a trace


@dataclass(frozen=True)
class Preemption:
    t: float  # trace seconds from the trace's start
    unavailable_s: float | None = None  # how long spot capacity stays gone (a stockout); None: back at once


@dataclass(frozen=True)
class SpotTrace:
    name: str
    span_s: float  # the length of the trace (seconds)
    outages: tuple[tuple[float, float], ...]  # (start, end) seconds with no spot capacity, sorted, disjoint
    # preemptions that outages cannot show (a plain list's rows without an outage); None: derived
    listed: tuple[Preemption, ...] | None = field(default=None, compare=False)

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
        return SpotTrace(self.name, self.span_s, _complement(self.outages, self.span_s))

    def spot_fraction(self, start: float = 0.0, end: float | None = None) -> float:
        """The share of [start, end) with spot capacity (default: the whole trace)."""
        return any_available_fraction([self], start, end)

    def preemptions(self) -> list[Preemption]:
        """A running instance taken back: every outage that starts after t = 0 (the one at 0 is the
        launch), with its length; a plain list's rows as written."""
        if self.listed is not None:
            return list(self.listed)
        return [Preemption(a, b - a) for a, b in self.outages if a > 0]

    def replay(self, offset_s: float = 0.0) -> list[Preemption]:
        """One pass over the trace from offset_s (wrapping at its end): times from the offset."""
        off = offset_s % self.span_s if self.span_s > 0 else 0.0
        out = [Preemption(p.t - off, p.unavailable_s) for p in self.preemptions() if p.t >= off]
        out += [Preemption(p.t + self.span_s - off, p.unavailable_s) for p in self.preemptions() if p.t < off]
        return out


def seeded_offset(trace: SpotTrace, seed: int) -> float:
    """Where seed `seed` starts replaying: 0 for seed 0, then evenly spread (golden-ratio steps), so
    repeated runs meet different windows of one real trace."""
    return (seed * GOLDEN % 1.0) * trace.span_s


def any_available_fraction(traces: "list[SpotTrace]", start: float = 0.0, end: float | None = None) -> float:
    """The share of [start, end) in which at least one of the traces (zones) has spot capacity."""
    end = min(tr.span_s for tr in traces) if end is None else end
    t, up = start, 0.0
    while t < end:
        nxt = min(min(tr.next_change(t) for tr in traces), end)
        up += (nxt - t) if any(tr.available(t) for tr in traces) else 0.0
        t = nxt
    return up / (end - start) if end > start else 0.0


def _complement(stretches, span: float) -> tuple[tuple[float, float], ...]:
    gaps, t = [], 0.0
    for a, b in stretches:
        if a > t:
            gaps.append((t, a))
        t = max(t, b)
    if t < span:
        gaps.append((t, span))
    return tuple(gaps)


def _merge(rows: list[Preemption], span: float | None = None) -> list[tuple[float, float]]:
    merged: list[list[float]] = []
    for r in sorted(rows, key=lambda r: r.t):
        a, b = r.t, r.t + (r.unavailable_s or 0.0)
        if b <= a:
            continue  # no stretch to replay
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return [(a, b if span is None else min(b, span)) for a, b in merged]


def _span_from_header(head: str) -> float | None:
    """The header's '19961 ticks' x 'tick 32s', else its '177.4 h'."""
    ticks, tick = re.search(r"(\d+) ticks", head), re.search(r"tick (\d+(?:\.\d+)?)\s*s", head)
    if ticks and tick:
        return int(ticks.group(1)) * float(tick.group(1))
    hours = re.search(r"(\d+(?:\.\d+)?) h\b", head)
    return float(hours.group(1)) * 3600.0 if hours else None


def read_rows(text: str, where: str) -> tuple[str, list[Preemption]]:
    """(header comments, rows) of a trace CSV; a bad file is one SpotShieldError line."""
    head = " ".join(line for line in text.splitlines() if line.startswith("#"))
    body = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    rows = []
    for i, r in enumerate(csv.DictReader(body), start=2):
        try:
            t = float(r["preempted_at_s"])
            u = r.get("unavailable_for_s")
            rows.append(Preemption(t, float(u) if u not in (None, "") else None))
        except (KeyError, TypeError, ValueError):
            raise SpotShieldError(f"trace {where} line {i}: need a number in preempted_at_s") from None
    return head, rows


def parse(text: str, name: str, where: str | None = None, reading: str = SOURCE_ONE_MEANS) -> SpotTrace:
    """A trace from CSV text; `reading` applies to a source export only (module docstring)."""
    where = where or name
    if reading not in READINGS:
        raise SpotShieldError(f"trace reading must be one of {', '.join(READINGS)}, not {reading!r}")
    head, rows = read_rows(text, where)
    if not rows:
        raise SpotShieldError(f"trace {where} holds no rows")
    ends = [r.t + (r.unavailable_s or 0.0) for r in rows]
    span = max(_span_from_header(head) or 0.0, max(ends))
    if span <= 0:
        raise SpotShieldError(f"trace {where} spans no time")
    if SOURCE_MARK in head:
        ones = tuple(_merge(rows, span))
        outages = _complement(ones, span) if reading == READING_AVAILABLE else ones
        return SpotTrace(name, span, outages)
    listed = tuple(sorted(rows, key=lambda r: r.t))
    return SpotTrace(name, span, tuple(_merge(rows, span)), listed)


def from_csv(path: str | Path, name: str | None = None, reading: str = SOURCE_ONE_MEANS) -> SpotTrace:
    """A trace from a CSV file; its span from the header, else where its last row ends."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise SpotShieldError(f"trace {path} not found; give a CSV with a preempted_at_s column")
    return parse(p.read_text(), name or p.stem, str(path), reading)


def shipped() -> dict[str, Path]:
    """The traces that ship with the package (spotshield/traces/), by name."""
    folder = resources.files("spotshield") / TRACE_DIR
    return {f.name[:-4]: Path(str(f)) for f in sorted(folder.iterdir(), key=lambda f: f.name)
            if f.name.endswith(".csv")}


def load(name_or_path: str | None = None, reading: str = SOURCE_ONE_MEANS) -> SpotTrace:
    """A shipped trace by name (None: the default one), or any trace CSV by path."""
    known = shipped()
    key = name_or_path or DEFAULT_NAME
    if key in known:
        return from_csv(known[key], key, reading)
    p = Path(key).expanduser()
    if not p.is_file():
        raise SpotShieldError(f"trace {key} not found; give a CSV path or one of {', '.join(known)}")
    return from_csv(p, reading=reading)
