"""The grid runner: runs execute one after another, each in its own folder and store.

<out>/grid.json records the grid and each run's labels and status. A run whose folder
holds DONE is finished and never re-run, so an interrupted grid resumes where it stopped;
a run that was cut off mid-way is started again from scratch (its partial folder is
removed), so every analysed run is one uninterrupted experiment.
"""
from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

from spotshield.analysis.drivers import DONE, DRIVERS
from spotshield.analysis.grid import Grid, RunSpec
from spotshield.analysis.runs import GRID_MANIFEST


def run_dir(out: Path, spec: RunSpec) -> Path:
    return out / "runs" / spec.run_id


def is_done(out: Path, spec: RunSpec) -> bool:
    return (run_dir(out, spec) / DONE).exists()


def _write_manifest(out: Path, grid: Grid, runs: dict) -> None:
    g = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(grid).items()}
    tmp = out / (GRID_MANIFEST + ".tmp")
    tmp.write_text(json.dumps({"grid": g, "runs": runs}, indent=1, sort_keys=True))
    tmp.replace(out / GRID_MANIFEST)


def run_grid(grid: Grid, out: Path, *, driver=None, on_run: Callable[[RunSpec, str], None] = lambda s, st: None,
             log: Callable[[str], None] = lambda m: None) -> dict:
    """Run every unfinished run of the grid; returns {run_id: status}."""
    out.mkdir(parents=True, exist_ok=True)
    driver = driver or DRIVERS[grid.backend]()
    old = {}
    if (out / GRID_MANIFEST).is_file():
        old = json.loads((out / GRID_MANIFEST).read_text()).get("runs", {})
    runs = {s.run_id: {**old.get(s.run_id, {}), **s.labels(grid), "backend": driver.name} for s in grid.runs()}
    for spec in grid.runs():
        entry = runs[spec.run_id]
        if is_done(out, spec):
            entry["status"] = "done"
            on_run(spec, "skipped")
            continue
        d = run_dir(out, spec)
        if d.exists():
            shutil.rmtree(d)  # a run cut off mid-way starts over: one run, one uninterrupted experiment
        entry.update(status="running", started=time.time())
        _write_manifest(out, grid, runs)
        on_run(spec, "started")
        try:
            driver.run(grid, spec, d, log=log)
        except BaseException:
            entry["status"] = "failed"
            _write_manifest(out, grid, runs)
            raise
        entry.update(status="done", finished=time.time())
        _write_manifest(out, grid, runs)
        on_run(spec, "done")
    return {rid: e["status"] for rid, e in runs.items()}
