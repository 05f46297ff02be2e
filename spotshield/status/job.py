"""The job under torchrun as status shows it: its nodes and ranks, the last preempted node, and its state.

A job of several VMs (fleet_size > 1, docs/distributed.md) runs in rounds. torchrun's rendezvous
gathers the VMs that are up, every worker starts, and rank 0 writes the round's `start` with its
world_size and `nodes` (each VM's host, boot and ranks: spotshield/distributed/nodes.py). A notice
on any VM, a VM lost, or a VM joining ends the round: rank 0 writes preempt_notice,
emergency_checkpoint and exit 75 (exit 1 when a peer vanished mid-collective), the agents restart
their workers, and the next round's start follows once enough VMs are in the rendezvous. So:

  WAITING     no round yet: the VMs boot, the rendezvous waits for min_nodes of them
  RUNNING     the newest round started and nothing has ended it
  RE-FORMING  something ended the newest round (a stop event of its rank 0 after its start; or one
              of its VMs got a notice, ended its command, booted again, or is not RUNNING in the
              Compute API) and no newer round has started: the survivors wait in the rendezvous
  DONE / STOPPED  as the Training panel's state (the run's `done`; the boot script's STOPPED)

Which VM was preempted is spotshield/boots.py's one definition. Everything here comes from the
events and the instance list that collect.py already read; nothing else is asked.
"""
from __future__ import annotations

from spotshield import boots as bootmodel

_STOP_EVENTS = ("preempt_notice", "emergency_checkpoint")
_VM_GOODBYES = ("vm_notice", "command_exit", "crash_loop")  # the boot script's: this VM's command is over


def _world(start: dict) -> int:
    w = start.get("world_size")
    return w if isinstance(w, int) and not isinstance(w, bool) and w > 0 else 1


def is_job(starts: list[dict], fleet_size: int) -> bool:
    """Status shows a Job section: several VMs, or any round of several ranks."""
    return fleet_size > 1 or any(_world(s) > 1 for s in starts)


def _after(b: bootmodel.Boot, t: float, names: tuple[str, ...]) -> list[dict]:
    return [e for e in b.events if e["event"] in names and e["t"] > t]


def _live(boots: list[bootmodel.Boot]) -> list[bootmodel.Boot]:
    """Boots whose VM still runs its command: no goodbye of the boot script, no later boot of the same VM."""
    out = []
    for i, b in enumerate(boots):
        if b.all("done") or any(e["event"] in _VM_GOODBYES for e in b.events):
            continue
        if any(c.host == b.host for c in boots[i + 1:]):
            continue
        out.append(b)
    return out


def _node_left(node: dict, since: float, boots: list[bootmodel.Boot], status: dict[str, str],
               last_seen: float) -> tuple[float, str] | None:
    """(when, how) this round's node left it after `since`: preempted, stopped, lost; None while it is in.
    `last_seen`: the round's last word, the time given to a VM that is down without an event."""
    own = next((b for b in boots if (b.host, b.boot) == (node["host"], node["boot"])), None)
    if own is not None:
        for e in _after(own, since, _VM_GOODBYES):
            if e["event"] == "vm_notice":
                return e["t"], "preempted" if e.get("preempted") else "stopped"
            return e["t"], "lost"
    again = [b for b in boots if b.host == node["host"] and b.boot != node["boot"] and b.t_begin > since]
    if again:
        return again[0].t_begin, "lost"
    if status.get(node["host"]) not in (None, "RUNNING"):
        return last_seen, "lost"  # the Compute API says the VM is down, though no event says so yet
    return None


def _round_nodes(start: dict) -> tuple[list[dict], bool]:
    """The round's nodes, and whether every rank's node is known (rank 0's alone, from an older library)."""
    nodes = bootmodel.round_nodes(start)
    if nodes:
        return nodes, True
    return [{"host": str(start.get("host")), "boot": str(start.get("boot")), "ranks": [0]}], _world(start) == 1


def _why(left: list[tuple[float, str, str]], stops: list[dict], joined: list[bootmodel.Boot], start: dict) -> str:
    """What ended the round, the most telling first: a VM's notice, a VM lost, one joining, rank 0's word."""
    for how in ("preempted", "stopped", "lost"):
        hit = next((host for _, h, host in sorted(left) if h == how), None)
        if hit:
            return {"preempted": f"{hit} preempted", "stopped": f"{hit} stopped (not a preemption)",
                    "lost": f"{hit} lost without a notice"}[how]
    first_stop = min((e["t"] for e in stops), default=None)
    grew = [b for b in joined if first_stop is not None and b.t_begin <= first_stop]
    if grew:
        return f"{grew[0].host} joining"
    notice = next((e for e in stops if e["event"] == "preempt_notice"), None)
    if notice is not None:
        rank = notice.get("noticed_by")
        host = bootmodel.rank_host(start, rank)
        return f"a stop notice (rank {rank}" + (f" on {host})" if host else ")") if rank is not None \
            else f"a stop notice ({notice.get('source')})"
    failed = next((e for e in stops if e["event"] == "exit"), None)
    if failed is not None and failed.get("error"):
        return f"a worker failed: {str(failed['error'])[:80]}"
    return f"rank 0 exited {failed.get('code')}" if failed is not None else "the round ended"


def job(events: list[dict], boots: list[bootmodel.Boot], *, fleet_size: int, min_nodes: int | None,
        instances: list[dict], now: float, stopped: bool) -> dict | None:
    """The Job section's data (module docstring); None for one process on one VM (status as before)."""
    starts = [e for e in events if e["event"] == "start"]
    if not is_job(starts, fleet_size):
        return None
    status = {i["name"]: i["status"] for i in instances}
    preempted = bootmodel.preempted_boots(boots, several=True if fleet_size > 1 else None)
    when = lambda b: (b.notice or {}).get("t", b.t_end)  # noqa: E731
    last = max(preempted, key=when) if preempted else None
    out = {
        "state": "WAITING", "why": None, "since_t": None, "round": len(starts), "round_t": None,
        "world_size": None, "max_world_size": None, "ranks_per_node": None,
        "max_nodes": fleet_size if fleet_size > 1 else None, "min_nodes": min_nodes,
        "nodes": [], "ranks_known": True, "joining": [], "resumed_from": None,
        "preempted": len(preempted),
        "last_preempted": None if last is None else {
            "host": last.host, "boot": last.boot, "t": when(last)},
    }
    done = next((e for e in events if e["event"] == "done"), None)
    if not starts:
        up = _live(boots)
        out["joining"] = [{"host": b.host, "boot": b.boot, "t": b.t_start} for b in up]
        out["since_t"] = min((b.t_start for b in up), default=None)
    else:
        start = starts[-1]
        t_r = start["t"]
        nodes, known = _round_nodes(start)
        writer = next((b for b in boots if (b.host, b.boot) == (str(start.get("host")), str(start.get("boot")))), None)
        mine = [e for e in (writer.events if writer else []) if e["t"] >= t_r]
        stops = [e for e in mine if e["event"] in _STOP_EVENTS or (e["event"] == "exit" and e.get("code") != 0)]
        resume = next((e for e in mine if e["event"] == "resume"), None)
        in_round = {(n["host"], n["boot"]) for n in nodes}
        left = []
        for n in nodes:
            gone = _node_left(n, t_r, boots, status, max((e["t"] for e in mine), default=t_r))
            n["left"] = gone[1] if gone else None
            if gone:
                left.append((gone[0], gone[1], n["host"]))
        # without the round's map (an older library) the other VMs may well be in it: none is said to join
        joined = [b for b in _live(boots) if known and (b.host, b.boot) not in in_round and b.host not in
                  {n["host"] for n in nodes if n["left"] is None}]
        per_node = max((len(n["ranks"]) for n in nodes), default=0) if known else None
        out.update({
            "round_t": t_r, "world_size": _world(start), "nodes": nodes, "ranks_known": known,
            "ranks_per_node": per_node or None,
            "max_world_size": fleet_size * per_node if per_node and fleet_size > 1 else None,
            "joining": [{"host": b.host, "boot": b.boot, "t": b.t_start} for b in joined],
            "resumed_from": (resume or {}).get("from_step"),
        })
        ends = sorted([t for t, _, _ in left] + [e["t"] for e in stops])
        if ends:
            out.update(state="RE-FORMING", why=_why(left, stops, joined, start), since_t=ends[0])
        else:
            out.update(state="RUNNING", since_t=t_r)
    if done is not None:  # the VMs' commands end after it: that is no node leaving
        out.update(state="DONE", why=None, since_t=done["t"], joining=[],
                   nodes=[{**n, "left": None} for n in out["nodes"]])
    elif stopped:
        out.update(state="STOPPED", why=None)
    out["since_s"] = round(max(0.0, now - out["since_t"]), 1) if out["since_t"] is not None else None
    return out
