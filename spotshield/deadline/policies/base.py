"""The one interface every deadline policy implements, and the rules they share.

A policy is called once per tick with a State and answers a Decision: SPOT (in a zone that has
capacity), ON_DEMAND or NONE. Policies are pure and keep no memory between ticks (what they need,
such as how long spot has been unavailable, is in the State), so a restarted controller decides
exactly as the one before it, and a policy is testable in microseconds. Pure Python, no torch.

The shared rules are those of Can't Be Late (Wu et al., NSDI'24, section 3.3):
  Thrifty: once the work is done, run nothing.
  Safety net: an idle job with R(t) < C(t) + 2d moves to on-demand and stays there to the end
    (after one more changeover R(t) < C(t) + d, and a preemption on spot would miss the deadline).
  Exploitation: a job on a live spot instance stays there until it is preempted.
"""
from __future__ import annotations

from spotshield.deadline.state import Decision, State, Where

DONE = Decision(Where.NONE, reason="work done")


def safety_net_due(s: State) -> bool:
    """R(t) < C(t) + 2d: from here on, only on-demand is sure to meet the deadline."""
    return s.remaining_time_s < s.remaining_work_s + 2 * s.restart_s


def stay(s: State, reason: str) -> Decision:
    return Decision(s.running, s.zone if s.running == Where.SPOT else None, reason)


def spot(s: State, reason: str) -> Decision | None:
    """SPOT in the zone State.pick_zone chooses, or None when no zone has capacity."""
    zone = s.pick_zone()
    return Decision(Where.SPOT, zone, reason) if zone else None


def on_demand(reason: str) -> Decision:
    return Decision(Where.ON_DEMAND, reason=reason)


def wait(reason: str) -> Decision:
    return Decision(Where.NONE, reason=reason)


class Policy:
    name = "base"
    meets_deadlines = False  # True when the policy applies the safety net

    def decide(self, s: State) -> Decision:
        """Thrifty and exploitation first; the rest is the policy's own (choose)."""
        if s.finished:
            return DONE
        if s.on_live_spot():
            return stay(s, "on spot until preempted")
        return self.choose(s)

    def choose(self, s: State) -> Decision:
        """Where to run a job that is not done and not on live spot (idle, preempted or on-demand)."""
        raise NotImplementedError

    def describe(self) -> str:
        """The name with its parameters, for tables and logs."""
        return self.name
