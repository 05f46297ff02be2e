"""Finding runs and their events: a results folder (or a store URL) -> {run_id: events}.

A results folder holds one store per run (the experiment runner's layout
<results>/runs/<run-id>/events/<run-id>/<host>-<boot>.jsonl), but any folder that
contains `events/<run-id>/*.jsonl` somewhere below works, so a single store can be
analysed too. Only the events JSONL is read; grid.json, when present, adds the labels
the events cannot know (preemption pattern, seed, emulator time scale).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from spotshield.errors import SpotShieldError
from spotshield.events import parse_lines, read_events

GRID_MANIFEST = "grid.json"
# run ids the grid runner writes: <strategy>-<pattern>-s<seed>, baseline: ondemand-s<seed>
_RUN_ID_RE = re.compile(r"^(?P<strategy>[a-z]+)-(?P<pattern>[a-z]+)-s(?P<seed>\d+)$")
_BASELINE_RE = re.compile(r"^ondemand-s(?P<seed>\d+)$")


@dataclass
class Run:
    run_id: str
    events: list[dict]
    labels: dict = field(default_factory=dict)  # strategy, pattern, seed, baseline, time_scale, rate


def _labels_from_id(run_id: str) -> dict:
    if m := _BASELINE_RE.match(run_id):
        return {"strategy": "none", "pattern": "none", "seed": int(m["seed"]), "baseline": True}
    if m := _RUN_ID_RE.match(run_id):
        return {"strategy": m["strategy"], "pattern": m["pattern"], "seed": int(m["seed"]), "baseline": False}
    return {}


def _manifest(root: Path) -> dict:
    p = root / GRID_MANIFEST
    if not p.is_file():
        return {}
    try:
        data = json.loads(p.read_text())
    except json.JSONDecodeError as e:
        raise SpotShieldError(f"{p} is not valid JSON ({e.msg} at line {e.lineno}); fix or delete it") from None
    return data.get("runs", {}) if isinstance(data, dict) else {}


def load_runs(source: str | Path, time_scale: float | None = None, guest_time: str | None = None) -> list[Run]:
    """Every run below a folder (or in a store URL), events sorted by time. `time_scale`
    (emulated seconds per real second) and `guest_time` (its time model, spotshield/local/clock.py
    GUEST_TIMES) override the manifest's, e.g. for one emulator store."""
    text = str(source)
    if "://" in text:
        from spotshield.events import iter_runs
        from spotshield.storage import open_store

        store = open_store(text)
        raw = {rid: read_events(store, rid) for rid in iter_runs(store)}
        manifest = {}
    else:
        root = Path(source)
        if not root.is_dir():
            raise SpotShieldError(f"results folder {root} does not exist; run `spotshield experiment` first")
        raw: dict[str, list[dict]] = {}
        for f in sorted(root.rglob("*.jsonl")):
            if f.parent.parent.name != "events":
                continue
            raw.setdefault(f.parent.name, []).extend(parse_lines(f.read_text(errors="replace")))
        manifest = _manifest(root)
    if not raw:
        raise SpotShieldError(f"no events found under {source}; expected events/<run-id>/*.jsonl")
    runs = []
    for rid in sorted(raw):
        events = sorted(raw[rid], key=lambda e: e.get("t", 0) if isinstance(e.get("t"), (int, float)) else 0)
        labels = {**_labels_from_id(rid), **manifest.get(rid, {})}
        if "strategy" not in labels:
            start = next((e for e in events if e.get("event") == "start"), {})
            labels["strategy"] = start.get("strategy", "unknown")
        labels.setdefault("pattern", "unknown")
        labels.setdefault("seed", 0)
        labels.setdefault("baseline", False)
        labels.setdefault("time_scale", 1.0)
        if time_scale is not None:
            labels["time_scale"] = float(time_scale)
        if guest_time is not None:
            labels["guest_time"] = guest_time
        runs.append(Run(rid, events, labels))
    return runs
