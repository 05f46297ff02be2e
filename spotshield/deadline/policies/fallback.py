"""The plain fallback: spot first; on-demand after `after_min` minutes with no spot capacity.

What spot tools commonly do (a timeout on spot provisioning, then on-demand). It knows no
deadline: a job that keeps getting short spot runs never falls back and can miss it. With
back_to_spot (the default) it leaves on-demand as soon as a zone has spot capacity again.
"""
from __future__ import annotations

from spotshield.deadline.policies.base import Policy, on_demand, spot, stay, wait
from spotshield.deadline.state import Decision, State, Where
from spotshield.errors import SpotShieldError


class Fallback(Policy):
    name = "fallback"

    def __init__(self, after_min: float = 30.0, back_to_spot: bool = True):
        if not isinstance(after_min, (int, float)) or after_min != after_min or after_min < 0:
            raise SpotShieldError(f"fallback after_min must be >= 0 minutes, not {after_min!r}")
        self.after_min, self.back_to_spot = float(after_min), bool(back_to_spot)

    def describe(self) -> str:
        back = "" if self.back_to_spot else ", stays on on-demand"
        return f"fallback after {self.after_min:g} min{back}"

    def choose(self, s: State) -> Decision:
        if s.running == Where.ON_DEMAND:
            back = spot(s, "spot has capacity again") if self.back_to_spot else None
            return back or stay(s, "on-demand fallback")
        taken = spot(s, "spot has capacity")
        if taken:
            return taken
        if s.spot_unavailable_s >= self.after_min * 60.0:
            return on_demand(f"no spot capacity for {self.after_min:g} min")
        return wait("wait for spot")
