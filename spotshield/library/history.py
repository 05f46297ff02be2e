"""What earlier boots of a run tell the one starting now (from the run's event log).

Kept as one isolated function on purpose: a single events-to-boots model (spotshield/boots.py)
is meant to replace it, and everything here asks only this one question through it.
"""
from __future__ import annotations


def run_history(events: list[dict], boot: str) -> dict:
    """What earlier boots of this run tell us: preemptions, exposure, and the last progress
    of the most recent boot (the work a resume may have to redo)."""
    by_boot: dict[tuple, list[dict]] = {}
    for e in events:
        if e.get("boot") != boot and isinstance(e.get("t"), (int, float)):
            by_boot.setdefault((e.get("host"), e.get("boot")), []).append(e)
    preemptions = 0
    exposure = 0.0
    for evs in by_boot.values():
        names = {e.get("event") for e in evs}
        # a notice, or a boot that vanished without an exit event (killed: a hard preemption)
        if "preempt_notice" in names or not names & {"exit", "done"}:
            preemptions += 1
        exposure += max(e["t"] for e in evs) - min(e["t"] for e in evs)
    last_step, last_t = -1, None
    if by_boot:
        latest = max(by_boot.values(), key=lambda evs: max(e["t"] for e in evs))
        for e in latest:
            s = e.get("step")
            if isinstance(s, int) and s >= last_step:
                last_step, last_t = s, e["t"]
    return {"preemptions": preemptions, "exposure_s": exposure, "last_step": last_step, "last_t": last_t,
            "boots": len(by_boot)}
