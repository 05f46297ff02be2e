"""What a deadline policy sees at a tick, and what it answers.

The model is the one of Can't Be Late (Wu et al., NSDI'24, section 3.1): the job needs
`work_total_s` seconds of compute; at time t it has C(t) = work_total_s - work_done_s left and
R(t) = deadline - now until its deadline. Every move onto a spot or an on-demand instance costs a
changeover (restart overhead) d = `restart_s`: time billed at the new instance's price during which
the job makes no progress (boot, restore, the steps lost since the last checkpoint). Moving to
NONE (no instance) costs nothing. All times are seconds on one clock (unix seconds in the
controller, seconds from the job's start in the simulator).
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Mapping


class Where(str, enum.Enum):
    """Where the job runs (or is asked to run). A str, so 'spot' == Where.SPOT."""

    SPOT = "spot"
    ON_DEMAND = "on_demand"
    NONE = "none"  # no instance: waiting for spot capacity, or done


@dataclass(frozen=True)
class Decision:
    where: Where
    zone: str | None = None  # the zone of a SPOT decision
    reason: str = ""  # one phrase, for the controller's log and the status view

    def same_place(self, where: Where, zone: str | None) -> bool:
        return self.where == where and (where != Where.SPOT or self.zone == zone)


@dataclass(frozen=True)
class State:
    now: float
    deadline: float
    start: float  # when the deadline clock started: uniform progress is measured from here
    work_done_s: float  # compute done, in seconds at the job's measured rate
    work_total_s: float
    restart_s: float  # changeover delay d
    # zone -> spot capacity there now; the order is the order of preference. None = not known,
    # which every policy treats as unavailable.
    spot_available: Mapping[str, bool | None] = field(default_factory=dict)
    running: Where = Where.NONE  # where the job runs now (a preempted job runs NONE)
    zone: str | None = None  # the zone it runs in when running SPOT
    spot_unavailable_s: float = 0.0  # how long no zone has had spot capacity (0 while one has)

    @property
    def remaining_work_s(self) -> float:  # C(t)
        return max(0.0, self.work_total_s - self.work_done_s)

    @property
    def remaining_time_s(self) -> float:  # R(t)
        return self.deadline - self.now

    @property
    def finished(self) -> bool:
        return self.work_done_s >= self.work_total_s

    @property
    def progress(self) -> float:
        """cp(t) as a fraction of the job; a fraction, so a change in the measured rate cancels out."""
        return self.work_done_s / self.work_total_s if self.work_total_s > 0 else 1.0

    def expected_progress(self, at: float) -> float:
        """ep(at): the fraction uniform progress from start to deadline would have made by `at`."""
        span = self.deadline - self.start
        return 1.0 if span <= 0 else min(1.0, max(0.0, (at - self.start) / span))

    def available_zones(self) -> list[str]:
        return [z for z, ok in self.spot_available.items() if ok]

    def on_live_spot(self) -> bool:
        """Running on spot in a zone that still has capacity (a preempted job runs NONE)."""
        return self.running == Where.SPOT and bool(self.spot_available.get(self.zone))

    def pick_zone(self) -> str | None:
        """The zone to run spot in: the current one while it has capacity, else the first that has."""
        if self.on_live_spot():
            return self.zone
        zones = self.available_zones()
        return zones[0] if zones else None
