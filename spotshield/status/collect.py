"""Gather everything `status` shows into one JSON-able dict.

Sources, and nothing else: the Compute API (real or emulated) for the instances, and the
run's store (events + ckpt/step-NNNNNN/meta.json + STOPPED) for progress, checkpoints,
accuracy, preemptions and cost. So the view is the same on both backends, from any shell, and
after the run (the bucket outlives the fleet). A source that cannot be read becomes a
line in `problems` instead of failing the whole view.

Preemptions, work lost and billable time are spotshield/boots.py's; cost is its
spotshield/billing.Bill, exactly what `spotshield analyze` computes for the same run. A job of
several VMs under torchrun adds `job` (spotshield/status/job.py: nodes and ranks, the last
preempted node, the job's state while it re-forms); it is None for one process on one VM.
"""
from __future__ import annotations

import json
import time
from contextlib import contextmanager

from spotshield import boots as bootmodel
from spotshield.billing import Bill, hourly, service_vms
from spotshield.errors import NotFoundError, SpotShieldError
from spotshield.events import read_events
from spotshield.layout import DEADLINE_KEY, MARKER, STOPPED_KEY, folder_for, list_checkpoints, newest_committed
from spotshield.backends import sources
from spotshield.backends.record import StackRecord
from spotshield.status.job import job as job_view

LAST_EVENTS = 8  # how many recent events the view lists
# Window of step events for the speed behind the ETA: long enough to smooth log jitter,
# short enough to follow a slower instance after a resume.
_ETA_WINDOW = 6


@contextmanager
def stack_env(rec: StackRecord):
    """Point Google's clients at what the stack's backend says status reads, for the duration."""
    with sources(rec).applied() as src:
        yield src


def _groups(rec: StackRecord) -> list[tuple[str, str]]:
    """(group, role) of the stack: the spot group, and with a deadline its on-demand (and controller) group."""
    d = rec.deadline or {}
    groups = [(rec.mig, "spot")]
    if d.get("on_demand_mig"):
        groups.append((d["on_demand_mig"], "on-demand"))
    if (d.get("controller") or {}).get("mig"):
        groups.append((d["controller"]["mig"], "controller"))
    return groups


def _several(rec: StackRecord) -> bool | None:
    """The stack's VMs run side by side (one job under torchrun); None: as the events say (boots.py)."""
    return True if rec.fleet_size > 1 else None


def _instances(rec: StackRecord, boots: list[bootmodel.Boot], now: float) -> list[dict]:
    from spotshield.cloud.compute import Compute

    preempts: dict[str, int] = {}
    for b in bootmodel.preempted_boots(boots, _several(rec)):
        preempts[b.host] = preempts.get(b.host, 0) + 1
    out = []
    for mig, role in _groups(rec):
        for i in Compute(rec.project, rec.region, mig, sources(rec).compute).list_instances():
            started = i.last_start or i.created
            out.append({
                "name": i.name, "zone": i.zone, "status": i.status, "action": i.action, "group": role,
                "uptime_s": round(now - started, 1) if started and i.status == "RUNNING" else None,
                "preemptions": preempts.get(i.name, 0), "error": i.error,
            })
    return out


def _on_demand_vm(rec: StackRecord):
    """Which boots ran on an on-demand VM (billed at the on-demand price): the on-demand group's hosts."""
    prefix = (rec.deadline or {}).get("on_demand_base")
    return (lambda b: b.host.startswith(prefix)) if prefix else None


def _where_now(instances: list[dict]) -> str:
    """Where the job runs now, from the groups themselves: spot <zone> / on-demand / waiting."""
    up = [i for i in instances if i["status"] in ("PROVISIONING", "STAGING", "RUNNING")]
    for role, label in (("spot", "spot {zone}"), ("on-demand", "on-demand")):
        hit = next((i for i in up if i["group"] == role), None)
        if hit:
            return label.format(zone=hit["zone"]) + ("" if hit["status"] == "RUNNING" else " (starting)")
    short = next((i for i in instances if i["group"] == "spot" and i.get("error")), None)
    if short:
        return f"waiting for spot ({short['error']})"
    if any(i["group"] in ("spot", "on-demand") for i in instances):
        return "waiting (an instance is stopping or being repaired)"
    return "waiting" if instances else "nowhere (no instance asked for)"


def _deadline(rec: StackRecord, store, events: list[dict], instances: list[dict], now: float,
              problems: list[str]) -> dict | None:
    """The deadline lines: the deadline, the controller's last tick (slack, decision, moves), where it runs now."""
    d = rec.deadline or {}
    if not d:
        return None
    tick = None
    if store is not None:
        try:
            tick = json.loads(store.read(DEADLINE_KEY))
        except NotFoundError:
            tick = None
        except (SpotShieldError, ValueError, UnicodeDecodeError) as e:
            problems.append(f"deadline: {DEADLINE_KEY} unreadable ({type(e).__name__})")
    done = next((e for e in events if e["event"] == "done"), None)
    scale = float(d.get("time_scale") or 1.0)
    out = {
        "deadline": d.get("deadline"), "text": d.get("text"), "policy": d.get("policy"), "time_scale": scale,
        "left_s": round((d["deadline"] - now) * scale, 1) if d.get("deadline") else None,  # stack seconds
        "where": "done" if done else _where_now(instances), "controller_runs": (d.get("controller") or {}).get("runs"),
        "tick": None, "finished_t": (done or {}).get("t"),
        "met": None if done is None or not d.get("deadline") else bool(done["t"] <= d["deadline"]),
    }
    if tick:
        out["tick"] = {k: tick.get(k) for k in ("slack_s", "remaining_work_s", "remaining_time_s", "progress",
                                                "expected_progress", "running", "zone", "decision",
                                                "decision_zone", "reason", "held", "restart_s", "finished", "error")}
        out["tick"]["age_s"] = round(max(0.0, now - tick["t"]), 1) if isinstance(tick.get("t"), (int, float)) else None
        out["moves"] = tick.get("moves") or []
    return out


def _step_rate(steps: list[dict]) -> float | None:
    """Steps per second over the newest boot that has logged two steps.

    One boot at a time: a window across a preemption would count the downtime. Right after a
    resume the new boot has logged one step at most, so the boot before it stands in.
    """
    boots: dict[tuple, list[dict]] = {}
    for e in steps:
        boots.setdefault((e.get("host"), e.get("boot")), []).append(e)
    for window in sorted(boots.values(), key=lambda es: es[-1]["t"], reverse=True):
        recent = window[-_ETA_WINDOW:]
        if len(recent) >= 2 and recent[-1]["t"] > recent[0]["t"]:
            rate = (recent[-1]["step"] - recent[0]["step"]) / (recent[-1]["t"] - recent[0]["t"])
            if rate > 0:
                return rate
    return None


def _progress(events: list[dict], now: float) -> dict:
    start = next((e for e in reversed(events) if e["event"] == "start"), None)
    total = (start or {}).get("total_steps")
    epochs = (start or {}).get("epochs")
    stepish = [e for e in events if e["event"] in ("step", "epoch_end", "checkpoint", "done", "resume")]
    last = stepish[-1] if stepish else None
    step = (last or {}).get("step", (last or {}).get("from_step", 0)) or 0
    epoch = (last or {}).get("epoch", 0) or 0
    done = next((e for e in events if e["event"] == "done"), None)
    steps = [e for e in events if e["event"] == "step"]
    ips = steps[-1].get("images_per_s") if steps else None
    eta = None
    rate = _step_rate(steps)
    if not done and total and rate:
        eta = max(0.0, (total - step) / rate)
    if done:
        step, epoch = done.get("step", step), done.get("epoch", epoch)
    # The boot script's own events: a command that does not use the library still shows.
    command = next((e for e in reversed(events) if e["event"] == "command_start"), None)
    command_exit = next((e for e in reversed(events) if e["event"] == "command_exit"
                         and command is not None and e["t"] >= command["t"]), None)
    if done or start:
        state = "DONE" if done else "TRAINING"
    else:  # no trainer events: the boot script's own say what runs
        state = "WAITING" if command is None else ("EXITED" if command_exit else "RUNNING")
    argv = (command or {}).get("command")  # the boot script writes its argv as a list
    return {
        "state": state,
        "command": " ".join(map(str, argv)) if isinstance(argv, list) else argv,
        "command_exit": (command_exit or {}).get("code"),
        "strategy": (start or {}).get("strategy"), "model": (start or {}).get("model"),
        "data": (start or {}).get("data"),
        "step": step, "total_steps": total, "epoch": epoch, "epochs": epochs,
        "fraction": round(min(1.0, step / total), 4) if total else None,
        "eta_s": round(eta, 1) if eta is not None else None,
        "images_per_s": ips,
        "final_accuracy": (done or {}).get("accuracy"),
    }


def _checkpoint(store, events: list[dict], now: float) -> dict | None:
    """The newest committed checkpoint, by the loader's rule (spotshield/layout.py: a valid
    marker), with its event's numbers."""
    folders = list_checkpoints(store)
    newest = newest_committed(store, folders)
    if newest is None:
        return None
    step, meta = newest
    count = sum(1 for names in folders.values() if MARKER in names)
    # meta.json (written last, by the trainer) says it all; the event is a fallback for older metas.
    ev = next((e for e in reversed(events) if e["event"] == "checkpoint" and e.get("step") == step), None) or {}

    def pick(*keys):
        for src, k in ((meta, keys[0]), (ev, keys[-1])):
            if src.get(k) is not None:
                return src[k]
        return None

    t = pick("committed_t", "t")
    return {
        "step": step, "epoch": pick("epoch"),
        "age_s": round(now - t, 1) if isinstance(t, (int, float)) else None,
        "stall_s": pick("stall_s"), "persist_s": pick("persist_s"), "bytes": pick("bytes"),
        "reason": pick("reason"), "path": folder_for(step), "count": count,
    }


def _accuracy(events: list[dict]) -> list[dict]:
    by_epoch: dict[int, dict] = {}
    for e in events:
        if e["event"] == "epoch_end":
            by_epoch[e.get("epoch")] = {"epoch": e.get("epoch"), "accuracy": e.get("accuracy"), "t": e.get("t")}
    return [by_epoch[k] for k in sorted(by_epoch, key=lambda k: (k is None, k))]


def _preemptions(events: list[dict], boots: list[bootmodel.Boot], several: bool | None) -> dict:
    emerg = [e for e in events if e["event"] == "emergency_checkpoint"]
    lost = bootmodel.work_lost(boots, several)
    return {
        "count": len(bootmodel.preempted_boots(boots, several)),
        "resumes": sum(1 for e in events if e["event"] == "resume"),
        "boots": len(boots),
        "emergency_ok": sum(1 for e in emerg if e.get("ok")),
        "emergency_missed": sum(1 for e in emerg if not e.get("ok")),
        "seconds_lost": round(lost.seconds, 1),  # real seconds on the dying boots' clocks
        "steps_lost": lost.steps,
    }


def _cost(rec: StackRecord, events: list[dict], boots: list[bootmodel.Boot], now: float | None = None) -> dict | None:
    """The run's Bill from its events: the same figures `spotshield analyze` gives, under the
    stack's time model (emulated.to_emulated: under guest_time real a guest's start-up and
    shutdown bill 1x, not time_scale x); boots on the deadline's on-demand VMs at the on-demand price,
    the rendezvous coordinator's VM at its own (billing.service_vms)."""
    rate = hourly(rec.machine_type, rec.gpu_type, rec.gpu_count, rec.region)
    if rate is None:
        return None
    held = rec.guest_time == "real" and rec.time_scale != 1
    if held:
        from spotshield.analysis.emulated import to_emulated

        boots = bootmodel.split_boots(to_emulated(events, rec.time_scale, "real"))
    bill = Bill.for_boots(rate, boots, 1.0 if held else rec.time_scale, on_demand_vm=_on_demand_vm(rec),
                          services=service_vms(rec, events, time.time() if now is None else now),
                          nodes=rec.fleet_size if _several(rec) else 1)
    out = bill.to_dict("events x price table")
    if held:  # billable_s is emulated seconds already: say how it was counted
        out.update(guest_time="real", stack_time_scale=rec.time_scale)
    return out


def _stopped(store) -> dict | None:
    """The boot script's STOPPED record (crash-loop breaker): {"reason", "error", "boots", "t"}."""
    try:
        data = json.loads(store.read(STOPPED_KEY))
    except NotFoundError:
        return None
    except (ValueError, UnicodeDecodeError):
        return {"reason": "unknown", "error": f"{STOPPED_KEY} is not valid JSON", "line": f"stopped: {STOPPED_KEY} "
                "is not valid JSON"}
    if not isinstance(data, dict):
        data = {}
    reason, error = str(data.get("reason") or "unknown"), data.get("error")
    return {**data, "reason": reason, "line": f"stopped: {reason}" + (f": {error}" if error else "")}


def _summary(e: dict) -> str:
    name = e.get("event")
    if name == "step":
        return f"step {e.get('step')} loss {e.get('loss', 0):.3f}"
    if name == "epoch_end":
        return f"epoch {e.get('epoch')} acc {100 * (e.get('accuracy') or 0):.1f}%"
    if name == "checkpoint":
        return f"step {e.get('step')} ({e.get('reason')}) stall {e.get('stall_s', 0):.2f}s"
    if name == "resume":
        return f"from step {e.get('from_step')}, lost {e.get('steps_lost')} steps"
    if name == "preempt_notice":  # under torchrun: the rank that was told (maybe on another VM)
        by = f" (rank {e['noticed_by']})" if e.get("noticed_by") is not None else ""
        return f"at step {e.get('step')} via {e.get('source')}{by}"
    if name == "emergency_checkpoint":
        return f"step {e.get('step')} {'ok' if e.get('ok') else 'MISSED'} in {e.get('seconds', 0):.1f}s"
    if name == "exit":
        return f"code {e.get('code')} ({e.get('reason')})"
    if name == "done":
        return f"step {e.get('step')} acc {100 * (e.get('accuracy') or 0):.1f}%"
    if name == "command_start":
        return str(e.get("command"))
    if name == "command_exit":
        return f"code {e.get('code')}"
    if name == "vm_notice":
        return "preempted" if e.get("preempted") else "stopped (not a preemption)"
    if name == "crash_loop":
        return f"after {e.get('boots')} failed boots: {e.get('error')}"
    if name == "start":
        return f"{e.get('strategy')} {e.get('model')}/{e.get('data')} on {e.get('device')}"
    return ""


def collect(rec: StackRecord, now: float | None = None) -> dict:
    from spotshield.storage import open_store

    now = time.time() if now is None else now
    problems: list[str] = []
    events: list[dict] = []
    store = None
    with stack_env(rec) as src:
        try:
            store = open_store(src.store)
            events = [e for e in read_events(store, rec.run_id) if isinstance(e.get("t"), (int, float))]
        except SpotShieldError as e:
            problems.append(f"store: {e}")
        boots = bootmodel.split_boots(events)
        try:
            instances = _instances(rec, boots, now)
        except SpotShieldError as e:
            instances = []
            problems.append(str(e))
        checkpoint = stopped = None
        deadline = _deadline(rec, store, events, instances, now, problems)
        if store is not None:
            try:
                checkpoint = _checkpoint(store, events, now)
            except SpotShieldError as e:
                problems.append(f"checkpoints: {e}")
            try:
                stopped = _stopped(store)
            except SpotShieldError as e:
                problems.append(f"store: {e}")
    progress = _progress(events, now)
    if stopped and progress["state"] != "DONE":
        progress["state"] = "STOPPED"
    job = job_view(events, boots, fleet_size=rec.fleet_size, min_nodes=rec.min_nodes, instances=instances, now=now,
                   stopped=bool(stopped))
    return {
        "stack": {
            "name": rec.name, "backend": rec.backend, "project": rec.project, "region": rec.region,
            "zones": rec.zones, "mig": rec.mig, "bucket": rec.bucket, "store": rec.store,
            "run_id": rec.run_id, "strategy": rec.strategy, "machine_type": rec.machine_type,
            "gpu": f"{rec.gpu_count}x {rec.gpu_type}" if rec.gpu_type and rec.gpu_count else None,
            "up_since": rec.created, "age_s": round(now - rec.created, 1), "time_scale": rec.time_scale,
            "guest_time": rec.guest_time,
        },
        "stopped": stopped,
        "deadline": deadline,
        "instances": instances,
        "job": job,
        "progress": progress,
        "checkpoint": checkpoint,
        "accuracy": _accuracy(events),
        "preemptions": _preemptions(events, boots, _several(rec)),
        "cost": _cost(rec, events, boots, now),
        "events": [{"t": e["t"], "event": e["event"], "host": e.get("host"), "summary": _summary(e)}
                   for e in events[-LAST_EVENTS:]],
        "problems": problems,
        "now": now,
    }
