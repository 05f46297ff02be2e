"""Preemption schedules: seeded, with the documented rates and shapes; bad input is one clear error."""
from __future__ import annotations

import itertools
import statistics
import threading

import pytest

from spotshield import spot_traces
from spotshield.errors import SpotShieldError
from spotshield.local.injector import load_trace, schedule


def first(pattern, rate, n, seed=0, trace=None):
    return [e.t for e in itertools.islice(schedule(pattern, rate, seed, trace), n)]


def gaps(ts):
    return [b - a for a, b in zip([0.0] + ts, ts)]


def test_regular_is_evenly_spaced():
    assert first("regular", 240, 4) == pytest.approx([15.0, 30.0, 45.0, 60.0])


def test_poisson_mean_and_seed():
    ts = first("poisson", 60, 4000, seed=1)
    g = gaps(ts)
    assert statistics.mean(g) == pytest.approx(60.0, rel=0.05)  # 60/h -> one a minute
    assert statistics.pstdev(g) / statistics.mean(g) == pytest.approx(1.0, rel=0.1)  # exponential: CV 1
    assert first("poisson", 60, 50, seed=1) == ts[:50]
    assert first("poisson", 60, 50, seed=2) != ts[:50]


def test_bursty_keeps_the_rate_but_clusters():
    ts = first("bursty", 60, 6000, seed=3)
    g = gaps(ts)
    assert len(ts) / (ts[-1] / 3600) == pytest.approx(60, rel=0.1)
    assert statistics.pstdev(g) / statistics.mean(g) > 1.3  # burstier than Poisson


def test_trace_replays_and_compresses():
    raw = load_trace(None)  # the packaged default trace, read as spotshield/spot_traces.py reads it
    # a source tick of 1 is a running instance: the first preemption is where the first stretch
    # (11200 s + 608 s) ends, and capacity is back where the next one starts (12160 s)
    assert len(raw) == 41 and raw[0].t == 11808 and raw[0].unavailable_s == 352
    assert first("trace", 0, 100) == [e.t for e in raw]  # seed 0 replays from the trace's start
    fast = list(schedule("trace", 240, 0, None))
    span_h = spot_traces.load(None).span_s / 3600 * (fast[0].t / raw[0].t)
    assert len(fast) / span_h == pytest.approx(240, rel=1e-6)
    assert fast[0].t / raw[0].t == pytest.approx(fast[5].t / raw[5].t)  # same shape, one factor


def test_trace_seeds_start_at_different_points_of_the_trace():
    s0, s1 = first("trace", 0, 5, seed=0), first("trace", 0, 5, seed=1)
    assert s0 != s1 and len(first("trace", 0, 100, seed=1)) == 41  # one whole pass either way


def test_a_trace_without_preemptions_is_refused():
    with pytest.raises(SpotShieldError, match="holds no preemptions"):
        next(iter(schedule("trace", 0, 0, "gcp-04-30-2023_us-central1-a_c3-88")))


def test_none_never_preempts():
    assert first("none", 0, 10) == []


@pytest.mark.parametrize("args,msg", [
    (("sometimes", 10), "unknown preemption pattern"),
    (("poisson", -1), "rate must be >= 0"),
    (("regular", 0), "needs a rate > 0"),
    (("trace", 0, 0, "/nonexistent.csv"), "not found"),
])
def test_bad_input(args, msg):
    with pytest.raises(SpotShieldError, match=msg):
        next(iter(schedule(*args)), None)


def test_bad_trace_file(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("preempted_at_s\nsoon\n")
    with pytest.raises(SpotShieldError, match="line 2"):
        load_trace(str(p))


class _Members:
    """The part of a FleetController the injector reads: RUNNING members, and preempt()."""

    def __init__(self, names):
        from types import SimpleNamespace

        self.backend = SimpleNamespace(lock=threading.Lock(), instances={
            n: SimpleNamespace(name=n, status="RUNNING", unavailable_s=None) for n in names})
        self.stopping = SimpleNamespace(stopping=False)
        self.preempted: list[str] = []

    def _runtime(self, inst):
        return self.stopping

    def preempt(self, inst) -> bool:
        self.preempted.append(inst.name)
        return True  # and back at once: every member stays RUNNING for the next event


def test_regular_takes_the_members_in_turn_and_the_others_at_random():
    from spotshield.local.clock import EmulatedClock
    from spotshield.local.injector import Injector

    names = ["vm-a", "vm-b", "vm-c"]
    for seed in range(4):
        m = _Members(names)
        inj = Injector(m, EmulatedClock(1.0), "regular", rate=60, seed=seed)
        for _ in range(6):
            inj.fire()
        first = m.preempted[:3]
        assert sorted(first) == names and m.preempted[3:] == first  # each once per round, in one order
    m.backend.instances["vm-b"].status = "STOPPING"  # a member being repaired is never the turn's
    assert inj.fire()["instance"] != "vm-b"
    # poisson: independent choices, so some seed's first preemptions repeat a member
    repeats = 0
    for seed in range(10):
        m = _Members(names)
        inj = Injector(m, EmulatedClock(1.0), "poisson", rate=60, seed=seed)
        for _ in range(3):
            inj.fire()
        repeats += len(set(m.preempted)) < 3
    assert repeats > 0
