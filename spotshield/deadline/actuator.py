"""What the controller acts on: the size of a spot group per zone and of one on-demand group.

A Placement is the target sizes; an Observation is what the groups look like now (their sizes,
which zones have spot capacity, where the job runs). The Actuator interface has two calls, so a
real one is a thin layer over the Compute API (RegionInstanceGroupManagersClient.get for the
sizes and the instances' status, .resize to set them; docs/deadline.md has the plan) and the
emulator's is the same code pointed at the local endpoint. FakeActuator is the in-memory one the
tests use: spot capacity per zone is whatever the test sets.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Protocol, Sequence

from spotshield.deadline.state import Decision, Where


@dataclass(frozen=True)
class Placement:
    spot: Mapping[str, int] = field(default_factory=dict)  # zone -> size of the spot group there
    on_demand: int = 0

    @classmethod
    def of(cls, decision: Decision, zones: Sequence[str], instances: int = 1) -> "Placement":
        """All `instances` where the decision says, none elsewhere (a gang job runs whole or not at all)."""
        spot = {z: (instances if decision.where == Where.SPOT and z == decision.zone else 0) for z in zones}
        return cls(spot, instances if decision.where == Where.ON_DEMAND else 0)

    def normalized(self, zones: Sequence[str]) -> "Placement":
        return Placement({z: int(self.spot.get(z, 0)) for z in zones}, int(self.on_demand))


@dataclass(frozen=True)
class Observation:
    placement: Placement  # the sizes the groups are set to now
    spot_available: Mapping[str, bool | None]  # zone -> capacity now; None = not known
    running: Where  # where an instance of the job is up (a spot group stuck in a stockout: NONE)
    zone: str | None = None


class Actuator(Protocol):
    def observe(self) -> Observation: ...

    def resize(self, placement: Placement) -> bool | None:
        """Set the group sizes; False when no call was made (nothing to change yet)."""


class FakeActuator:
    """In memory: resize() records the call; a spot group is up where its zone has capacity."""

    def __init__(self, zones: Sequence[str], capacity: Mapping[str, bool] | None = None):
        self.zones = tuple(zones)
        self.capacity = {z: True for z in self.zones} if capacity is None else dict(capacity)
        self.sizes = Placement().normalized(self.zones)
        self.calls: list[Placement] = []

    def observe(self) -> Observation:
        up = [z for z in self.zones if self.sizes.spot.get(z) and self.capacity.get(z)]
        if up:
            running, zone = Where.SPOT, up[0]
        else:
            running, zone = (Where.ON_DEMAND if self.sizes.on_demand else Where.NONE), None
        return Observation(self.sizes, dict(self.capacity), running, zone)

    def resize(self, placement: Placement) -> None:
        self.sizes = placement.normalized(self.zones)
        self.calls.append(self.sizes)
