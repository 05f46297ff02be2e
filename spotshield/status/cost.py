"""Cost so far, on Spot and at on-demand prices, from one price table for both backends.

The table is the emulator's data (spotshield/local/prices.*), so the local cost meter and
the gcp status view never disagree about a price. Billable time is the sum of each boot's
span in the events (first to last event of a host-boot), which survives preemptions and
teardown: instances come and go, the events stay in the bucket.
"""
from __future__ import annotations

import csv
import json
from importlib import resources

SECONDS_PER_HOUR = 3600.0


def price_table() -> list[dict] | None:
    """Rows of the emulator's price table, or None until it ships."""
    try:
        base = resources.files("spotshield.local")
    except ModuleNotFoundError:
        return None
    for name in ("prices.json", "prices.csv", "prices.yaml"):
        f = base / name
        if not f.is_file():
            continue
        text = f.read_text()
        if name.endswith(".json"):
            data = json.loads(text)
        elif name.endswith(".csv"):
            data = list(csv.DictReader(text.splitlines()))
        else:
            import yaml

            data = yaml.safe_load(text)
        if isinstance(data, dict):  # {name: {spot:..., on_demand:...}} -> rows
            data = [{"name": k, **v} for k, v in data.items() if isinstance(v, dict)]
        return data
    return None


def _num(row: dict, *keys: str) -> float | None:
    for k in keys:
        if k in row and row[k] not in (None, ""):
            try:
                return float(row[k])
            except (TypeError, ValueError):
                return None
    return None


def hourly(machine_type: str, gpu_type: str | None, gpu_count: int, region: str,
           table: list[dict] | None = None) -> tuple[float, float] | None:
    """(spot, on-demand) USD per hour for one instance, or None when a price is missing."""
    table = price_table() if table is None else table
    if not table:
        return None

    def find(name: str) -> tuple[float, float] | None:
        rows = [r for r in table if str(r.get("name") or r.get("sku") or r.get("machine_type")) == name]
        regional = [r for r in rows if r.get("region") in (region, None, "")]
        for r in regional or rows:
            spot = _num(r, "spot", "spot_usd_per_hour", "spot_hourly")
            od = _num(r, "on_demand", "ondemand", "on_demand_usd_per_hour", "on_demand_hourly")
            if spot is not None and od is not None:
                return spot, od
        return None

    machine = find(machine_type)
    if machine is None:
        return None
    spot, od = machine
    if gpu_type and gpu_count:
        gpu = find(gpu_type)
        if gpu is None:
            return None
        spot, od = spot + gpu[0] * gpu_count, od + gpu[1] * gpu_count
    return spot, od


def billable_seconds(events: list[dict]) -> float:
    spans: dict[tuple, list[float]] = {}
    for e in events:
        t = e.get("t")
        if isinstance(t, (int, float)):
            span = spans.setdefault((e.get("host"), e.get("boot")), [t, t])
            span[0], span[1] = min(span[0], t), max(span[1], t)
    return sum(b - a for a, b in spans.values())


def estimate(events: list[dict], machine_type: str, gpu_type: str | None, gpu_count: int,
             region: str, table: list[dict] | None = None) -> dict | None:
    prices = hourly(machine_type, gpu_type, gpu_count, region, table)
    if prices is None:
        return None
    hours = billable_seconds(events) / SECONDS_PER_HOUR
    spot, od = prices[0] * hours, prices[1] * hours
    return {
        "spot_usd": round(spot, 4),
        "on_demand_usd": round(od, 4),
        "savings_pct": round(100.0 * (1 - spot / od), 1) if od > 0 else None,
        "hours": round(hours, 4),
        "source": "events x price table",
    }
