"""The deadline controller as a process: `python -m spotshield.deadline.service --config FILE`.

Where it runs (docs/deadline.md): on GCP in a size-1 on-demand group of its own (Terraform's
modules/deadline-controller; its boot script startup-scripts/controller.sh starts this module), so
it survives the user's laptop; on the local backend as a process beside the emulator daemon,
started by `up --deadline` and stopped by `down` (spotshield/backends/deadline.py). Both talk to
the groups only through the Compute API (gce.GroupActuator) and read the run's events from its
store; the only object they write is the store's deadline.json (spotshield/layout.py DEADLINE_KEY):
the last tick, for `spotshield status`.

Clocks. Events carry real (unix) seconds. The controller decides on the *stack clock*: real
seconds on GCP, emulated seconds under the emulator, i.e. start + (now - start) x time_scale, the
clock the deadline, the restart overhead, the dwell and the trace stockouts are given in. Measured
work and overheads are scaled the same way (a step that takes 0.2 real s is 12 emulated s at 60x).

It keeps going through a failed tick (an API or store error is logged and retried on the next
tick) and stops when the work is done and both groups are empty, or on SIGTERM (`down`). At the
end, on GCP, it resizes its own group to 0 (`self_mig`), so it stops costing money.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from spotshield.deadline import policies
from spotshield.deadline.actuator import Actuator, Placement
from spotshield.deadline.controller import DEFAULT_DWELL_S, Controller, ControllerConfig, Tick
from spotshield.deadline.progress import EventsProgress, JobProgress
from spotshield.deadline.state import Where
from spotshield.errors import SpotShieldError
from spotshield.layout import DEADLINE_KEY

DEFAULT_INTERVAL_S = 60.0  # stack seconds between decisions (the simulator's tick)
DEFAULT_BOOT_S = 60.0  # stack seconds a VM takes to boot before any event is written
MAX_MOVES = 100  # moves kept in deadline.json


@dataclass
class ServiceConfig:
    project: str
    region: str
    zones: list[str]
    spot_mig: str
    on_demand_mig: str
    store: str
    run_id: str
    start: float  # real unix seconds when the deadline was set (`up`)
    deadline: float  # real unix seconds
    work_estimate_s: float  # real seconds of compute before events measure it (work.py)
    restart_s: float  # configured restart overhead d, stack seconds (a larger measured one wins)
    time_scale: float = 1.0  # stack seconds per real second (emulated; 1 on GCP)
    policy: str = policies.DEFAULT
    policy_params: dict = field(default_factory=dict)
    interval_s: float = DEFAULT_INTERVAL_S  # stack seconds
    min_dwell_s: float = DEFAULT_DWELL_S  # stack seconds
    boot_s: float = DEFAULT_BOOT_S  # stack seconds
    stockout_memory_s: float = 1800.0  # stack seconds (gce.GroupActuator)
    compute_endpoint: str | None = None  # None: SPOTSHIELD_COMPUTE_ENDPOINT, else Google's
    self_mig: str | None = None  # GCP: the controller's own group, resized to 0 at the end
    health_port: int | None = None  # GCP: /healthz for the group's auto-healing

    @classmethod
    def from_dict(cls, d: dict) -> "ServiceConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise SpotShieldError(f"deadline controller config: unknown key(s) {', '.join(unknown)}")
        try:
            cfg = cls(**d)
        except TypeError as e:
            raise SpotShieldError(f"deadline controller config: {e}") from None
        return cfg.check()

    def check(self) -> "ServiceConfig":
        if not self.time_scale > 0 or not self.interval_s > 0:
            raise SpotShieldError("deadline controller config: time_scale and interval_s must be > 0")
        if not self.zones:
            raise SpotShieldError("deadline controller config: zones is empty")
        policies.make(self.policy, **self.policy_params)  # a bad policy fails at start, in one line
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    # ---- the stack clock -----------------------------------------------------
    def stack(self, real_t: float) -> float:
        return self.start + (real_t - self.start) * self.time_scale

    def real(self, stack_t: float) -> float:
        return self.start + (stack_t - self.start) / self.time_scale


class ScaledProgress:
    """EventsProgress (real seconds) on the stack clock: work and overheads x time_scale."""

    def __init__(self, store, cfg: ServiceConfig):
        self.scale = cfg.time_scale
        self.inner = EventsProgress(store, cfg.run_id, cfg.work_estimate_s, cfg.boot_s / cfg.time_scale)

    def __call__(self) -> JobProgress:
        p = self.inner()
        k = self.scale
        return dataclasses.replace(p, work_done_s=p.work_done_s * k, work_total_s=p.work_total_s * k,
                                   restart_s=None if p.restart_s is None else p.restart_s * k,
                                   steps_per_s=None if p.steps_per_s is None else p.steps_per_s / k)


def _where(where: Where, zone: str | None) -> str:
    return f"spot:{zone}" if where == Where.SPOT else where.value


def tick_record(t: Tick, cfg: ServiceConfig, moves: list[dict], ticks: int, error: str | None) -> dict:
    """deadline.json: real unix times for display, durations in stack seconds (emulated locally)."""
    s = t.state
    return {
        "t": cfg.real(t.now), "start": cfg.start, "deadline": cfg.deadline, "time_scale": cfg.time_scale,
        "clock": "emulated" if cfg.time_scale != 1 else "real", "policy": cfg.policy,
        "running": s.running.value, "zone": s.zone, "decision": t.decision.where.value,
        "decision_zone": t.decision.zone, "reason": t.decision.reason, "held": t.held, "resized": t.resized,
        "target": {"spot": dict(t.target.spot), "on_demand": t.target.on_demand},
        "spot_available": {z: v for z, v in s.spot_available.items()},
        "remaining_work_s": round(s.remaining_work_s, 1), "remaining_time_s": round(s.remaining_time_s, 1),
        "slack_s": round(s.remaining_time_s - s.remaining_work_s, 1), "restart_s": round(s.restart_s, 1),
        "progress": round(s.progress, 4), "expected_progress": round(s.expected_progress(s.now), 4),
        "finished": s.finished, "ticks": ticks, "moves": moves[-MAX_MOVES:], "error": error,
    }


class Service:
    def __init__(self, cfg: ServiceConfig, actuator: Actuator | None = None, store=None):
        from spotshield.storage import open_store

        self.cfg = cfg
        self.store = store or open_store(cfg.store)
        clock = lambda: cfg.stack(time.time())  # noqa: E731
        if actuator is None:
            from spotshield.deadline.gce import GroupActuator

            actuator = GroupActuator(cfg.project, cfg.region, cfg.spot_mig, cfg.on_demand_mig, cfg.zones,
                                     endpoint=cfg.compute_endpoint, clock=clock,
                                     stockout_memory_s=cfg.stockout_memory_s)
        self.actuator = actuator
        self.controller = Controller(
            policies.make(cfg.policy, **cfg.policy_params), ScaledProgress(self.store, cfg), actuator,
            ControllerConfig(deadline=cfg.stack(cfg.deadline), start=cfg.start, zones=tuple(cfg.zones),
                             restart_s=cfg.restart_s, min_dwell_s=cfg.min_dwell_s), clock=clock)
        self.stop = threading.Event()
        self.moves: list[dict] = []
        self.ticks = 0
        self.last_ok = time.monotonic()
        self._last_target: Placement | None = None

    def _note(self, t: Tick) -> None:
        """The placements the controller asked for, in order (the first: what it found or chose at start)."""
        if t.target != self._last_target:
            where = next(((Where.SPOT, z) for z, n in t.target.spot.items() if n), None) or (
                (Where.ON_DEMAND, None) if t.target.on_demand else (Where.NONE, None))
            self.moves.append({"t": self.cfg.real(t.now), "to": _where(*where), "reason": t.decision.reason,
                               "progress": round(t.state.progress, 4)})
            self._last_target = t.target

    def once(self) -> Tick | None:
        """One tick and its record; None when the tick failed (logged, retried next time)."""
        try:
            t = self.controller.tick()
        except Exception as e:  # an API or store hiccup must not end the controller: the next tick retries
            msg = str(e) if isinstance(e, SpotShieldError) else f"{type(e).__name__}: {' '.join(str(e).split())[:300]}"
            print(f"deadline controller: tick failed: {msg}", file=sys.stderr, flush=True)
            return None
        self.ticks += 1
        self.last_ok = time.monotonic()
        self._note(t)
        try:
            rec = tick_record(t, self.cfg, self.moves, self.ticks, None)
            self.store.write(DEADLINE_KEY, json.dumps(rec, sort_keys=True).encode())
        except Exception as e:
            print(f"deadline controller: cannot write {DEADLINE_KEY}: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        if t.resized:
            print(f"deadline controller: {_where(t.decision.where, t.decision.zone)} ({t.decision.reason}); "
                  f"target spot={dict(t.target.spot)} on_demand={t.target.on_demand}", file=sys.stderr, flush=True)
        return t

    def run(self) -> int:
        interval = self.cfg.interval_s / self.cfg.time_scale  # real seconds between ticks
        while not self.stop.is_set():
            t = self.once()
            if t is not None and t.state.finished and not t.target.on_demand and not any(t.target.spot.values()):
                print("deadline controller: the work is done and both groups are empty; exiting",
                      file=sys.stderr, flush=True)
                self._stop_self()
                return 0
            self.stop.wait(interval)
        return 0

    def _stop_self(self) -> None:
        if not self.cfg.self_mig:
            return
        try:
            from spotshield.deadline.gce import GroupActuator

            g = self.actuator if isinstance(self.actuator, GroupActuator) else None
            if g is not None:
                g.set_size(self.cfg.self_mig, 0)
        except SpotShieldError as e:
            print(f"deadline controller: cannot resize {self.cfg.self_mig} to 0: {e}", file=sys.stderr, flush=True)

    def serve_health(self, port: int) -> ThreadingHTTPServer:
        """GET /healthz: 200 while ticks succeed (within 5 intervals), for the group's auto-healing."""
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                stale = time.monotonic() - service.last_ok > 5 * service.cfg.interval_s / service.cfg.time_scale
                code = 503 if self.path != "/healthz" or stale else 200
                self.send_response(code)
                self.end_headers()
                self.wfile.write(b"ok\n" if code == 200 else b"stale\n")

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("0.0.0.0", port), Handler)
        threading.Thread(target=server.serve_forever, daemon=True, name="healthz").start()
        return server


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m spotshield.deadline.service")
    ap.add_argument("--config", required=True, help="JSON file of ServiceConfig fields")
    args = ap.parse_args(argv)
    try:
        with open(args.config) as f:
            cfg = ServiceConfig.from_dict(json.load(f))
        service = Service(cfg)
    except (OSError, ValueError) as e:
        print(f"error: deadline controller config {args.config}: {e}", file=sys.stderr)
        return 1
    except SpotShieldError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, lambda *a: service.stop.set())
    signal.signal(signal.SIGINT, lambda *a: service.stop.set())
    if cfg.health_port:
        service.serve_health(cfg.health_port)
    print(f"deadline controller: run {cfg.run_id}, policy {cfg.policy}, deadline "
          f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(cfg.deadline))}, groups {cfg.spot_mig} / "
          f"{cfg.on_demand_mig}, time scale {cfg.time_scale:g}", file=sys.stderr, flush=True)
    return service.run()


if __name__ == "__main__":
    sys.exit(main())
