"""The greedy policy of Can't Be Late (Wu et al., NSDI'24, section 3.4).

Use spot whenever a zone has capacity and stay on it until preempted; wait when none has; once
the safety net is due (R(t) < C(t) + 2d with the job idle), move to on-demand and stay there to
the end. It meets the deadline but leaves the spot capacity near the deadline unused.
"""
from __future__ import annotations

from spotshield.deadline.policies.base import Policy, on_demand, safety_net_due, spot, stay, wait
from spotshield.deadline.state import Decision, State, Where


class Greedy(Policy):
    name = "greedy"
    meets_deadlines = True

    def choose(self, s: State) -> Decision:
        if s.running == Where.ON_DEMAND:
            return stay(s, "safety net: on-demand to the end")
        if safety_net_due(s):
            return on_demand("safety net: on-demand to the end")
        return spot(s, "spot has capacity") or wait("wait for spot")
