"""Spot capacity per zone, on the emulated clock: where the region has room for Spot VMs now.

Each zone has a source: always available (the default), a fixed answer (a test or `POST
/spotshield/v1/capacity` turns a zone dry or wet), or a spot availability trace
(spotshield/spot_traces.SpotTrace, so a test can pass a constructed one) replayed from an
offset into the trace, starting when it is set. What GCE does in a zone without capacity, the
emulator does too:

  creating a Spot VM   fails: the member stays in its CREATING action with a
                       ZONE_RESOURCE_POOL_EXHAUSTED error in listManagedInstances' lastAttempt and
                       in listErrors, no instance exists and nothing is billed; the group tries
                       again, in any zone of the group with capacity (compute/models.py)
  a running Spot VM    is preempted (Stockouts.tick, each fleet tick: the preemption notice,
                       shutdown.sh, the emergency checkpoint), then repaired like any preempted VM
  standard VMs         are never short of capacity and never preempted (the on-demand group)

Spec, as JSON (the control API, settings `spot_capacity`): a trace name or CSV path for every
zone, or {zone: true | false | "<trace>" | {"trace": "<trace>", "offset_s": s}}; zones not named
stay available. offset_s is where in the trace (trace seconds = emulated seconds) zone time 0 is.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from spotshield.spot_traces import SpotTrace, load
from spotshield.errors import SpotShieldError
from spotshield.local.clock import EmulatedClock


@dataclass(frozen=True)
class ZoneSource:
    trace: SpotTrace | None = None
    fixed: bool = True  # the answer without a trace
    offset_s: float = 0.0  # trace seconds at the moment the source was set
    since: float = 0.0  # emulated time it was set
    label: str = "available"

    def available(self, now: float) -> bool:
        if self.trace is None:
            return self.fixed
        return self.trace.available(self.offset_s + max(0.0, now - self.since))

    def to_json(self) -> dict:
        d: dict[str, Any] = {"source": self.label}
        if self.trace is not None:
            d.update(trace=self.trace.name, offset_s=self.offset_s, span_s=self.trace.span_s)
        return d


class Capacity:
    def __init__(self, clock: EmulatedClock, zones: list[str]):
        self.clock, self.zones = clock, list(zones)
        self._lock = threading.Lock()
        self._src = {z: ZoneSource(since=clock.now()) for z in self.zones}

    def _zone(self, zone: str) -> str:
        if zone not in self._src:
            raise SpotShieldError(f"spot capacity: zone {zone!r} is not in this region ({', '.join(self.zones)})")
        return zone

    def set(self, zone: str, source: bool | SpotTrace, offset_s: float = 0.0) -> None:
        """A fixed answer, or a trace replayed from offset_s (trace seconds) from now on."""
        zone, now = self._zone(zone), self.clock.now()
        if isinstance(source, SpotTrace):
            if not offset_s >= 0:
                raise SpotShieldError(f"spot capacity: offset_s must be >= 0 trace seconds, not {offset_s}")
            src = ZoneSource(trace=source, offset_s=float(offset_s), since=now, label="trace")
        else:
            src = ZoneSource(fixed=bool(source), since=now, label="available" if source else "stocked out")
        with self._lock:
            self._src[zone] = src

    def available(self, zone: str) -> bool:
        with self._lock:
            src = self._src.get(zone)
        return True if src is None else src.available(self.clock.now())

    def configure(self, spec: Any) -> dict:
        """Apply a JSON spec (module docstring); zones it does not name go back to available."""
        parsed = parse_spec(spec, self.zones)
        for zone in self.zones:
            self.set(zone, *parsed.get(zone, (True, 0.0)))
        return self.config()

    def config(self) -> dict:
        now = self.clock.now()
        with self._lock:
            return {z: {**s.to_json(), "available": s.available(now)} for z, s in self._src.items()}


def parse_spec(spec: Any, zones: list[str]) -> dict[str, tuple[bool | SpotTrace, float]]:
    """zone -> (source, offset_s) of a spec; bad input is one SpotShieldError line."""
    if spec in (None, "", {}):
        return {}
    if isinstance(spec, str):
        trace = load(spec)
        return {z: (trace, 0.0) for z in zones}
    if not isinstance(spec, dict):
        raise SpotShieldError("spot capacity must be a trace name or path, or a mapping zone -> "
                              "true | false | trace | {trace, offset_s}")
    out: dict[str, tuple[bool | SpotTrace, float]] = {}
    for zone, value in spec.items():
        if zone not in zones:
            raise SpotShieldError(f"spot capacity: zone {zone!r} is not in this region ({', '.join(zones)})")
        if isinstance(value, bool):
            out[zone] = (value, 0.0)
        elif isinstance(value, str):
            out[zone] = (load(value), 0.0)
        elif isinstance(value, dict) and isinstance(value.get("trace"), str):
            offset = value.get("offset_s", 0.0)
            if isinstance(offset, bool) or not isinstance(offset, (int, float)) or offset < 0:
                raise SpotShieldError(f"spot capacity: {zone} offset_s must be >= 0 trace seconds, not {offset!r}")
            out[zone] = (load(value["trace"]), float(offset))
        else:
            raise SpotShieldError(f"spot capacity: {zone} must be true, false, a trace, or {{trace, offset_s}}, "
                                  f"not {value!r}")
    return out


class Stockouts:
    """Each fleet tick: a Spot VM in a zone that ran dry is preempted (running) or fails to be
    created (still provisioning). Preemptions go into the region's preemption history."""

    def __init__(self, fleet, capacity: Capacity, history: list[dict]):
        self.fleet, self.capacity, self.history = fleet, capacity, history

    def tick(self) -> None:
        b = self.fleet.backend
        with b.lock:
            dry = [i for i in b.instances.values() if i.spot and i.exists and not self.capacity.available(i.zone)]
        for inst in dry:
            if inst.status in ("PROVISIONING", "STAGING") and self.fleet.vms.runtime(inst) is None:
                b.stock_out(inst)
            elif inst.status == "RUNNING" and self.fleet.preempt(inst):
                self.history.append({"t": time.time(), "emulated_t": self.fleet.clock.now(), "instance": inst.name,
                                     "zone": inst.zone, "outcome": "preempted", "cause": "stockout"})
