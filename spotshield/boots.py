"""A run's events as boots: the one model that the trainer's history, status and analysis read.

A boot is one life of one VM: the events of one (host, boot) pair, from the boot script
(`vm_boot`, `command_start`, `command_exit`, `vm_notice`, `crash_loop`, written by
startup-scripts/*.sh) and from the trainer process it ran (spotshield/events.py). Boots are
ordered by their first event. This module holds, once, what those events mean:

  preempted      a boot was preempted when the boot script's `vm_notice` says so; without one
                 (older boot scripts, or a VM killed before its script ran) when the trainer saw
                 a `preempt_notice`, or when the boot vanished without a goodbye (no `exit`,
                 `done` or `command_exit`) and a later boot replaced it (a hard stop).
                 In a job of several VMs at once (torchrun, docs/distributed.md: some round's
                 `start` names nodes on two hosts or more) every round ends with a stop of every
                 node's workers (a notice anywhere, a VM joining), rank 0 included. So rank 0's
                 `preempt_notice` counts for its own VM only when the rank that was told
                 (`noticed_by`) is on that VM, its trainer did not start again in that boot, and
                 the VM's boot ended (the boot script's `command_exit`, or a later boot of it);
                 a trainer's `exit` is no goodbye of the VM; and the VMs run side by side, so only
                 a later boot of the same VM (the group recreates a member under its name)
                 replaces one.
  work lost      per replacement: the steps the dying boot went past the step the next boot
                 resumed at, and the time they took on the dying boot's step clock.
  billable time  each boot from its boot script's start (`vm_boot`'s script_start_t, else the
                 vm_boot, else its first event) to its last event: the VM
                 is billed while it boots, trains, checkpoints and shuts down.
  on-demand time what an uninterrupted on-demand VM would have run for the same work: one
                 start-up (the first training boot's `vm_boot` -> its trainer `start`/`resume`),
                 plus on every boot the training time of the steps that were kept (from its
                 resume point to the step the next boot resumed at, or to its last step on the
                 final boot; validation and regular-checkpoint stalls included), plus the final
                 boot's wind-down after its last step (export, DONE). Repeated start-ups, re-done
                 steps and the time a dying boot spent after its last kept step are not in it.

Times are the events' own clock: real (unix) seconds. Under the emulator, emulated seconds are
real seconds x the stack's time scale; spotshield/billing.py applies it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

_PROGRESS_EVENTS = ("step", "epoch_end", "checkpoint", "preempt_notice", "done")
_GOODBYES = ("exit", "done", "command_exit")  # a boot that wrote one of these ended on its own terms
_VM_GOODBYES = ("done", "command_exit")  # the same in a job of several VMs, whose workers exit every round


@dataclass
class Boot:
    host: str
    boot: str
    events: list[dict] = field(default_factory=list)

    def first(self, name: str) -> dict | None:
        return next((e for e in self.events if e["event"] == name), None)

    def all(self, name: str) -> list[dict]:
        return [e for e in self.events if e["event"] == name]

    @property
    def from_step(self) -> int:
        r = self.first("resume")
        return int(r["from_step"]) if r else 0

    @property
    def t_begin(self) -> float:
        return self.events[0]["t"]

    @property
    def t_start(self) -> float:
        """When the VM booted: the boot script's start (its vm_boot's script_start_t, else the
        vm_boot itself, which comes after the script's metadata reads), else the boot's first event."""
        vm = self.first("vm_boot")
        if vm is None:
            return float(self.t_begin)
        s = vm.get("script_start_t")
        ok = isinstance(s, (int, float)) and not isinstance(s, bool) and s <= vm["t"]
        return float(s) if ok else float(vm["t"])

    @property
    def t_end(self) -> float:
        return float(max(e["t"] for e in self.events))

    @property
    def span(self) -> tuple[float, float]:
        """(boot, last event): the VM time this boot is billed for (spotshield/billing.py sums spans)."""
        return self.t_start, self.t_end

    @property
    def ended(self) -> bool:
        """The boot said goodbye (an exit of the trainer or of the boot script's command)."""
        return any(e["event"] in _GOODBYES for e in self.events)

    @property
    def notice(self) -> dict | None:
        """The first sign of a stop: the boot script's vm_notice or the trainer's preempt_notice."""
        return self.own_notice(several=False)

    def own_notice(self, several: bool) -> dict | None:
        """The first sign of this VM's own stop: as `notice`, but in a job of several VMs a trainer's
        notice that came from a rank on another VM is not one (this VM went on)."""
        found = [e for e in self.events if e["event"] == "vm_notice"
                 or (e["event"] == "preempt_notice" and (not several or self._notice_was_mine(e)))]
        return min(found, key=lambda e: e["t"]) if found else None

    def preempted(self, superseded: bool, several: bool = False) -> bool:
        """The one definition of a preemption (module docstring). `superseded`: a later boot replaced
        it; `several`: a job of several VMs."""
        vm = self.first("vm_notice")
        if vm is not None:
            return bool(vm.get("preempted"))
        ended = any(e["event"] in (_VM_GOODBYES if several else _GOODBYES) for e in self.events)
        if any(self._notice_was_mine(p) for p in self.all("preempt_notice")):
            if not several or superseded or ended:
                return True
        return superseded and not ended

    def _notice_was_mine(self, notice: dict) -> bool:
        """A trainer's notice tells of this VM's end unless the job says it came from a rank on
        another VM, or this boot's trainer started again after it (the VM lived on)."""
        starts = self.all("start")
        if any(s["t"] > notice["t"] for s in starts):
            return False
        round_start = next((s for s in reversed(starts) if s["t"] <= notice["t"]), None)
        host = rank_host(round_start, notice.get("noticed_by"))
        return host is None or host == self.host

    def progress(self) -> list[tuple[float, int]]:
        """(t, step) points of training progress in this boot, from the resume point on."""
        r = self.first("resume") or self.first("start")
        pts = [(r["t"], self.from_step)] if r else []
        for e in self.events:
            if e["event"] in _PROGRESS_EVENTS and "step" in e:
                # a checkpoint event is written when the save commits, possibly many steps
                # later (async persist); snapshot_t is when training was at its step
                t = e.get("snapshot_t", e["t"]) if e["event"] == "checkpoint" else e["t"]
                pts.append((float(t), int(e["step"])))
        return pts

    @property
    def t_ready(self) -> float | None:
        """When training could begin: the trainer's resume (or start) event; None if it never ran."""
        r = self.first("resume") or self.first("start")
        return float(r["t"]) if r else None

    @property
    def last_step(self) -> int:
        steps = [s for _, s in self.progress()]
        ex = self.first("exit")
        if ex is not None and "step" in ex:
            steps.append(int(ex["step"]))
        return max(steps, default=self.from_step)

    def time_at_step(self, step: float) -> float:
        """When this boot reached `step`, interpolated linearly between progress points."""
        # Several events can share a step (the step event, then a checkpoint after its
        # stall, then validation): the latest time at a step is when training went on.
        latest: dict[int, float] = {}
        for t, s in self.progress():
            latest[s] = max(t, latest.get(s, t))
        pts = sorted((t, s) for s, t in latest.items())
        pts.sort(key=lambda p: p[1])
        if not pts:
            return self.t_begin
        if step <= pts[0][1]:
            return pts[0][0]
        for (t0, s0), (t1, s1) in zip(pts, pts[1:]):
            if s0 <= step <= s1:
                return t0 if s1 == s0 else t0 + (t1 - t0) * (step - s0) / (s1 - s0)
        return pts[-1][0]

    def seconds_per_step(self) -> float | None:
        pts = [p for p in self.progress()]
        if len(pts) < 2:
            return None
        (t0, s0), (t1, s1) = min(pts, key=lambda p: p[0]), max(pts, key=lambda p: p[0])
        return (t1 - t0) / (s1 - s0) if s1 > s0 else None

    def first_step_time(self) -> float | None:
        """Estimated time of the first training step after the resume point.

        `step` events are periodic, so the first one after a resume may be several steps
        in; its time is walked back by the boot's own seconds per step.
        """
        base = self.from_step
        later = [(t, s) for t, s in self.progress() if s > base]
        if not later:
            return None
        t, s = min(later)
        sps = self.seconds_per_step() or 0.0
        return max(t - (s - base - 1) * sps, (self.first("resume") or self.first("start") or {"t": t})["t"])


def split_boots(events: list[dict]) -> list[Boot]:
    """Events with a numeric time, grouped per (host, boot), ordered by each boot's first event."""
    boots: dict[tuple[str, str], Boot] = {}
    for e in events:
        if not isinstance(e.get("t"), (int, float)):
            continue
        key = (str(e.get("host")), str(e.get("boot")))
        boots.setdefault(key, Boot(*key)).events.append(e)
    for b in boots.values():
        b.events.sort(key=lambda e: e["t"])
    return sorted(boots.values(), key=lambda b: b.t_begin)


def rank_host(start: dict | None, rank) -> str | None:
    """The host of `rank` in a round's `start` event (its `nodes`); None when it does not say."""
    if start is None or isinstance(rank, bool) or not isinstance(rank, int):
        return None
    for node in round_nodes(start):
        if rank in node["ranks"]:
            return node["host"]
    return None


def round_nodes(start: dict) -> list[dict]:
    """The well-formed entries of a start event's `nodes` ([{"host", "boot", "ranks"}]); [] without."""
    out = []
    for n in start.get("nodes") or []:
        if isinstance(n, dict) and n.get("host") is not None and isinstance(n.get("ranks"), list):
            out.append({"host": str(n["host"]), "boot": str(n.get("boot")),
                        "ranks": [r for r in n["ranks"] if isinstance(r, int) and not isinstance(r, bool)]})
    return out


def side_by_side(boots: list[Boot]) -> bool:
    """A job of several VMs at once: some round's start event names nodes on two hosts or more."""
    return any(len({n["host"] for n in round_nodes(e)}) > 1 for b in boots for e in b.all("start"))


def rounds(b: Boot) -> list[Boot]:
    """A boot's rounds in a job under torchrun, each a Boot of its own: the boot's events split at
    each trainer `start` (the agent restarts its workers within one VM boot, docs/distributed.md)."""
    cuts = [i for i, e in enumerate(b.events) if e["event"] == "start"]
    return [Boot(b.host, b.boot, b.events[i:j]) for i, j in zip(cuts, [*cuts[1:], len(b.events)])]


def round_first_steps(boots: list[Boot]) -> list[tuple[float, float]]:
    """(start, first step) of every round of a job of several VMs that took a step. A VM trains from
    the first step of the first round that starts after its power-on, whichever VM's rank 0 wrote
    it (its own ranks may write no events): its start-up ends there, as the emulator's hold does
    (spotshield/distributed/nodehealth.py)."""
    return [(r.t_begin, t) for b in boots for r in rounds(b) if (t := r.first_step_time()) is not None]


def _replaced(boots: list[Boot], i: int, several: bool) -> bool:
    """A later boot replaced boot i: any later one, or in a job of several VMs a later one of the same VM."""
    return any(c.host == boots[i].host for c in boots[i + 1:]) if several else i + 1 < len(boots)


def preempted_boots(boots: list[Boot], several: bool | None = None) -> list[Boot]:
    """The boots that were preempted, in order (the one preemption counter). `several`: the VMs
    run side by side (a job of several VMs); None reads it off the events (side_by_side)."""
    several = side_by_side(boots) if several is None else several
    return [b for i, b in enumerate(boots) if b.preempted(_replaced(boots, i, several), several)]


@dataclass(frozen=True)
class WorkLost:
    steps: int
    seconds: float  # on the dying boots' own clocks (real seconds)


def work_lost(boots: list[Boot], several: bool | None = None) -> WorkLost:
    """Steps (and their time) that a replacement had to train again. In a job of several VMs
    (`several`, as for preempted_boots) only the boots whose trainer wrote events count: the
    other nodes' boots run beside them and resume nothing, and rank 0 may move between VMs."""
    if side_by_side(boots) if several is None else several:
        boots = sorted((b for b in boots if b.t_ready is not None), key=lambda b: b.t_ready)
    steps, seconds = 0, 0.0
    for prev, nxt in zip(boots, boots[1:]):
        redo = max(0, prev.last_step - nxt.from_step)
        steps += redo
        if redo:
            t_last = prev.time_at_step(prev.last_step)
            seconds += max(0.0, t_last - prev.time_at_step(max(nxt.from_step, prev.from_step)))
    return WorkLost(steps, seconds)


def spans(boots: list[Boot]) -> list[tuple[float, float]]:
    """Every boot's billed span, for spotshield.billing.billable_seconds (real seconds)."""
    return [b.span for b in boots]


def on_demand_seconds(boots: list[Boot]) -> float | None:
    """What one uninterrupted on-demand VM would have run for the kept work (module docstring);
    None while no boot has trained (nothing to compare with)."""
    trained = [b for b in boots if b.t_ready is not None]
    if not trained:
        return None
    first, last = trained[0], trained[-1]
    total = max(0.0, first.t_ready - first.t_start)  # one start-up
    for b, nxt in zip(trained, [*trained[1:], None]):
        kept_to = b.last_step if nxt is None else min(b.last_step, nxt.from_step)
        if kept_to > b.from_step:
            total += max(0.0, b.time_at_step(kept_to) - b.time_at_step(b.from_step))
    total += max(0.0, last.t_end - last.time_at_step(last.last_step))  # the final boot's wind-down
    return total


def run_history(events: list[dict], boot: str) -> dict:
    """What the earlier boots of a run tell a new boot `boot` (the trainer's resume and its
    adaptive strategy): preemptions and exposure (VM seconds) of the other boots, the last
    progress of the most recent one (the work a resume may have to redo), and their count."""
    every = split_boots(events)
    others = [b for b in every if b.boot != boot]
    if side_by_side(every):  # the other VMs of the job run beside this one: the one counter decides
        preemptions = sum(1 for b in preempted_boots(every, several=True) if b.boot != boot)
    else:  # every other boot is superseded: the asking boot came after it
        preemptions = sum(1 for b in others if b.preempted(superseded=True))
    exposure = sum(b.t_end - b.t_begin for b in others)
    last_step, last_t = -1, None
    if others:
        latest = max(others, key=lambda b: b.t_end)
        for e in latest.events:
            s = e.get("step")
            if isinstance(s, int) and s >= last_step:
                last_step, last_t = s, e["t"]
    return {"preemptions": preemptions, "exposure_s": exposure, "last_step": last_step, "last_t": last_t,
            "boots": len(others)}
