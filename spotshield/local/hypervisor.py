"""The hypervisor: what runs an emulated VM, with local processes.

An emulated VM is a process group (start_new_session) running `bash startup-scripts/startup.sh`
with a fresh scratch directory as its boot disk, its own metadata server, and the environment
of docs/boot-contract.md. Its stdout/stderr is its serial console (a log file). A shutdown is
what GCE's ACPI soft off does: shutdown.sh, then SIGTERM to what is left, SIGKILL at the end of
the notice window. Every live process group is recorded in processes.json, so that the
emulator started after a crash kills what the crashed one left (kill_leftovers).

Knows nothing of groups or instance status: the fleet controller (fleet.py) decides, the
compute model (compute/models.py) keeps the state.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from spotshield.errors import SpotShieldError
from spotshield.local.clock import GUEST_TIMES, EmulatedClock
from spotshield.local.compute.models import Instance
from spotshield.local.metadata import MetadataServer
from spotshield.local.procs import free_port, kill_marked, proc_start_time, signal_group

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_STARTUP = REPO_ROOT / "startup-scripts" / "startup.sh"
DEFAULT_SHUTDOWN = REPO_ROOT / "startup-scripts" / "shutdown.sh"
# Marks every process the emulator starts, so a restarted daemon can find the orphans of a crashed one.
MARKER_ENV = "SPOTSHIELD_EMULATOR_ID"
PROCESSES_FILE = "processes.json"

# GCE gives a Spot VM 30 s between the preemption notice and the hard stop.
NOTICE_S = 30.0
# Locally the trainer needs real seconds for its emergency checkpoint (torch save + upload),
# whatever the time scale, so the scaled notice never drops below this.
NOTICE_FLOOR_S = 10.0
HEALTH_TIMEOUT_S = 2.0  # one /healthz probe (real seconds)
# torch imports alone take seconds on a busy CI box: auto-healing may not start before this (real s).
HEALTH_INITIAL_FLOOR_S = 60.0


@dataclass
class FleetConfig:
    state_dir: Path
    storage_url: str = ""  # STORAGE_EMULATOR_HOST for the VMs
    compute_url: str = ""  # SPOTSHIELD_COMPUTE_ENDPOINT for the VMs
    startup_script: Path = DEFAULT_STARTUP
    shutdown_script: Path | None = DEFAULT_SHUTDOWN
    python: str = sys.executable
    # clock.GUEST_TIMES: "scaled", every real second of the guest is time_scale emulated seconds;
    # "real", the clock runs at 1x from a VM's power-on until its trainer reports a first step on
    # /healthz and from a stop's notice until the guest has exited (its own start-up and shutdown,
    # which the emulator does not model), docs/emulator.md "Time". real is the default: scaled
    # multiplied 30 real s of a torchrun job's re-forming into 30 emulated minutes
    guest_time: str = "real"
    boot_delay_s: float = 40.0  # emulated: PROVISIONING + STAGING (GPU VMs take ~30-60 s on GCE)
    repair_delay_s: float = 60.0  # emulated: a stopped member waits this long before it is recreated
    notice_s: float = NOTICE_S
    notice_floor_s: float = NOTICE_FLOOR_S
    health_initial_floor_s: float = HEALTH_INITIAL_FLOOR_S
    emulator_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    extra_env: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.guest_time not in GUEST_TIMES:
            raise SpotShieldError(f"guest_time must be {' or '.join(GUEST_TIMES)}, not {self.guest_time!r}")


class Runtime:
    """The processes and servers behind one boot of one instance."""

    def __init__(self, inst: Instance, metadata: MetadataServer, proc: subprocess.Popen, home: Path,
                 log: Path, health_port: int, boot_id: str, env: dict):
        self.inst, self.metadata, self.proc, self.home, self.log = inst, metadata, proc, home, log
        self.health_port, self.boot_id, self.env = health_port, boot_id, env
        self.started = time.monotonic()
        self.stopping = False  # a preemption/deletion/repair thread owns the instance now
        self.failures = 0
        self.next_probe = 0.0
        self.helpers: list[subprocess.Popen] = []  # shutdown.sh runs
        self.startup: StartupHold | None = None  # guest_time real: the clock held for this boot's start-up

    @property
    def pgid(self) -> int:
        return self.proc.pid


class Hypervisor:
    def __init__(self, project: str, clock: EmulatedClock, config: FleetConfig):
        self.project, self.clock, self.cfg = project, clock, config
        self.runtimes: dict[str, Runtime] = {}  # instance id -> runtime
        self._lock = threading.RLock()
        (config.state_dir / "instances").mkdir(parents=True, exist_ok=True)
        (config.state_dir / "logs").mkdir(parents=True, exist_ok=True)

    def runtime(self, inst: Instance) -> Runtime | None:
        with self._lock:
            return self.runtimes.get(inst.id)

    def all(self) -> list[Runtime]:
        with self._lock:
            return list(self.runtimes.values())

    def pids(self) -> list[int]:
        with self._lock:
            return [p.pid for rt in self.runtimes.values() for p in [rt.proc, *rt.helpers]]

    def notice_real_s(self) -> float:
        return max(self.clock.to_real(self.cfg.notice_s), self.cfg.notice_floor_s)

    # ---- boot ----------------------------------------------------------------
    def boot_env(self, inst: Instance, md: MetadataServer, home: Path, health_port: int, boot_id: str) -> dict:
        """The environment of docs/boot-contract.md for one boot."""
        env = dict(os.environ)
        env.update(self.cfg.extra_env)
        env.update({
            "GCE_METADATA_HOST": md.host,
            "STORAGE_EMULATOR_HOST": self.cfg.storage_url,
            "SPOTSHIELD_COMPUTE_ENDPOINT": self.cfg.compute_url,
            "SPOTSHIELD_PYTHON": self.cfg.python,
            "SPOTSHIELD_HOME": str(home),
            "SPOTSHIELD_HEALTH_PORT": str(health_port),
            "SPOTSHIELD_HOST": inst.name,
            "SPOTSHIELD_BOOT": boot_id,
            MARKER_ENV: self.cfg.emulator_id,
            "PYTHONUNBUFFERED": "1",  # the serial log shows lines as they happen
        })
        return env

    def boot(self, inst: Instance) -> Runtime:
        """Power on: a fresh disk per (re)creation, a metadata server, startup.sh as a process group."""
        boot_id = f"b{inst.boots + 1}-{uuid.uuid4().hex[:6]}"
        home = self.cfg.state_dir / "instances" / f"{inst.name}-{inst.id[-6:]}"
        if home.exists() and inst.boots == 0:  # a disk left by an earlier emulator: never boot from it
            shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True, exist_ok=True)
        health_port = free_port()
        md = MetadataServer(name=inst.name, instance_id=inst.id, zone=inst.zone, project_id=self.project,
                            attributes=inst.metadata()).start()
        log = self.cfg.state_dir / "logs" / f"{inst.name}.log"
        inst.serial_path = str(log)
        env = self.boot_env(inst, md, home, health_port, boot_id)
        with open(log, "ab") as out:
            out.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} boot {boot_id} of {inst.name} "
                      f"(id {inst.id}) metadata {md.host} health :{health_port}\n".encode())
            out.flush()
            proc = subprocess.Popen(["bash", str(self.cfg.startup_script)], cwd=home, env=env, stdout=out,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        rt = Runtime(inst, md, proc, home, log, health_port, boot_id, env)
        with self._lock:
            self.runtimes[inst.id] = rt
        self._save_processes()
        return rt

    # ---- running -------------------------------------------------------------
    def healthy(self, rt: Runtime) -> bool:
        """One GET /healthz on the guest's health port."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{rt.health_port}/healthz", timeout=HEALTH_TIMEOUT_S) as r:
                return r.status == 200
        except OSError:
            return False


    # ---- stopping --------------------------------------------------------------
    def shutdown(self, rt: Runtime) -> tuple[int | None, bool]:
        """ACPI soft off within the notice window: shutdown.sh, then SIGTERM to what is left, then
        power off. Returns (the startup script's exit code, whether the window ran out)."""
        deadline = time.monotonic() + self.notice_real_s()
        grace = max(1, int(deadline - time.monotonic() - 1))
        hard = False
        if rt.proc.poll() is None:
            if self.cfg.shutdown_script and Path(self.cfg.shutdown_script).is_file():
                env = dict(rt.env, SPOTSHIELD_SHUTDOWN_GRACE_S=str(grace))
                with open(rt.log, "ab") as out:
                    helper = subprocess.Popen(["bash", str(self.cfg.shutdown_script)], cwd=rt.home, env=env,
                                              stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                              start_new_session=True)
                rt.helpers.append(helper)
                self._save_processes()
                try:
                    helper.wait(timeout=max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
            # then the OS shutdown: SIGTERM to whatever is left
            signal_group(rt.pgid, signal.SIGTERM)
            try:
                rt.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                hard = True
        code = rt.proc.poll()
        self.power_off(rt)
        return code, hard

    def power_off(self, rt: Runtime) -> None:
        """SIGKILL every process of the boot, stop its metadata server, forget it."""
        for p in [rt.proc, *rt.helpers]:
            signal_group(p.pid, signal.SIGKILL)
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        rt.metadata.stop()
        with self._lock:
            self.runtimes.pop(rt.inst.id, None)
        self._save_processes()

    # ---- crash safety ----------------------------------------------------------
    def _save_processes(self) -> None:
        # Shutdown threads of several instances save at once: the snapshot and the
        # temp-file rename must happen under one lock, or two writers share one temp file.
        with self._lock:
            groups = [{"instance": rt.inst.name, "pgid": p.pid, "start": proc_start_time(p.pid)}
                      for rt in self.runtimes.values() for p in [rt.proc, *rt.helpers] if p.poll() is None]
            path = self.cfg.state_dir / PROCESSES_FILE
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"emulator_id": self.cfg.emulator_id, "groups": groups}))
            os.replace(tmp, path)


def guest_health(port: int, timeout_s: float = HEALTH_TIMEOUT_S) -> dict | None:
    """What a guest's /healthz says (its JSON, a 503's too); None while nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=timeout_s) as r:
            body = r.read()
    except urllib.error.HTTPError as e:
        body = e.read()
    except (OSError, ValueError):
        return None
    try:
        out = json.loads(body)
    except ValueError:
        return None
    return out if isinstance(out, dict) else None


class StartupHold:
    """guest_time "real", for one boot: the clock runs at 1x from power-on until the guest's
    /healthz reports a phase past "starting" (the trainer's first step), the guest stops, or
    MAX_S real seconds pass (a command without spotshield's /healthz). Used by the fleet and by
    the grid's process driver, so both count a guest's start-up the same way."""

    POLL_S = 0.25  # how often /healthz is asked (real s)
    TIMEOUT_S = 0.5  # one GET (real s): a busy guest must not stall the caller's loop
    MAX_S = 120.0

    def __init__(self, clock: EmulatedClock, key, port: int):
        self.clock, self.key, self.port = clock, key, port
        self.started = time.monotonic()
        self.next_poll = 0.0
        self.active = True
        clock.hold(key)

    def poll(self, now: float | None = None) -> str | None:
        """Ask /healthz when due; the reason the hold ended, if it just did."""
        now = time.monotonic() if now is None else now
        if not self.active or now < self.next_poll:
            return None
        self.next_poll = now + self.POLL_S
        if now - self.started >= self.MAX_S:
            return "no first step reported" if self.end() else None
        h = guest_health(self.port, self.TIMEOUT_S)
        if h is not None and h.get("phase") not in (None, "starting"):
            return "first step" if self.end() else None
        return None

    def end(self) -> bool:
        """Release the clock; False when it was already released."""
        if not self.active:
            return False
        self.active = False
        self.clock.release(self.key)
        return True

    @property
    def real_s(self) -> float:
        return time.monotonic() - self.started


def kill_leftovers(state_dir: Path) -> list[int]:
    """Kill the instance process groups a crashed emulator left behind. Returns the pgids killed.

    A group is only killed when its leader still has the recorded start time, or any process
    carries the crashed emulator's marker in its environment, so recycled pids are never hit.
    """
    path = Path(state_dir) / PROCESSES_FILE
    try:
        rec = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    killed = []
    for g in rec.get("groups", []):
        if g.get("start") and proc_start_time(g["pgid"]) == g["start"]:
            signal_group(g["pgid"], signal.SIGKILL)
            killed.append(g["pgid"])
    killed += kill_marked(MARKER_ENV, str(rec.get("emulator_id")))
    path.unlink(missing_ok=True)
    return sorted(set(killed))
