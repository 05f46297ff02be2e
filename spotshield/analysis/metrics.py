"""Per-run metrics computed from events alone.

Every duration is measured twice, on two clocks, with the unit in the column name where it is
emulated: the events' own clock (real seconds: wall_s, wasted_s, recoveries_s, ...) and the
emulated clock of the run's time model (spotshield/analysis/emulated.py: wall_emulated_s,
wasted_emulated_s, recoveries_emulated_s, ...). The study reports the emulated ones; `guest_time`
says which time model they follow.

Definitions (on either clock):
  wall          first event -> done
  stall         training-thread stall of regular checkpoints (emergency saves happen
                inside the recovery window and are counted there)
  wasted        per interruption: time the dying process spent going from the step the
                next process resumed at to the last step it reached - work re-done
  recovery      per interruption: preemption notice (or the dying process's last event)
                -> first training step of the next process that trains, in three parts:
                  notice -> exit            the notice to the dying boot's last event
                  exit -> VM running        to the next training boot's power-on (vm_boot);
                                            repair and boot delays (and any boot in between)
                  VM running -> first step  that boot's start-up: Python, torch, data, resume
  useful        wall - stall - wasted - recovery: time that produced kept progress
  startup       per boot that trained: power-on -> first step, in real seconds (what the
                emulated clock counts at 1x under guest_time real, with the shutdowns)
  preemptions, wasted_steps, billable, on_demand   spotshield/boots.py's definitions (the same
                as `spotshield status`); billable and on_demand feed spotshield/billing.Bill:
                VM time per boot, so the repair gap between boots, in which no VM runs, is
                never billed
"""
from __future__ import annotations

from spotshield import boots as bootmodel
from spotshield.analysis.emulated import to_emulated
from spotshield.analysis.runs import Run
from spotshield.billing import run_seconds

RECOVERY_PARTS = ("notice_to_exit", "exit_to_vm_running", "vm_running_to_first_step")
# The parts a VM bills: the dying VM's shutdown and the new VM's start-up. No VM exists in the
# repair gap between them, so it bills nothing (the cost model's "R billed").
BILLED_PARTS = (RECOVERY_PARTS[0], RECOVERY_PARTS[2])


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else float("nan")


def _measure(ev: list[dict]) -> dict:
    """Durations of one run on the clock of its events' times."""
    boots = bootmodel.split_boots(ev)
    done = next((e for e in reversed(ev) if e["event"] == "done"), None)
    t_end = done["t"] if done else ev[-1]["t"]
    wall = t_end - ev[0]["t"]
    regular = [e for e in ev if e["event"] == "checkpoint" and e.get("reason") != "emergency"]
    stall = sum(float(e["stall_s"]) for e in regular)
    lost = bootmodel.work_lost(boots)
    recoveries, parts = [], {p: [] for p in RECOVERY_PARTS}
    pending = None  # (interruption time, the dying boot's exit) of an outage not yet followed by a step
    for prev, nxt in zip(boots, boots[1:]):
        notice = prev.notice
        t_int = (notice.get("notice_t") or notice["t"]) if notice else prev.events[-1]["t"]
        pending = (t_int, max(t_int, prev.t_end)) if pending is None else pending
        # A replacement preempted before its first step extends the same outage: the
        # recovery runs from the first notice to the first step that is actually taken.
        t_first = nxt.first_step_time()
        if t_first is not None:
            t_int, t_exit = pending
            t_vm = min(max(nxt.t_start, t_exit), t_first)
            recoveries.append(max(0.0, t_first - t_int))
            for p, v in zip(RECOVERY_PARTS, (t_exit - t_int, t_vm - t_exit, t_first - t_vm)):
                parts[p].append(max(0.0, v))
            pending = None
    startups = [b.first_step_time() - b.t_start for b in boots if b.first_step_time() is not None]
    downtime = sum(recoveries)
    billable_s, on_demand_s = run_seconds(boots)
    return {
        "wall": wall, "useful": max(0.0, wall - stall - lost.seconds - downtime), "wasted": lost.seconds,
        "stall": stall, "stall_per_checkpoint": stall / len(regular) if regular else float("nan"),
        "persist_per_checkpoint": (sum(float(e["persist_s"]) for e in regular) / len(regular)) if regular else float("nan"),
        "recovery_mean": _mean(recoveries), "recovery_max": max(recoveries) if recoveries else float("nan"),
        "recoveries": recoveries, "downtime": downtime, "billable": billable_s, "on_demand": on_demand_s,
        "parts": parts, "startups": startups,
    }


def run_metrics(run: Run) -> dict:
    ev = run.events
    lab = run.labels
    scale = float(lab.get("time_scale", 1.0))
    clock = lab.get("guest_time", "scaled")
    real = _measure(ev)
    emu = _measure(to_emulated(ev, scale, clock))
    boots = bootmodel.split_boots(ev)
    start = next(e for e in ev if e["event"] == "start")
    done = next((e for e in reversed(ev) if e["event"] == "done"), None)
    ckpts = [e for e in ev if e["event"] == "checkpoint"]
    regular = [e for e in ckpts if e.get("reason") != "emergency"]
    emerg = [e for e in ev if e["event"] == "emergency_checkpoint"]
    lost = bootmodel.work_lost(boots)
    out = {
        "run_id": run.run_id,
        "strategy": lab.get("strategy", start.get("strategy")),
        "pattern": lab.get("pattern"),
        "seed": lab.get("seed"),
        "baseline": bool(lab.get("baseline")),
        "time_scale": scale,
        "guest_time": clock,
        "provisioning_model": lab.get("provisioning_model", "SPOT"),
        "model": start.get("model"),
        "data": start.get("data"),
        "device": start.get("device"),
        "total_steps": int(start["total_steps"]),
        "boots": len(boots),
        "preemptions": len(bootmodel.preempted_boots(boots)),
        # the events' clock: real seconds
        "wall_s": real["wall"],
        "useful_s": real["useful"],
        "wasted_s": real["wasted"],
        "wasted_steps": lost.steps,
        "billable_s": real["billable"],
        "on_demand_s": real["on_demand"],
        "stall_s": real["stall"],
        "checkpoints": len(regular),
        "stall_per_checkpoint_s": real["stall_per_checkpoint"],
        "persist_per_checkpoint_s": real["persist_per_checkpoint"],
        "checkpoint_overhead": real["stall"] / real["wall"] if real["wall"] > 0 else 0.0,
        "emergency_ok": sum(1 for e in emerg if e.get("ok")),
        "emergency_missed": sum(1 for e in emerg if not e.get("ok")),
        "recovery_s_mean": real["recovery_mean"],
        "recovery_s_max": real["recovery_max"],
        "recoveries_s": real["recoveries"],
        "downtime_s": real["downtime"],
        "startup_real_s_mean": _mean(real["startups"]),
        "goodput": real["useful"] / real["wall"] if real["wall"] > 0 else 0.0,
        "final_accuracy": float(done["accuracy"]) if done and done.get("accuracy") is not None else float("nan"),
        # the emulated clock of the run's time model (guest_time)
        "wall_emulated_s": emu["wall"],
        "useful_emulated_s": emu["useful"],
        "wasted_emulated_s": emu["wasted"],
        "stall_emulated_s": emu["stall"],
        "stall_per_checkpoint_emulated_s": emu["stall_per_checkpoint"],
        "recovery_emulated_s_mean": emu["recovery_mean"],
        "recovery_emulated_s_max": emu["recovery_max"],
        "recoveries_emulated_s": emu["recoveries"],
        "downtime_emulated_s": emu["downtime"],
        "billable_emulated_s": emu["billable"],
        "on_demand_emulated_s": emu["on_demand"],
        "goodput_emulated": emu["useful"] / emu["wall"] if emu["wall"] > 0 else 0.0,
    }
    for p in RECOVERY_PARTS:
        out[f"{p}_emulated_s_mean"] = _mean(emu["parts"][p])
        out[f"{p}_emulated_s"] = emu["parts"][p]  # per recovery, in order
    return out
