"""Per-run metrics computed from events alone.

Definitions (seconds of the run's own clock; costs scale by the emulator's time_scale):
  wall_s        first event -> done
  stall_s       training-thread stall of regular checkpoints (emergency saves happen
                inside the recovery window and are counted there)
  wasted_s      per interruption: time the dying process spent going from the step the
                next process resumed at to the last step it reached - work re-done
  recovery_s    per interruption: preemption notice (or the dying process's last event)
                -> first training step of the next process
  useful_s      wall - stall - wasted - recovery: time that produced kept progress
  preemptions, wasted_*, billable_s, on_demand_s   spotshield/boots.py's definitions (the same
                as `spotshield status`); billable_s and on_demand_s feed spotshield/billing.Bill
"""
from __future__ import annotations

from spotshield import boots as bootmodel
from spotshield.analysis.runs import Run
from spotshield.billing import run_seconds


def run_metrics(run: Run) -> dict:
    ev = run.events
    boots = bootmodel.split_boots(ev)
    start = next(e for e in ev if e["event"] == "start")
    done = next((e for e in reversed(ev) if e["event"] == "done"), None)
    t_end = done["t"] if done else ev[-1]["t"]
    wall = t_end - ev[0]["t"]

    ckpts = [e for e in ev if e["event"] == "checkpoint"]
    regular = [e for e in ckpts if e.get("reason") != "emergency"]
    stall = sum(float(e["stall_s"]) for e in regular)
    emerg = [e for e in ev if e["event"] == "emergency_checkpoint"]

    lost = bootmodel.work_lost(boots)
    recoveries = []
    pending = None  # time of the first interruption not yet followed by a training step
    for prev, nxt in zip(boots, boots[1:]):
        notice = prev.notice
        t_int = (notice.get("notice_t") or notice["t"]) if notice else prev.events[-1]["t"]
        pending = t_int if pending is None else pending
        # A replacement preempted before its first step extends the same outage: the
        # recovery runs from the first notice to the first step that is actually taken.
        t_first = nxt.first_step_time()
        if t_first is not None:
            recoveries.append(max(0.0, t_first - pending))
            pending = None
    downtime = sum(recoveries)
    useful = max(0.0, wall - stall - lost.seconds - downtime)
    billable_s, on_demand_s = run_seconds(boots)
    lab = run.labels
    return {
        "run_id": run.run_id,
        "strategy": lab.get("strategy", start.get("strategy")),
        "pattern": lab.get("pattern"),
        "seed": lab.get("seed"),
        "baseline": bool(lab.get("baseline")),
        "time_scale": float(lab.get("time_scale", 1.0)),
        "model": start.get("model"),
        "data": start.get("data"),
        "device": start.get("device"),
        "total_steps": int(start["total_steps"]),
        "boots": len(boots),
        "preemptions": len(bootmodel.preempted_boots(boots)),
        "wall_s": wall,
        "useful_s": useful,
        "wasted_s": lost.seconds,
        "wasted_steps": lost.steps,
        "billable_s": billable_s,
        "on_demand_s": on_demand_s,
        "stall_s": stall,
        "checkpoints": len(regular),
        "stall_per_checkpoint_s": stall / len(regular) if regular else float("nan"),
        "persist_per_checkpoint_s": (sum(float(e["persist_s"]) for e in regular) / len(regular)) if regular else float("nan"),
        "checkpoint_overhead": stall / wall if wall > 0 else 0.0,
        "emergency_ok": sum(1 for e in emerg if e.get("ok")),
        "emergency_missed": sum(1 for e in emerg if not e.get("ok")),
        "recovery_s_mean": downtime / len(recoveries) if recoveries else float("nan"),
        "recovery_s_max": max(recoveries) if recoveries else float("nan"),
        "recoveries_s": recoveries,
        "downtime_s": downtime,
        "goodput": useful / wall if wall > 0 else 0.0,
        "final_accuracy": float(done["accuracy"]) if done and done.get("accuracy") is not None else float("nan"),
    }
