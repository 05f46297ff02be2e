"""The deadline controller's core: one policy decision per tick, acted on only when it changes.

Each tick reads the clock, the job's progress (progress.py), and the groups (actuator.py), builds
the policy's State, and resizes the groups only when the placement the decision implies differs
from the one they have: ticking twice on the same inputs resizes at most once, and a controller
that restarts finds the groups as they are and goes on (policies keep no memory).

Waiting for spot keeps the spot request: when the policy says NONE (wait) while a spot group
already asks for an instance, that group keeps its size. A spot group stuck in a stockout bills
nothing, and the group creates the instance itself the moment capacity returns, which every
policy here would then choose anyway. Only finished work, or a move elsewhere, cancels it.

No flapping: a minimum dwell (`min_dwell_s`, default 10 min) holds a job where it runs after each
move. It only delays moves *away* from an instance that is up (on-demand to spot, one spot zone
to another); a move onto on-demand, a start from idle or after a preemption, and the stop when
the work is done are never delayed, since delaying them could miss the deadline or keep billing.
Staying put is always safe for the deadline: on-demand finishes the work, and on live spot the
policies stay anyway (exploitation).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

from spotshield.deadline.actuator import Actuator, Observation, Placement
from spotshield.deadline.policies.base import Policy
from spotshield.deadline.progress import JobProgress, ProgressSource
from spotshield.deadline.state import Decision, State, Where

DEFAULT_DWELL_S = 600.0


@dataclass(frozen=True)
class ControllerConfig:
    deadline: float  # unix seconds
    start: float  # when the deadline was set: uniform progress runs from here
    zones: Sequence[str]  # spot zones, in order of preference
    restart_s: float  # the configured restart overhead; a larger measured one replaces it
    min_dwell_s: float = DEFAULT_DWELL_S
    instances: int = 1


@dataclass(frozen=True)
class Tick:
    now: float
    state: State
    decision: Decision  # what the policy said
    target: Placement  # what the groups were asked to be (the held placement while dwelling)
    resized: bool  # a resize call was made this tick
    held: bool = False  # the decision waits for the dwell to pass


@dataclass
class Controller:
    policy: Policy
    progress: ProgressSource
    actuator: Actuator
    config: ControllerConfig
    clock: Callable[[], float] = time.time
    _last_spot: float | None = field(default=None, init=False)
    _moved_at: float | None = field(default=None, init=False)

    def _state(self, now: float, p: JobProgress, obs: Observation) -> State:
        seen = any(obs.spot_available.values())
        if seen:
            self._last_spot = now
        # no spot since the last time a zone had capacity, or since the deadline was set
        since = self.config.start if self._last_spot is None else max(self.config.start, self._last_spot)
        unavailable_s = 0.0 if seen else max(0.0, now - since)
        return State(now=now, deadline=self.config.deadline, start=self.config.start,
                     work_done_s=p.work_total_s if p.finished else p.work_done_s, work_total_s=p.work_total_s,
                     restart_s=max(self.config.restart_s, p.restart_s or 0.0),
                     spot_available=dict(obs.spot_available), running=obs.running, zone=obs.zone,
                     spot_unavailable_s=unavailable_s)

    def _holds(self, s: State, d: Decision, now: float) -> bool:
        """A voluntary move away from an instance that is up, within the dwell of the last move."""
        if self._moved_at is None or now - self._moved_at >= self.config.min_dwell_s:
            return False
        leaving_od = s.running == Where.ON_DEMAND and d.where == Where.SPOT
        hopping = s.on_live_spot() and d.where == Where.SPOT and d.zone != s.zone
        return leaving_od or hopping

    def tick(self) -> Tick:
        now = self.clock()
        p = self.progress()  # before observe: a VM writes DONE before it resizes its group to 0
        obs = self.actuator.observe()
        s = self._state(now, p, obs)
        d = self.policy.decide(s)
        held = self._holds(s, d, now)
        zones = tuple(self.config.zones)
        current = obs.placement.normalized(zones)
        if held:
            target = current
        elif d.where == Where.NONE and not s.finished and any(current.spot.values()):
            target = Placement(current.spot, 0)  # wait on the pending spot request
        else:
            target = Placement.of(d, zones, self.config.instances)
        # an actuator that made no call (a regional group already the size asked for, or a group
        # that must wait for the other to empty) returns False: no move, so no dwell from it
        resized = target != current and self.actuator.resize(target) is not False
        if resized:
            self._moved_at = now
        return Tick(now, s, d, target, resized, held)

    def run(self, interval_s: float = 30.0, sleep: Callable[[float], None] = time.sleep,
            max_ticks: int | None = None) -> list[Tick]:
        """Tick every interval_s until the work is done and the groups are empty (or max_ticks)."""
        ticks: list[Tick] = []
        while max_ticks is None or len(ticks) < max_ticks:
            t = self.tick()
            ticks.append(t)
            if t.state.finished and not t.target.on_demand and not any(t.target.spot.values()):
                break
            sleep(interval_s)
        return ticks
