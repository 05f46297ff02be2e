"""The real actuator: the regional Spot group and the on-demand group, through the Compute API.

The same code drives GCP and the emulator; only the endpoint differs (spotshield/cloud/compute.py:
SPOTSHIELD_COMPUTE_ENDPOINT or an explicit one, anonymous credentials there, ADC on GCP).

  observe()   RegionInstanceGroupManagersClient.get (each group's target size) and
              list_managed_instances (each member's zone, instanceStatus, lastAttempt errors)
  resize(p)   RegionInstanceGroupManagersClient.resize, shrinking before growing: a group grows
              only once the other has no instance left that could still train (one writer per
              store); the next tick grows it. Returns whether a call was made.

Spot capacity is not something GCE publishes: it is learned by trying. A zone has capacity when a
Spot member is up or starting there; none while a member's creation fails with a resource error
(ZONE_RESOURCE_POOL_EXHAUSTED and the like: with target shape ANY the regional group tries every
zone it may use, so a member left waiting means none of them had capacity), and for
`stockout_memory_s` after the last such failure; after that it counts as available again, so that a policy that wants spot tries again
(the price of a failed try is one changeover; docs/deadline.md). With one regional group GCE picks
the zone (target shape ANY), so the placement's per-zone sizes collapse into the group's size.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Sequence

from spotshield.cloud.compute import client_kwargs
from spotshield.deadline.actuator import Observation, Placement
from spotshield.deadline.state import Where
from spotshield.errors import SpotShieldError

# Errors with which GCE says a zone cannot create the VM now (stockouts, not bad requests).
RESOURCE_ERRORS = ("ZONE_RESOURCE_POOL_EXHAUSTED", "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS",
                   "RESOURCE_POOL_EXHAUSTED", "STOCKOUT")
UP = ("PROVISIONING", "STAGING", "RUNNING")  # a member that is, or is about to be, training
ALIVE = UP + ("STOPPING", "SUSPENDING", "REPAIRING")  # could still write to the store
DEFAULT_STOCKOUT_MEMORY_S = 1800.0
_CALL_TIMEOUT_S = 30


@dataclass(frozen=True)
class Member:
    name: str
    zone: str
    status: str | None  # None: not created (waiting for capacity)
    action: str
    errors: tuple[str, ...] = ()

    @property
    def stocked_out(self) -> bool:
        return any(code in RESOURCE_ERRORS for code in self.errors)


def _zone_of(url: str) -> str:
    parts = url.split("/")
    return parts[parts.index("zones") + 1] if "zones" in parts else ""


class GroupActuator:
    def __init__(self, project: str, region: str, spot_mig: str, on_demand_mig: str, zones: Sequence[str],
                 endpoint: str | None = None, clock: Callable[[], float] = time.time,
                 stockout_memory_s: float = DEFAULT_STOCKOUT_MEMORY_S):
        """clock: the controller's clock (stack seconds), which stockout_memory_s is counted on."""
        from google.cloud import compute_v1

        self.project, self.region, self.zones = project, region, tuple(zones)
        self.spot_mig, self.on_demand_mig = spot_mig, on_demand_mig
        self.clock, self.stockout_memory_s = clock, stockout_memory_s
        try:
            self.migs = compute_v1.RegionInstanceGroupManagersClient(**client_kwargs(endpoint))
        except Exception as e:  # DefaultCredentialsError and friends
            raise SpotShieldError(f"cannot create a Compute API client ({type(e).__name__})") from None
        self._last_stockout: dict[str, float] = {}
        self._sizes: dict[str, int] = {}

    def _call(self, what: str, fn):
        from google.api_core import exceptions as gexc

        try:
            return fn()
        except gexc.GoogleAPICallError as e:
            msg = " ".join(str(getattr(e, "message", None) or e).split())[:300]
            raise SpotShieldError(f"Compute API: {what}: {msg}") from None
        except Exception as e:  # transport errors
            raise SpotShieldError(f"Compute API unreachable ({type(e).__name__}): {what}") from None

    def size(self, mig: str) -> int:
        g = self._call(f"get group {mig}", lambda: self.migs.get(
            project=self.project, region=self.region, instance_group_manager=mig, timeout=_CALL_TIMEOUT_S))
        return int(g.target_size)

    def members(self, mig: str) -> list[Member]:
        managed = self._call(f"list instances of {mig}", lambda: list(self.migs.list_managed_instances(
            project=self.project, region=self.region, instance_group_manager=mig, timeout=_CALL_TIMEOUT_S)))
        out = []
        for m in managed:
            errors = tuple(e.code for e in m.last_attempt.errors.errors) if m.last_attempt else ()
            out.append(Member(m.instance.rstrip("/").rsplit("/", 1)[-1], _zone_of(m.instance),
                              m.instance_status or None, m.current_action or "NONE", errors))
        return out

    def observe(self) -> Observation:
        now = self.clock()
        sizes = {g: self.size(g) for g in (self.spot_mig, self.on_demand_mig)}
        spot, od = self.members(self.spot_mig), self.members(self.on_demand_mig)
        self._sizes = sizes
        up_spot = [m for m in spot if m.status in UP]
        if any(m.stocked_out for m in spot):
            # target shape ANY places a creation wherever the group's zones have capacity: a member
            # left waiting with a resource error means none of them had any
            for z in self.zones:
                self._last_stockout[z] = now
        available: dict[str, bool | None] = {}
        for z in self.zones:
            if any(m.zone == z for m in up_spot):
                available[z] = True
            else:
                last = self._last_stockout.get(z)
                available[z] = last is None or now - last >= self.stockout_memory_s
        if up_spot:
            running, zone = Where.SPOT, up_spot[0].zone
        elif any(m.status in UP for m in od):
            running, zone = Where.ON_DEMAND, None
        else:
            running, zone = Where.NONE, None
        # the regional group's size, placed in its member's zone (or where the policy would go)
        spot_zone = (spot[0].zone if spot and spot[0].zone in self.zones
                     else next((z for z in self.zones if available[z]), self.zones[0]))
        placement = Placement({z: (sizes[self.spot_mig] if z == spot_zone else 0) for z in self.zones},
                              sizes[self.on_demand_mig])
        return Observation(placement, available, running, zone)

    def resize(self, placement: Placement) -> bool:
        want = {self.spot_mig: sum(placement.spot.values()), self.on_demand_mig: int(placement.on_demand)}
        sizes = self._sizes or {g: self.size(g) for g in want}
        called = False
        for g in want:  # shrink first
            if want[g] < sizes[g]:
                self.set_size(g, want[g])
                sizes[g], called = want[g], True
        for g, other in ((self.spot_mig, self.on_demand_mig), (self.on_demand_mig, self.spot_mig)):
            if want[g] > sizes[g] and not any(m.status in ALIVE for m in self.members(other)):
                self.set_size(g, want[g])
                sizes[g], called = want[g], True
        self._sizes = sizes
        return called

    def set_size(self, mig: str, size: int) -> None:
        # "marked DONE when the resize actions are scheduled": the next observe() sees the result
        self._call(f"resize {mig} to {size}", lambda: self.migs.resize_unary(
            project=self.project, region=self.region, instance_group_manager=mig, size=size, timeout=_CALL_TIMEOUT_S))
