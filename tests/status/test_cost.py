"""Cost from the shared price table (spotshield/local/prices.csv): machine + GPUs, spot and on-demand."""
from __future__ import annotations

import csv
from importlib import resources

import pytest

from spotshield.status import cost


def csv_price(name: str) -> tuple[float, float]:
    rows = csv.DictReader(resources.files("spotshield.local").joinpath("prices.csv").read_text().splitlines())
    row = next(r for r in rows if r["name"] == name and r["region"] == "us-central1")
    return float(row["spot"]), float(row["on_demand"])


def test_hourly_adds_gpus_to_the_machine():
    m, g = csv_price("g2-standard-4"), csv_price("nvidia-l4")
    spot, od = cost.hourly("g2-standard-4", "nvidia-l4", 2, "us-central1")
    assert spot == pytest.approx(m[0] + 2 * g[0]) and od == pytest.approx(m[1] + 2 * g[1])
    assert cost.hourly("g2-standard-4", None, 0, "us-central1") == pytest.approx(m)


def test_unknown_machine_has_no_price():
    assert cost.hourly("z9-mega-1", None, 0, "us-central1") is None
    assert cost.estimate([], "z9-mega-1", None, 0, "us-central1") is None


def test_billable_seconds_sum_each_boot_span():
    events = [{"host": "a", "boot": "1", "t": 10.0}, {"host": "a", "boot": "1", "t": 40.0},
              {"host": "a", "boot": "2", "t": 100.0}, {"host": "a", "boot": "2", "t": 130.0},
              {"host": "b", "boot": "1", "t": 5.0}, {"t": "bad"}]
    assert cost.billable_seconds(events) == 60.0
