"""The two fixed baselines: always on-demand (the cost every saving is measured against) and
always spot (greedy spot with no safety net: the cheapest, and it can miss the deadline)."""
from __future__ import annotations

from spotshield.deadline.policies.base import DONE, Policy, on_demand, spot, wait
from spotshield.deadline.state import Decision, State


class AlwaysOnDemand(Policy):
    name = "on-demand"
    meets_deadlines = True  # whenever the deadline leaves room for the work plus one start

    def decide(self, s: State) -> Decision:
        return DONE if s.finished else on_demand("always on-demand")


class AlwaysSpot(Policy):
    name = "spot"

    def choose(self, s: State) -> Decision:
        return spot(s, "spot has capacity") or wait("wait for spot")
