"""The preemption injector: when Google would take a Spot VM back, played on the emulated clock.

Patterns (all seeded; times are emulated seconds from when the injector starts):
  none     never
  regular  every 3600/rate s
  poisson  exponential gaps with mean 3600/rate s (memoryless)
  bursty   clusters of preemptions separated by quiet periods; same mean rate. Real traces
           cluster (see /work/shared/data/spot-traces/README.md), which Poisson does not.
  trace    replay the preemptions of a spot trace (spotshield/spot_traces.py reads the file and
           its polarity; default: the packaged real AWS V100 trace), from a seeded offset into it
           (seed 0: its start; spot_traces.seeded_offset); with rate > 0 the trace is compressed
           (or stretched) so its mean rate is `rate` per hour, keeping its shape. A preemption's
           outage (a stockout) delays the repair of the preempted instance.

The rate is per group (fleet), not per instance: at each event one RUNNING instance is chosen
(seeded) and preempted. An event with no RUNNING instance is recorded as skipped. Under regular
the members take their turns like its clock: the one preempted longest ago (or never) goes next,
seeded among ties, so a group of N sees each member preempted every N/rate hours rather than one
member twice by chance; the other patterns choose at random, as independent Spot VMs would see.
"""
from __future__ import annotations

import heapq
import random
import threading
import time
from dataclasses import dataclass
from typing import Iterator

from spotshield import spot_traces
from spotshield.errors import SpotShieldError
from spotshield.local.clock import EmulatedClock

PATTERNS = ("none", "regular", "poisson", "bursty", "trace")
SECONDS_PER_HOUR = 3600.0
BURST_MEAN_SIZE = 3.0  # preemptions per cluster on average (bursty)
BURST_GAP_FRACTION = 0.05  # gaps inside a cluster, as a fraction of the mean gap (a zone running dry)


@dataclass(frozen=True)
class Event:
    t: float  # emulated seconds after start
    unavailable_s: float | None = None


def check(pattern: str, rate: float, trace: str | None = None) -> None:
    if pattern not in PATTERNS:
        raise SpotShieldError(f"unknown preemption pattern {pattern!r}; choose one of {', '.join(PATTERNS)}")
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate != rate or rate < 0:
        raise SpotShieldError(f"preemption rate must be >= 0 per hour, not {rate}")
    if pattern in ("regular", "poisson", "bursty") and rate == 0:
        raise SpotShieldError(f"pattern {pattern} needs a rate > 0 per hour (or use pattern none)")
    if pattern == "trace":
        load_trace(trace)


def load_trace(path: str | None) -> list[Event]:
    """The preemptions of a trace (a shipped trace's name or a CSV path; None: the default trace)."""
    tr = spot_traces.load(path)
    events = [Event(p.t, p.unavailable_s) for p in tr.preemptions()]
    if not events:
        raise SpotShieldError(f"trace {path or spot_traces.DEFAULT_NAME} holds no preemptions")
    return sorted(events, key=lambda e: e.t)


def schedule(pattern: str, rate: float, seed: int = 0, trace: str | None = None) -> Iterator[Event]:
    """The preemption times of a pattern (an infinite iterator, except for none and trace)."""
    check(pattern, rate, trace)
    rng = random.Random(seed)
    mean = SECONDS_PER_HOUR / rate if rate > 0 else float("inf")
    t = 0.0
    if pattern == "none":
        return
    if pattern == "regular":
        while True:
            t += mean
            yield Event(t)
    if pattern == "poisson":
        while True:
            t += rng.expovariate(1.0 / mean)
            yield Event(t)
    if pattern == "bursty":
        # clusters start as a Poisson process at rate/size; each holds 1 + Poisson(size - 1)
        # preemptions with short exponential gaps (BURST_GAP_FRACTION of the mean gap), so the
        # long-run rate stays `rate` while gaps are far more variable than Poisson's.
        pending: list[float] = []
        next_cluster = rng.expovariate(1.0 / (mean * BURST_MEAN_SIZE))
        while True:
            while not pending or next_cluster <= pending[0]:
                s = next_cluster
                for _ in range(1 + _poisson(rng, BURST_MEAN_SIZE - 1)):
                    heapq.heappush(pending, s)
                    s += rng.expovariate(1.0 / (mean * BURST_GAP_FRACTION))
                next_cluster += rng.expovariate(1.0 / (mean * BURST_MEAN_SIZE))
            yield Event(heapq.heappop(pending))
    if pattern == "trace":
        tr = spot_traces.load(trace)
        load_trace(trace)  # a trace without preemptions is an error, not a quiet run
        factor = 1.0
        if rate > 0:
            observed = len(tr.preemptions()) / (tr.span_s / SECONDS_PER_HOUR)  # preemptions per hour in the trace
            factor = observed / rate  # < 1 compresses the trace in time
        for p in tr.replay(spot_traces.seeded_offset(tr, seed)):
            yield Event(p.t * factor, p.unavailable_s * factor if p.unavailable_s is not None else None)


def _poisson(rng: random.Random, lam: float) -> int:
    # Knuth's method: fine for the small means used here
    import math

    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


class Injector:
    """Plays a schedule against a fleet controller on the emulated clock (a background thread)."""

    def __init__(self, fleet, clock: EmulatedClock, pattern: str = "none", rate: float = 0.0,
                 seed: int = 0, trace: str | None = None, history: list[dict] | None = None):
        check(pattern, rate, trace)
        self.fleet, self.clock = fleet, clock
        self.pattern, self.rate, self.seed, self.trace = pattern, rate, seed, trace
        # shared across reconfigurations, so a region's record of preemptions is never reset
        self.history: list[dict] = history if history is not None else []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._rng = random.Random(seed + 7919)  # victim choice; a different stream from the schedule

    def config(self) -> dict:
        return {"pattern": self.pattern, "rate": self.rate, "seed": self.seed, "trace": self.trace,
                "time_scale": self.clock.time_scale, "preemptions": sum(h["outcome"] == "preempted" for h in self.history),
                "skipped": sum(h["outcome"] == "skipped" for h in self.history)}

    def start(self) -> "Injector":
        self._thread = threading.Thread(target=self._run, name="preemption-injector", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        start = self.clock.now()
        for ev in schedule(self.pattern, self.rate, self.seed, self.trace):
            while not self._stop.is_set():
                left = start + ev.t - self.clock.now()
                if left <= 0:
                    break
                # re-read the clock at least every 0.5 s, so a changed time scale takes effect
                self._stop.wait(min(self.clock.to_real(left), 0.5))
            if self._stop.is_set():
                return
            self.fire(ev)

    def fire(self, ev: Event | None = None) -> dict:
        """Preempt one RUNNING instance now (chosen with the seeded generator)."""
        b = self.fleet.backend
        with b.lock:
            running = sorted((i for i in b.instances.values() if i.status == "RUNNING"
                              and self.fleet._runtime(i) is not None and not self.fleet._runtime(i).stopping),
                             key=lambda i: i.name)
            victim = self._rng.choice(self._candidates(running)) if running else None
            if victim is not None and ev is not None and ev.unavailable_s:
                victim.unavailable_s = ev.unavailable_s
        rec = {"t": time.time(), "emulated_t": self.clock.now(), "instance": victim.name if victim else None,
               "outcome": "skipped"}
        if victim is not None and self.fleet.preempt(victim):
            rec["outcome"] = "preempted"
        self.history.append(rec)
        return rec

    def _candidates(self, running: list) -> list:
        """Those of the RUNNING members the next preemption may take (see the module's note)."""
        if self.pattern != "regular":
            return running
        last = {h["instance"]: i for i, h in enumerate(self.history) if h["outcome"] == "preempted"}
        turn = min(last.get(i.name, -1) for i in running)
        return [i for i in running if last.get(i.name, -1) == turn]
