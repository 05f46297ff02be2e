"""Measured checkpoint cost C and restart time R from an analyze folder, for the advice."""
from __future__ import annotations

import csv
import json
import math
import statistics
from pathlib import Path

from spotshield.errors import SpotShieldError
from spotshield.analysis.tables import SUMMARY_CSV


def measured_costs(folder: Path) -> tuple[float, float]:
    """(C, R) in the emulated clock: analyze's medians, else medians over the runs in its table."""
    m = Path(folder) / "measured.json"  # written by analyze: medians over every checkpoint and recovery
    if m.is_file():
        try:
            d = json.loads(m.read_text())
            if d.get("checkpoint_s") and d.get("restart_s") is not None:
                return float(d["checkpoint_s"]), float(d["restart_s"])
        except (json.JSONDecodeError, TypeError, ValueError):
            pass  # fall back to the per-run table
    p = Path(folder) / SUMMARY_CSV
    if not p.is_file():
        raise SpotShieldError(f"{p} not found; run `spotshield analyze` first")
    cs, rs = [], []
    with p.open() as f:
        for row in csv.DictReader(f):
            for col, dest in (("stall_per_checkpoint_emulated_s", cs), ("recovery_emulated_s_mean", rs)):
                v = float(row.get(col) or "nan")
                if not math.isnan(v):
                    dest.append(v)
    if not cs or not rs:
        raise SpotShieldError(f"{p} has no measured checkpoint or recovery times; run a grid with preemptions")
    return statistics.median(cs), statistics.median(rs)
