"""Replay spot availability traces against a deadline policy, billing spot and on-demand time.

spotshield.analysis.simulate plays Poisson preemptions against checkpoint intervals; its loop
knows no availability, no on-demand and no deadline, so this is a separate, small loop over the
model of Can't Be Late (state.py): every move onto an instance costs the restart overhead d,
billed at that instance's price with no progress; a preemption (the zone's stretch without
capacity begins) stops the job at once and costs nothing until it moves again.

The loop ticks every `tick_s` seconds (the controller's cadence) and also stops exactly where
the zone it runs spot in loses capacity and where the work is done, so preemptions and the last
bill are not rounded to a tick. Times are seconds from the job's start; `start_s` places the
start in the traces. After the deadline a late job goes on by its policy's rules (up to
`overrun_s`, default one more deadline) so its full cost is known; runs that never finish are
counted as misses with no cost ratio.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from spotshield.deadline.policies.base import Policy
from spotshield.deadline.prices import PriceFn
from spotshield.deadline.state import State, Where
from spotshield.spot_traces import SpotTrace

SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True)
class Job:
    work_s: float  # compute the job needs, in seconds of on-demand time
    deadline_s: float  # from the job's start
    restart_s: float  # changeover delay d


def on_demand_cost(job: Job, price: PriceFn) -> float:
    """The reference: an uninterrupted on-demand run of the same work (one start, then the work)."""
    return (job.work_s + job.restart_s) / SECONDS_PER_HOUR * price(Where.ON_DEMAND, None)


@dataclass
class RunResult:
    policy: str
    start_s: float
    deadline_s: float
    cost_usd: float = 0.0
    spot_s: float = 0.0  # billed seconds on spot (changeovers included)
    on_demand_s: float = 0.0  # billed seconds on on-demand (changeovers included)
    spot_work_s: float = 0.0  # compute done on spot (changeovers excluded)
    on_demand_work_s: float = 0.0  # compute done on on-demand
    changeovers: int = 0
    preemptions: int = 0
    work_done_s: float = 0.0
    finished_s: float | None = None  # when the work was done, from the start
    wrapped: bool = False  # the run outlived its traces, which then repeated from their start
    moves: list[tuple[float, str, str | None, str]] = field(default_factory=list)  # (t, where, zone, reason)

    @property
    def met_deadline(self) -> bool:
        return self.finished_s is not None and self.finished_s <= self.deadline_s + 1e-6

    @property
    def late_s(self) -> float | None:
        return None if self.finished_s is None else max(0.0, self.finished_s - self.deadline_s)


def simulate(policy: Policy, job: Job, zones: Mapping[str, SpotTrace], price: PriceFn, *,
             start_s: float = 0.0, tick_s: float = 60.0, overrun_s: float | None = None) -> RunResult:
    if not zones:
        raise ValueError("simulate needs at least one zone trace")
    res = RunResult(policy.describe(), start_s, job.deadline_s)
    limit = job.deadline_s + (job.deadline_s if overrun_s is None else overrun_s)
    span = min(tr.span_s for tr in zones.values())
    t, done, change_left, last_spot = 0.0, 0.0, 0.0, 0.0
    where, zone = Where.NONE, None
    while t < limit and done < job.work_s:
        at = start_s + t
        avail = {z: tr.available(at) for z, tr in zones.items()}
        if where == Where.SPOT and not avail[zone]:
            res.preemptions += 1
            where, zone, change_left = Where.NONE, None, 0.0
        if any(avail.values()):
            last_spot = t
        d = policy.decide(State(now=t, deadline=job.deadline_s, start=0.0, work_done_s=done,
                                work_total_s=job.work_s, restart_s=job.restart_s, spot_available=avail,
                                running=where, zone=zone, spot_unavailable_s=t - last_spot))
        if not d.same_place(where, zone):
            if d.where == Where.SPOT and not avail.get(d.zone):
                raise ValueError(f"policy {res.policy} chose spot in {d.zone}, which has no capacity at {t:.0f} s")
            where, zone = d.where, (d.zone if d.where == Where.SPOT else None)
            change_left = job.restart_s if where != Where.NONE else 0.0
            res.changeovers += where != Where.NONE
            res.moves.append((t, where.value, zone, d.reason))
        step = min(tick_s, limit - t)
        if where == Where.SPOT:
            step = min(step, max(zones[zone].next_change(at) - at, 1e-6))  # never 0: float edges
        if where != Where.NONE:
            step = min(step, change_left + job.work_s - done)
            billed = step / SECONDS_PER_HOUR * price(where, zone)
            res.cost_usd += billed
            lost = min(change_left, step)
            change_left -= lost
            done = min(job.work_s, done + step - lost)
            if where == Where.SPOT:
                res.spot_s += step
                res.spot_work_s += step - lost
            else:
                res.on_demand_s += step
                res.on_demand_work_s += step - lost
        t += step
        if start_s + t > span:
            res.wrapped = True
    res.work_done_s = done
    if done >= job.work_s:
        res.finished_s = t
    return res


def offsets(span_s: float, window_s: float, n: int) -> list[float]:
    """n start times spread evenly over the trace, each leaving the whole deadline window inside it
    (one start, at 0, when the trace is shorter than the window)."""
    room = span_s - window_s
    if room <= 0 or n <= 1:
        return [0.0]
    return [room * i / (n - 1) for i in range(n)]


@dataclass
class Summary:
    policy: str
    reference_usd: float  # on_demand_cost(job): what every cost ratio divides by
    results: list[RunResult]

    @property
    def runs(self) -> int:
        return len(self.results)

    @property
    def misses(self) -> int:  # late or never finished
        return sum(not r.met_deadline for r in self.results)

    @property
    def unfinished(self) -> int:
        return sum(r.finished_s is None for r in self.results)

    @property
    def wrapped(self) -> int:
        return sum(r.wrapped for r in self.results)

    @property
    def cost_ratios(self) -> list[float]:
        """cost / on-demand cost of each finished run (an unfinished run has no full cost)."""
        return [r.cost_usd / self.reference_usd for r in self.results if r.finished_s is not None]

    @property
    def cost_ratio(self) -> float | None:
        xs = self.cost_ratios
        return sum(xs) / len(xs) if xs else None

    @property
    def cost_ratio_se(self) -> float | None:
        xs = self.cost_ratios
        if len(xs) < 2:
            return None
        m = sum(xs) / len(xs)
        return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1) / len(xs))

    def mean(self, attr: str) -> float:
        """The mean of a RunResult field over all runs (e.g. 'on_demand_work_s')."""
        return sum(getattr(r, attr) for r in self.results) / len(self.results) if self.results else 0.0


def compare(policies: Sequence[Policy], job: Job, zones: Mapping[str, SpotTrace], price: PriceFn, *,
            n_offsets: int = 50, tick_s: float = 60.0, starts: Sequence[float] | None = None) -> list[Summary]:
    """Each policy over the same start offsets; cost relative to on_demand_cost(job)."""
    span = min(tr.span_s for tr in zones.values())
    starts = list(starts) if starts is not None else offsets(span, job.deadline_s, n_offsets)
    ref = on_demand_cost(job, price)
    return [Summary(p.describe(), ref, [simulate(p, job, zones, price, start_s=s, tick_s=tick_s) for s in starts])
            for p in policies]
