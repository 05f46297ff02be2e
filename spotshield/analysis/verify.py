"""Checks a run's events before any number is computed from them.

A run passes when: every record is well formed (spotshield.events.validate_event) and
belongs to the run; it started and finished (a `done` event at the planned step count);
steps never go backwards within a process; every resume restarts from a checkpoint that
was committed earlier and no later than where the previous process got to, so the
covered steps have no gap from 0 to the end; and every epoch was validated.
"""
from __future__ import annotations

from spotshield.boots import split_boots
from spotshield.analysis.runs import Run
from spotshield.events import validate_event

_MAX_LISTED = 5  # problems per run listed in full; the rest are counted


def verify_run(run: Run) -> list[str]:
    problems: list[str] = []
    for i, e in enumerate(run.events):
        for p in validate_event(e):
            problems.append(f"record {i}: {p}")
        if e.get("run_id") not in (None, run.run_id):
            problems.append(f"record {i}: run_id {e.get('run_id')!r} in the folder of {run.run_id!r}")
    if problems:
        return problems  # the checks below assume well-formed records
    starts = [e for e in run.events if e["event"] == "start"]
    done = [e for e in run.events if e["event"] == "done"]
    if not starts:
        return ["no start event: the run never began"]
    if not done:
        problems.append("incomplete: no done event")
    total = int(starts[0]["total_steps"])
    epochs = int(starts[0]["epochs"])
    if done and int(done[-1]["step"]) != total:
        problems.append(f"done at step {done[-1]['step']} but the run planned {total} steps")

    committed: set[int] = {0}
    prev_last = None
    for b in split_boots(run.events):
        steps = [int(e["step"]) for e in b.events if e["event"] == "step"]
        if any(s1 < s0 for s0, s1 in zip(steps, steps[1:])):
            problems.append(f"{b.host}/{b.boot}: steps go backwards")
        resume = b.first("resume")
        if resume is not None:
            f = int(resume["from_step"])
            if f not in committed:
                problems.append(f"{b.host}/{b.boot}: resumed from step {f} with no committed checkpoint there")
            if prev_last is not None and f > prev_last:
                problems.append(f"{b.host}/{b.boot}: gap in steps: resumed at {f} after reaching {prev_last}")
        for e in b.events:
            if e["event"] == "checkpoint":
                committed.add(int(e["step"]))
            elif e["event"] == "emergency_checkpoint" and e.get("ok"):
                committed.add(int(e["step"]))
        prev_last = b.last_step
    seen = {int(e["epoch"]) for e in run.events if e["event"] == "epoch_end"}
    if done and seen:
        base = min(seen)
        missing = sorted(set(range(base, base + epochs)) - seen)
        if missing:
            problems.append(f"epochs {missing[:_MAX_LISTED]} never validated")
    elif done and epochs > 0:
        problems.append("no epoch_end events")
    return problems


def verify_runs(runs: list[Run]) -> dict[str, list[str]]:
    """run_id -> problems, only for runs that have some."""
    out = {}
    for r in runs:
        p = verify_run(r)
        if p:
            out[r.run_id] = p
    return out


def summarize(problems: dict[str, list[str]]) -> str:
    """One line for the CLI: which runs fail and the first reason of each."""
    parts = [f"{rid}: {ps[0]}" + (f" (+{len(ps) - 1} more)" if len(ps) > 1 else "")
             for rid, ps in list(problems.items())[:_MAX_LISTED]]
    more = len(problems) - _MAX_LISTED
    return "; ".join(parts) + (f"; and {more} more runs" if more > 0 else "")
