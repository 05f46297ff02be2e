"""Hourly prices for the advice and the analysis: flags first, then the emulator's table.

The price table is data owned by the local emulator (spotshield/local/prices.*); this
module only reads it, so the advice and the emulator's cost meter agree on one source.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

from spotshield.errors import SpotShieldError

DEFAULT_MACHINE = "g2-standard-4"  # 1x L4, the machine of the original study
_TABLE_DIR = Path(__file__).resolve().parent.parent / "local"
_SPOT_KEYS = ("spot", "spot_per_hour", "spot_usd_per_hour", "spot_hourly")
_OD_KEYS = ("on_demand", "ondemand", "on_demand_per_hour", "ondemand_per_hour",
            "on_demand_usd_per_hour", "ondemand_usd_per_hour", "on_demand_hourly")


def _rows() -> list[dict]:
    for name in ("prices.yaml", "prices.yml", "prices.json", "prices.csv"):
        p = _TABLE_DIR / name
        if not p.is_file():
            continue
        if p.suffix == ".csv":
            with p.open() as f:
                return list(csv.DictReader(f))
        text = p.read_text()
        if p.suffix == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
        if isinstance(data, dict):
            data = data.get("machines", data.get("prices", data))
        if isinstance(data, dict):  # {machine: {spot:..., on_demand:...}}
            return [{"machine_type": k, **v} for k, v in data.items() if isinstance(v, dict)]
        return list(data or [])
    return []


def _pick(row: dict, keys: tuple[str, ...]) -> float | None:
    for k in keys:
        if row.get(k) not in (None, ""):
            return float(row[k])
    return None


def table_prices(machine: str = DEFAULT_MACHINE) -> tuple[float, float] | None:
    """(spot, on-demand) per hour for a machine type from the emulator's table, if listed."""
    for row in _rows():
        name = row.get("machine_type") or row.get("machine") or row.get("name")
        if name == machine:
            spot, od = _pick(row, _SPOT_KEYS), _pick(row, _OD_KEYS)
            if spot is not None and od is not None:
                return spot, od
    return None


def resolve(spot: float | None, ondemand: float | None, machine: str = DEFAULT_MACHINE) -> tuple[float, float]:
    """Prices from flags, filling what is missing from the table; one-line error otherwise."""
    if spot is None or ondemand is None:
        found = table_prices(machine)
        if found is None:
            raise SpotShieldError(
                f"no price for {machine} in the price table; pass --spot-price and --ondemand-price (USD per hour)")
        spot = found[0] if spot is None else spot
        ondemand = found[1] if ondemand is None else ondemand
    if spot <= 0 or ondemand <= 0:
        raise SpotShieldError(f"prices must be > 0 USD per hour, not spot={spot} on-demand={ondemand}")
    return spot, ondemand
