"""Uniform Progress, from Can't Be Late (Wu et al., NSDI'24, section 5.2), implemented from its text.

The job should have made, at any time t, at least the share of its work that a uniform pace from
start to deadline would have made: cp(t) >= ep(t) = (t - start) / (deadline - start), both as
fractions of the job (so the measured rate cancels out; only the safety net needs it). Rules:
  1. Uniform progress: an idle job with cp(t) < ep(t) moves to on-demand to catch up.
  2. Taking risks: move to spot whenever a zone has capacity, even while behind; stay on it
     until it is preempted (exploitation).
  3. Hysteresis: a job on on-demand stays there until cp(t) >= ep(t + 2d), so that a spot
     instance that is preempted at once does not cost two changeovers for nothing.
plus the safety net (policies/base.py). Parameter-free: d is the job's measured restart overhead.

Where the paper leaves it open, this module chooses (docs/deadline.md says why): a job on
on-demand leaves it only for spot. Once the hysteresis is met and no zone has spot capacity it
stays on on-demand instead of going idle: idling ahead of the pace and coming back when behind
pays a changeover per round trip, which on the shipped traces cost up to 1.2x all on-demand.
"""
from __future__ import annotations

from spotshield.deadline.policies.base import Policy, on_demand, safety_net_due, spot, stay, wait
from spotshield.deadline.state import Decision, State, Where


class UniformProgress(Policy):
    name = "uniform-progress"
    meets_deadlines = True

    def __init__(self, idle_when_ahead: bool = False):
        # The other reading of the paper (leave on-demand for NONE once ahead), kept to measure it.
        self.idle_when_ahead = bool(idle_when_ahead)

    def describe(self) -> str:
        return self.name + (" (idle when ahead)" if self.idle_when_ahead else "")

    def choose(self, s: State) -> Decision:
        if s.running == Where.ON_DEMAND:
            if safety_net_due(s):
                return stay(s, "safety net: on-demand to the end")
            if s.progress < s.expected_progress(s.now + 2 * s.restart_s):
                return stay(s, "on-demand until ahead of uniform progress by 2d")
            if self.idle_when_ahead:
                return spot(s, "ahead of uniform progress: back to spot") or wait("ahead of uniform progress: wait")
            return spot(s, "ahead of uniform progress: back to spot") or stay(s, "on-demand until spot has capacity")
        if safety_net_due(s):
            return on_demand("safety net: on-demand to the end")
        taken = spot(s, "spot has capacity")
        if taken:
            return taken
        if s.progress < s.expected_progress(s.now):
            return on_demand("behind uniform progress: on-demand to catch up")
        return wait("on pace: wait for spot")
