"""Measured checkpoint cost C and restart time R from an analyze folder, for the advice."""
from __future__ import annotations

import csv
import json
import math
import statistics
from pathlib import Path

from spotshield.errors import SpotShieldError
from spotshield.analysis.metrics import BILLED_PARTS
from spotshield.analysis.tables import SUMMARY_CSV


def measured_costs(folder: Path) -> tuple[float, float]:
    """(C, R) in the emulated clock for the cost model: analyze's medians (R the restart time a VM
    bills, restart_billed_s, where it was measured), else medians over the runs in its table."""
    m = Path(folder) / "measured.json"  # written by analyze: medians over every checkpoint and recovery
    if m.is_file():
        try:
            d = json.loads(m.read_text())
            if d.get("checkpoint_s") and d.get("restart_s") is not None:
                return float(d["checkpoint_s"]), float(d.get("restart_billed_s", d["restart_s"]))
        except (json.JSONDecodeError, TypeError, ValueError):
            pass  # fall back to the per-run table
    p = Path(folder) / SUMMARY_CSV
    if not p.is_file():
        raise SpotShieldError(f"{p} not found; run `spotshield analyze` first")
    cs, rs = [], []
    with p.open() as f:
        for row in csv.DictReader(f):
            v = float(row.get("stall_per_checkpoint_emulated_s") or "nan")
            if not math.isnan(v):
                cs.append(v)
            # the restart time VMs bill: its first and last parts (metrics.RECOVERY_PARTS), else all of it
            parts = [float(row.get(f"{p}_emulated_s_mean") or "nan") for p in BILLED_PARTS]
            v = sum(parts) if not any(math.isnan(x) for x in parts) else float(row.get("recovery_emulated_s_mean") or "nan")
            if not math.isnan(v):
                rs.append(v)
    if not cs or not rs:
        raise SpotShieldError(f"{p} has no measured checkpoint or recovery times; run a grid with preemptions")
    return statistics.median(cs), statistics.median(rs)
