"""Draw the status dict (collect.py) with Rich: one renderable, used by `status` and `--watch`."""
from __future__ import annotations

import time

from rich.console import Group
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

_SPARK = "▁▂▃▄▅▆▇█"
_COMMAND_CHARS = 60  # the boot script's command line is long (interpreter, store, config paths)
_STATUS_STYLE = {"RUNNING": "green", "TERMINATED": "red", "STOPPING": "yellow", "PROVISIONING": "cyan",
                 "STAGING": "cyan", "SUSPENDED": "yellow", "DONE": "bold green", "TRAINING": "green",
                 "WAITING": "yellow", "EXITED": "yellow", "STOPPED": "bold red", "RE-FORMING": "bold yellow"}
# what the job's state means for the user, after the state itself (spotshield/status/job.py)
_JOB_STATE = {"RUNNING": "training at world {world}", "DONE": "finished at world {world}",
              "RE-FORMING": "for {ago}: {why}; {then}",
              "WAITING": "no round yet: the rendezvous waits for at least {least}",
              "STOPPED": "the boot script stopped the group"}


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def size(n: int | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return "-"


def usd(x: float | None) -> str:
    """Dollars; cents hide the cost of a short emulated run, so small sums get 4 decimals."""
    if x is None:
        return "-"
    return f"${x:.2f}" if abs(x) >= 1 else f"${x:.4f}"


def sparkline(values: list[float]) -> str:
    vals = [v for v in values if isinstance(v, (int, float))]
    if not vals:
        return ""
    lo, hi = min(vals), max(vals)
    span = (hi - lo) or 1.0
    return "".join(_SPARK[int((v - lo) / span * (len(_SPARK) - 1))] for v in vals)


def ranks(rs: list[int] | None) -> str:
    """[0, 1, 2, 5] -> 'ranks 0-2, 5'; [3] -> 'rank 3'."""
    if not rs:
        return "ranks ?"
    spans: list[list[int]] = []
    for r in sorted(rs):
        if spans and r == spans[-1][1] + 1:
            spans[-1][1] = r
        else:
            spans.append([r, r])
    text = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)
    return ("rank " if len(rs) == 1 else "ranks ") + text


def _kv(rows: list[tuple[str, str | Text]]) -> Table:
    t = Table.grid(padding=(0, 2))
    t.add_column(style="bold")
    t.add_column()
    for k, v in rows:
        t.add_row(k, v)
    return t


def _stack(d: dict) -> Panel:
    s = d["stack"]
    where = f"{s['project']} / {s['region']} ({', '.join(s['zones'])})"
    rows = [
        ("stack", f"{s['name']}  backend={s['backend']}  up {duration(s['age_s'])}"),
        ("where", where),
        ("fleet", f"{s['mig']}  {s['machine_type']}" + (f" + {s['gpu']}" if s.get("gpu") else "") + "  spot"
         + ("  (on-demand fallback for the deadline)" if d.get("deadline") else "")),
        ("run", f"{s['run_id']}  strategy={s['strategy']}"),
        ("store", s["store"]),
    ]
    if d.get("stopped"):
        rows.append(("stopped", Text(d["stopped"]["line"].removeprefix("stopped: "), style="bold red")))
    return Panel(_kv(rows), title="SpotShield", title_align="left")


def _instances(d: dict) -> Table:
    t = Table(title="Instances", title_justify="left", expand=True)
    groups = any(i.get("group", "spot") != "spot" for i in d["instances"]) or bool(d.get("deadline"))
    cols = ("name",) + (("group",) if groups else ()) + ("zone", "status", "action", "uptime", "preemptions")
    for col in cols:
        t.add_column(col, justify="right" if col in ("uptime", "preemptions") else "left")
    for i in d["instances"]:
        status = "no capacity" if i.get("error") and i["status"] == "UNKNOWN" else i["status"]
        row = [i["name"]] + ([i.get("group", "spot")] if groups else []) + [
            i["zone"], Text(status, style=_STATUS_STYLE.get(i["status"], "yellow")), i["action"],
            duration(i["uptime_s"]), str(i["preemptions"])]
        t.add_row(*row)
    if not d["instances"]:
        t.add_row("(none)", *[""] * (len(cols) - 1))
    return t


def _deadline(d: dict) -> Panel | None:
    """The deadline, the slack, where the job runs now, and the controller's last decision."""
    dl = d.get("deadline")
    if not dl:
        return None
    scale = dl.get("time_scale") or 1.0
    clock = "emulated " if scale != 1 else ""
    at = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(dl["deadline"])) if dl.get("deadline") else "-"
    left = dl.get("left_s")
    when = (f"{at}  ({dl.get('text')}; {'in ' + clock + duration(left) if left is not None and left > 0 else 'passed'}"
            f"{f' = {duration(left / scale)} real at {scale:g}x' if scale != 1 and left and left > 0 else ''})")
    rows = [("deadline", when), ("where now", dl["where"])]
    tick = dl.get("tick")
    if tick:
        slack = tick.get("slack_s")
        rows.append(("slack", f"{clock}{duration(slack) if slack is not None and slack >= 0 else '-' + duration(-(slack or 0))}"
                              f"  (time left {duration(tick.get('remaining_time_s'))} - work left "
                              f"{duration(tick.get('remaining_work_s'))}; restart overhead {duration(tick.get('restart_s'))})"))
        prog, pace = tick.get("progress"), tick.get("expected_progress")
        if prog is not None and pace is not None:
            rows.append(("pace", f"{100 * prog:.0f}% done vs {100 * pace:.0f}% at a uniform pace"))
        where = tick.get("decision") + (f" {tick['decision_zone']}" if tick.get("decision_zone") else "")
        rows.append(("controller", f"{dl.get('policy')}: {where} ({tick.get('reason')})"
                                   f"{'  [held by the dwell]' if tick.get('held') else ''}  {duration(tick.get('age_s'))} ago"))
    else:
        rows.append(("controller", f"{dl.get('policy')}: no decision yet ({dl.get('controller_runs') or '-'})"))
    moves = dl.get("moves") or []
    if moves:
        rows.append(("moves", " -> ".join(m["to"] for m in moves[-6:]) + (f"  ({len(moves)} in all)" if len(moves) > 6 else "")))
    if dl.get("met") is not None:
        rows.append(("result", Text("done before the deadline" if dl["met"] else "done AFTER the deadline",
                                    style="bold green" if dl["met"] else "bold red")))
    return Panel(_kv(rows), title="Deadline", title_align="left")


def _job(d: dict) -> Panel | None:
    """A job under torchrun: its state, world size, nodes with their ranks, the last preempted node."""
    j = d.get("job")
    if not j:
        return None
    now = d.get("now")
    ago = lambda t: duration(now - t) if t is not None and now is not None else "-"  # noqa: E731
    least = f"{j['min_nodes']} node{'s' if j['min_nodes'] != 1 else ''}" if j.get("min_nodes") else "its nodes"
    then = ("the round stops to take it in" if (j.get("why") or "").endswith(" joining")
            else "the survivors wait in the rendezvous for the next round")
    detail = _JOB_STATE.get(j["state"], "").format(world=j.get("world_size"), why=j.get("why"), then=then,
                                                   ago=ago(j.get("since_t")), least=least)
    rows: list[tuple[str, str | Text]] = [
        ("state", Text.assemble((j["state"], _STATUS_STYLE.get(j["state"], "")), f"  {detail}" if detail else ""))]
    if j.get("world_size"):
        n_nodes = len(j["nodes"]) if j.get("ranks_known", True) else None
        shape = [] if n_nodes is None else [f"{n_nodes} of {j['max_nodes']} nodes" if j.get("max_nodes")
                                            else f"{n_nodes} node{'s' if n_nodes != 1 else ''}"]
        if j.get("ranks_per_node"):
            shape.append(f"{j['ranks_per_node']} rank{'s' if j['ranks_per_node'] != 1 else ''} each")
        if j.get("min_nodes") and j.get("max_nodes"):
            shape.append(f"elastic {j['min_nodes']}-{j['max_nodes']} nodes")
        of = f" of {j['max_world_size']}" if j.get("max_world_size") else ""
        ended = "  in the round that ended" if j["state"] == "RE-FORMING" else ""
        rows.append(("world", f"{j['world_size']}{of} ranks  ({'; '.join(shape)}){ended}"))
    width = max((len(n["host"]) for n in j["nodes"]), default=0)
    for i, n in enumerate(j["nodes"]):
        where = ranks(n["ranks"]) if j.get("ranks_known", True) else "rank 0 (other ranks' VMs not recorded)"
        left = "" if not n.get("left") else Text(f"  {n['left']}", style="bold red" if n["left"] == "preempted"
                                                 else "yellow")
        rows.append(("nodes" if i == 0 else "", Text.assemble(f"{n['host']:<{width}}  {where}", left)))
    for i, n in enumerate(j.get("joining") or []):
        verb = "up" if not j.get("world_size") else "joining"
        rows.append((verb if i == 0 else "", f"{n['host']}  (booted {ago(n.get('t'))} ago)"))
    if j.get("round_t") is not None:
        resumed = f", resumed from step {j['resumed_from']}" if j.get("resumed_from") is not None else ""
        rows.append(("round", f"{j['round']}, started {ago(j['round_t'])} ago{resumed}"))
    lp = j.get("last_preempted")
    rows.append(("preempted", f"{lp['host']} {ago(lp['t'])} ago  ({j['preempted']} in all)" if lp else "no VM yet"))
    return Panel(_kv(rows), title="Job (torchrun)", title_align="left")


def _progress(d: dict) -> Panel:
    p = d["progress"]
    state = Text(p["state"], style=_STATUS_STYLE.get(p["state"], ""))
    bar_row = Table.grid(padding=(0, 1))
    bar_row.add_column(width=40)
    bar_row.add_column()
    frac = p["fraction"] or 0.0
    total = p["total_steps"] or "?"
    bar_row.add_row(ProgressBar(total=1.0, completed=frac, width=40),
                    f"{100 * frac:5.1f}%  step {p['step']}/{total}  epoch {p['epoch']}/{p['epochs'] or '?'}")
    ips = p["images_per_s"]
    rows = [("state", state)]
    if p.get("command"):
        ended = f"exited {p['command_exit']}" if p.get("command_exit") is not None else "running"
        shown = p["command"] if len(p["command"]) <= _COMMAND_CHARS else p["command"][:_COMMAND_CHARS - 1] + "…"
        rows.append(("command", f"{shown}  ({ended})"))
    rows += [
        ("progress", bar_row),
        ("speed", f"{ips:.0f} images/s" if isinstance(ips, (int, float)) else "-"),
        ("ETA", "done" if p["state"] == "DONE" else duration(p["eta_s"])),
    ]
    acc = d["accuracy"]
    if acc:
        vals = [a["accuracy"] for a in acc if isinstance(a.get("accuracy"), (int, float))]
        last = vals[-1] if vals else None
        rows.append(("val accuracy", f"{sparkline(vals)}  {100 * last:.1f}% (epoch {acc[-1]['epoch']})"
                     if last is not None else "-"))
    if p.get("final_accuracy") is not None:
        rows.append(("final", f"{100 * p['final_accuracy']:.1f}% validation accuracy"))
    c = d["checkpoint"]
    if c:
        stall = f"{c['stall_s']:.2f}s" if isinstance(c.get("stall_s"), (int, float)) else "-"
        rows.append(("checkpoint", f"step {c['step']} ({c.get('reason') or '-'})  {duration(c['age_s'])} ago  "
                     f"stall {stall}  {size(c.get('bytes'))}  [{c['count']} kept]"))
    else:
        rows.append(("checkpoint", "none yet"))
    title = "Training" + (f": {p['model']} on {p['data']}" if p.get("model") else "")
    return Panel(_kv(rows), title=title, title_align="left")


def _money(d: dict) -> Panel:
    pr, c = d["preemptions"], d["cost"]
    rows = [
        ("preemptions", f"{pr['count']}  (resumes {pr['resumes']}, emergency checkpoints "
                        f"{pr['emergency_ok']} ok / {pr['emergency_missed']} missed)"),
        ("work lost", f"{duration(pr['seconds_lost'])}  ({pr['steps_lost']} steps)"),
    ]
    if c:
        rows += _cost_rows(c)
    else:
        rows.append(("cost", "n/a (no price for this machine in the price table)"))
    return Panel(_kv(rows), title="Preemptions and cost", title_align="left")


def _cost_rows(c: dict) -> list[tuple[str, str]]:
    """Spot spent vs the on-demand equivalent, then the bare price discount under its own name."""
    estimate = " (spot price estimated)" if c.get("spot_price_estimated") else ""
    spent = (f"{usd(c['spent_usd'])} spent ({usd(c['spot_usd'])} spot + {usd(c['on_demand_vm_usd'])} on-demand VMs)"
             if c.get("on_demand_vm_usd") else f"{usd(c['spot_usd'])} spot spent")
    if c.get("on_demand_usd") is not None:
        savings = f"{c['savings_pct']:.1f}%" if c.get("savings_pct") is not None else "-"
        cost = f"{spent} vs {usd(c['on_demand_usd'])} on-demand equivalent  saving {savings}"
    else:
        cost = f"{spent} (no training yet: no on-demand equivalent)"
    scale = c.get("time_scale") or 1.0
    if c.get("guest_time") == "real":
        clock = (f"{c['hours']:.3f} h emulated (guests' own start-up and shutdown at 1x, "
                 f"the rest at {c['stack_time_scale']:g}x)")
    elif scale != 1:
        clock = f"{c['hours']:.3f} h emulated = {duration(c['billable_s'])} real at {scale:g}x"
    else:
        clock = f"{c['hours']:.3f} h"
    return [("cost", cost + estimate),
            ("billed", f"{clock}; price discount {c['price_discount_pct']:.1f}% (spot vs on-demand price alone)")]


def _events(d: dict) -> Table:
    t = Table(title="Last events", title_justify="left", expand=True, show_header=False, box=None)
    t.add_column(style="dim", no_wrap=True)
    t.add_column(no_wrap=True)
    t.add_column(style="cyan", no_wrap=True)
    t.add_column()
    for e in d["events"]:
        t.add_row(time.strftime("%H:%M:%S", time.localtime(e["t"])), e["event"], e.get("host") or "", e["summary"])
    if not d["events"]:
        t.add_row("", "(no events yet)", "", "")
    return t


def render(d: dict) -> Group:
    parts = [_stack(d), _instances(d)] + ([_job(d)] if d.get("job") else []) + (
        [_deadline(d)] if d.get("deadline") else []) + [_progress(d), _money(d), _events(d)]
    if d.get("stopped"):
        parts.append(Text(d["stopped"]["line"], style="bold red"))
    for p in d.get("problems", []):
        parts.append(Text(f"! {p}", style="yellow"))
    return Group(*parts)
