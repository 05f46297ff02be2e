"""The cost meter: what Cloud Billing would charge for each emulated instance: Spot VMs at the
Spot price, standard (on-demand) VMs at the on-demand price.

Each instance's lives are (boot, deletion) spans on the emulated clock: from RUNNING until it is
TERMINATED (GCE bills a VM from start until it has stopped). They are priced through
spotshield/billing.py (the one price table, the one billable-time rule), the same module
`spotshield status` and `spotshield analyze` bill with. The ledger is keyed by instance id, so a
preempted and recreated instance keeps the cost of every boot.

The meter sees VMs, not training: it knows what was spent, not what an uninterrupted on-demand
run of the same work would cost. It reports the bare price discount under that name, and the
same billed hours at the on-demand price as `on_demand_same_hours_usd`; savings (against the
on-demand equivalent) come from the run's events, in status and analyze.
"""
from __future__ import annotations

import json
import threading

from spotshield.billing import Bill, billable_seconds, hourly
from spotshield.local.clock import EmulatedClock
from spotshield.local.compute.models import ComputeBackend, last_segment

BILLED = ("RUNNING", "STOPPING")


class CostMeter:
    def __init__(self, backend: ComputeBackend, clock: EmulatedClock, region: str):
        self.backend, self.clock, self.region = backend, clock, region
        self.ledger: dict[str, dict] = {}
        self._lock = threading.Lock()

    def _rate(self, inst):
        props = inst.properties
        gpus = props.get("guestAccelerators") or []
        gpu = last_segment(gpus[0].get("acceleratorType", "")) if gpus else None
        count = int(gpus[0].get("acceleratorCount", 1)) if gpus else 0
        return hourly(last_segment(props.get("machineType", "")), gpu, count, self.region)

    def update(self) -> None:
        """Open a span when an instance is billed, close it when it is not (each controller tick)."""
        now = self.clock.now()  # emulated seconds
        with self._lock, self.backend.lock:
            for inst in self.backend.instances.values():
                row = self.ledger.get(inst.id)
                if row is None:
                    row = self.ledger[inst.id] = {
                        "instance": inst.name, "zone": inst.zone, "id": inst.id,
                        "run_id": inst.metadata().get("spotshield-run-id"), "rate": self._rate(inst),
                        "spot": inst.spot, "spans": [], "open": None}
                if inst.status in BILLED and row["open"] is None:
                    row["open"] = now
                elif inst.status not in BILLED and row["open"] is not None:
                    row["spans"].append((row["open"], now))
                    row["open"] = None
                inst.extra_metadata["spotshield-cost"] = json.dumps(self._money(row, now), sort_keys=True)
            present = {i.id for i in self.backend.instances.values()}
            for row in self.ledger.values():  # deleted instances stop being billed
                if row["open"] is not None and row["id"] not in present:
                    row["spans"].append((row["open"], now))
                    row["open"] = None

    @staticmethod
    def _money(row: dict, now: float) -> dict:
        spans = row["spans"] + ([(row["open"], now)] if row["open"] is not None else [])
        billed_s = billable_seconds(spans)  # emulated seconds
        rate = row["rate"]
        out = {"billed_s": round(billed_s, 3), "hours": round(billed_s / 3600.0, 6),
               "provisioning": "SPOT" if row["spot"] else "STANDARD", "spot_usd": None, "on_demand_vm_usd": None,
               "spent_usd": None, "on_demand_same_hours_usd": None}
        if rate is not None:
            bill = Bill(rate, billed_s, on_demand_vm_s=0.0 if row["spot"] else billed_s)
            out["spot_usd"] = round(bill.spot_usd, 6)
            out["on_demand_vm_usd"] = round(bill.on_demand_vm_usd, 6)
            out["spent_usd"] = round(bill.spent_usd, 6)
            out["on_demand_same_hours_usd"] = round(rate.on_demand * bill.hours, 6)
        return out

    def report(self, run_id: str | None = None) -> dict:
        """Totals, per run and per instance, in billed emulated hours; money is None where a price is missing."""
        now = self.clock.now()
        with self._lock:
            rows = [{"instance": r["instance"], "zone": r["zone"], "id": r["id"], "run_id": r["run_id"],
                     **self._money(r, now)} for r in self.ledger.values()
                    if run_id is None or r["run_id"] == run_id]
            rates = [r["rate"] for r in self.ledger.values() if run_id is None or r["run_id"] == run_id]
        keys = ("hours", "spot_usd", "on_demand_vm_usd", "spent_usd", "on_demand_same_hours_usd")
        runs: dict[str, dict] = {}
        total = {k: 0.0 for k in keys}
        for r in rows:
            agg = runs.setdefault(r["run_id"] or "", {**{k: 0.0 for k in keys}, "instances": 0})
            agg["instances"] += 1
            for k in keys:
                agg[k] = None if agg[k] is None or r[k] is None else agg[k] + r[k]
                total[k] = None if total[k] is None or r[k] is None else total[k] + r[k]
        discounts = {rate.price_discount_pct for rate in rates if rate is not None}
        return {"currency": "USD", "time_scale": self.clock.time_scale, "clock": "emulated", **total,
                "price_discount_pct": discounts.pop() if len(discounts) == 1 else None,
                "runs": runs, "instances": rows, "prices": "spotshield/prices.csv"}
