"""The cost meter: each instance's billed time at the Spot price, and what on-demand would cost.

Billed time is emulated seconds in RUNNING or STOPPING (GCE bills a VM from start until it
has stopped). Prices come from prices.csv (machine type + GPUs, per hour, with sources), the
same table `spotshield status` uses, so the two never disagree. The ledger is keyed by
instance id, so a preempted and recreated instance keeps the cost of every boot.
"""
from __future__ import annotations

import json
import threading

from spotshield.local.clock import EmulatedClock
from spotshield.local.compute.models import ComputeBackend, last_segment
from spotshield.status.cost import hourly

BILLED = ("RUNNING", "STOPPING")
SECONDS_PER_HOUR = 3600.0


class CostMeter:
    def __init__(self, backend: ComputeBackend, clock: EmulatedClock, region: str):
        self.backend, self.clock, self.region = backend, clock, region
        self.ledger: dict[str, dict] = {}
        self._last = clock.now()
        self._lock = threading.Lock()

    def _prices(self, inst) -> tuple[float, float] | None:
        props = inst.properties
        gpus = props.get("guestAccelerators") or []
        gpu = last_segment(gpus[0].get("acceleratorType", "")) if gpus else None
        count = int(gpus[0].get("acceleratorCount", 1)) if gpus else 0
        return hourly(last_segment(props.get("machineType", "")), gpu, count, self.region)

    def update(self) -> None:
        """Charge the time since the last update to every billed instance (run each controller tick)."""
        now = self.clock.now()
        with self._lock, self.backend.lock:
            dt, self._last = max(0.0, now - self._last), now
            for inst in self.backend.instances.values():
                row = self.ledger.get(inst.id)
                if row is None:
                    prices = self._prices(inst)
                    row = self.ledger[inst.id] = {
                        "instance": inst.name, "zone": inst.zone, "id": inst.id,
                        "run_id": inst.metadata().get("spotshield-run-id"),
                        "spot_per_hour": prices[0] if prices else None,
                        "on_demand_per_hour": prices[1] if prices else None,
                        "billed_s": 0.0}
                if inst.status in BILLED:
                    row["billed_s"] += dt
                inst.extra_metadata["spotshield-cost"] = json.dumps(self._money(row), sort_keys=True)

    @staticmethod
    def _money(row: dict) -> dict:
        h = row["billed_s"] / SECONDS_PER_HOUR
        spot = row["spot_per_hour"] * h if row["spot_per_hour"] is not None else None
        od = row["on_demand_per_hour"] * h if row["on_demand_per_hour"] is not None else None
        return {"hours": round(h, 6), "spot_usd": None if spot is None else round(spot, 6),
                "on_demand_usd": None if od is None else round(od, 6)}

    def report(self, run_id: str | None = None) -> dict:
        """Totals, per run and per instance. spot/on-demand are None where a price is missing."""
        with self._lock:
            rows = [dict(r, **self._money(r)) for r in self.ledger.values()
                    if run_id is None or r["run_id"] == run_id]
        runs: dict[str, dict] = {}
        for r in rows:
            agg = runs.setdefault(r["run_id"] or "", {"hours": 0.0, "spot_usd": 0.0, "on_demand_usd": 0.0,
                                                      "instances": 0})
            agg["instances"] += 1
            for k in ("hours", "spot_usd", "on_demand_usd"):
                agg[k] = None if agg[k] is None or r[k] is None else agg[k] + r[k]
        total = {"hours": 0.0, "spot_usd": 0.0, "on_demand_usd": 0.0}
        for r in rows:
            for k in total:
                total[k] = None if total[k] is None or r[k] is None else total[k] + r[k]
        if total["spot_usd"] is not None and total["on_demand_usd"]:
            total["savings_pct"] = round(100.0 * (1 - total["spot_usd"] / total["on_demand_usd"]), 1)
        else:
            total["savings_pct"] = None
        return {"currency": "USD", "time_scale": self.clock.time_scale, **total, "runs": runs, "instances": rows,
                "prices": "spotshield/local/prices.csv"}
