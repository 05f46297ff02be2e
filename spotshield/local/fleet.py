"""The fleet controller: what the regional MIG and the hypervisor do, with local processes.

An emulated VM is a process group (start_new_session) running `bash startup-scripts/startup.sh`
with a fresh scratch directory as its boot disk, its own metadata server, and the environment
of docs/boot-contract.md. Its stdout/stderr is its serial console (a log file).

The controller keeps every group at its target size, walks instances through
PROVISIONING -> STAGING -> RUNNING -> STOPPING -> TERMINATED, repairs (recreates) stopped
members after a delay, auto-heals members whose /healthz fails after the initial delay, and
deletes members when a group shrinks or is deleted. A process that exits by itself is a guest
shutdown: the instance becomes TERMINATED, and the group repairs it unless resized below it.
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
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from spotshield.local.clock import EmulatedClock
from spotshield.local.compute.models import ComputeBackend, Instance
from spotshield.local.gcs import free_port
from spotshield.local.metadata import MetadataServer

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_STARTUP = REPO_ROOT / "startup-scripts" / "startup.sh"
DEFAULT_SHUTDOWN = REPO_ROOT / "startup-scripts" / "shutdown.sh"
# Marks every process the emulator starts, so a restarted daemon can find the orphans of a crashed one.
MARKER_ENV = "SPOTSHIELD_EMULATOR_ID"

TICK_S = 0.1  # controller loop period (real seconds): fast enough for scaled boot delays
# GCE gives a Spot VM 30 s between the preemption notice and the hard stop.
NOTICE_S = 30.0
# Locally the trainer needs real seconds for its emergency checkpoint (torch save + upload),
# whatever the time scale, so the scaled notice never drops below this.
NOTICE_FLOOR_S = 10.0
HEALTH_TIMEOUT_S = 2.0  # one /healthz probe (real seconds)
HEALTH_INTERVAL_S = 10.0  # emulated seconds between probes (GCE health check default checkIntervalSec=5..10)
HEALTH_INTERVAL_FLOOR_S = 1.0  # never probe faster than once a real second
UNHEALTHY_THRESHOLD = 3  # consecutive failures before a repair (GCE default unhealthyThreshold is 2; one spare)
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
    boot_delay_s: float = 40.0  # emulated: PROVISIONING + STAGING (GPU VMs take ~30-60 s on GCE)
    repair_delay_s: float = 60.0  # emulated: a stopped member waits this long before it is recreated
    notice_s: float = NOTICE_S
    notice_floor_s: float = NOTICE_FLOOR_S
    health_initial_floor_s: float = HEALTH_INITIAL_FLOOR_S
    emulator_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    extra_env: dict = field(default_factory=dict)


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

    @property
    def pgid(self) -> int:
        return self.proc.pid


class FleetController:
    def __init__(self, backend: ComputeBackend, clock: EmulatedClock, config: FleetConfig):
        self.backend, self.clock, self.cfg = backend, clock, config
        self.runtimes: dict[str, Runtime] = {}  # instance id -> runtime
        self.events: list[dict] = []  # what the controller did, for tests and the study
        self.on_tick = []  # callables run each tick (cost meter)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.RLock()
        (config.state_dir / "instances").mkdir(parents=True, exist_ok=True)
        (config.state_dir / "logs").mkdir(parents=True, exist_ok=True)

    # ---- lifecycle -----------------------------------------------------------
    def start(self) -> "FleetController":
        self._thread = threading.Thread(target=self._loop, name="fleet-controller", daemon=True)
        self._thread.start()
        return self

    def stop(self, graceful: bool = True) -> None:
        """Stop the loop, then shut every instance down: as a VM deletion does, the guest gets
        shutdown.sh and SIGTERM (its emergency checkpoint) within the notice window, then SIGKILL."""
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)
        with self._lock:
            runtimes = list(self.runtimes.values())
        threads = []
        for rt in runtimes:
            if graceful and not rt.stopping and rt.proc.poll() is None:
                rt.stopping = True
                t = threading.Thread(target=self._shutdown, args=(rt.inst, rt, "emulator-stop"), daemon=True)
                t.start()
                threads.append(t)
        deadline = time.monotonic() + self.notice_real_s() + 5
        for t in threads:
            t.join(timeout=max(0.0, deadline - time.monotonic()))
        for rt in runtimes:
            self._kill(rt)
            rt.metadata.stop()
        with self._lock:
            self.runtimes.clear()
        self._save_processes()

    def _log(self, what: str, inst: Instance, **kw) -> None:
        rec = {"t": time.time(), "what": what, "instance": inst.name, "zone": inst.zone, **kw}
        with self._lock:
            self.events.append(rec)

    # ---- the loop ------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception as e:  # one bad tick must not stop the region; the log says why
                print(f"fleet controller: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
            self._stop.wait(TICK_S)

    def tick(self) -> None:
        b = self.backend
        with b.lock:
            # 1. groups: scale to target
            for mig in list(b.migs.values()):
                live = [i for i in b.members(mig.name) if i.current_action != "DELETING"]
                for _ in range(mig.target_size - len(live)):
                    inst = b.new_member(mig)
                    self._log("create", inst)
                extra = len(live) - mig.target_size
                if extra > 0:
                    # instances that are not running go first (they cost nothing to lose), then the oldest
                    order = sorted(live, key=lambda i: (i.status == "RUNNING", i.created))
                    for inst in order[:extra]:
                        inst.current_action = "DELETING"
                        self._log("delete", inst, reason="resize")
            instances = list(b.instances.values())
        now = time.monotonic()
        boot_half = self.clock.to_real(self.cfg.boot_delay_s) / 2
        for inst in instances:
            rt = self._runtime(inst)
            if rt is not None and rt.stopping:
                continue
            if inst.current_action == "DELETING":
                self._begin_stop(inst, rt, "delete")
                continue
            in_status = now - inst.status_since
            if inst.status == "PROVISIONING" and in_status >= boot_half:
                b.transition(inst, "STAGING")
            elif inst.status == "STAGING" and in_status >= boot_half:
                self._boot(inst)
            elif inst.status == "RUNNING" and rt is not None:
                code = rt.proc.poll()
                if code is not None:
                    self._guest_exit(inst, rt, code)
                else:
                    self._probe(inst, rt, now)
            elif inst.status == "TERMINATED" and inst.mig and inst.mig in b.migs:
                if in_status >= self.clock.to_real(max(self.cfg.repair_delay_s, inst.unavailable_s or 0)):
                    with b.lock:
                        if b.instances.get(inst.key) is inst and inst.current_action != "DELETING":
                            fresh = b.recreate(inst)
                            self._log("repair", fresh, after=inst.status_message or "stopped")
            elif inst.status == "TERMINATED" and inst.mig and inst.mig not in b.migs:
                b.remove_instance(inst)
        for fn in list(self.on_tick):
            fn()

    def _runtime(self, inst: Instance) -> Runtime | None:
        with self._lock:
            return self.runtimes.get(inst.id)

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

    def _boot(self, inst: Instance) -> None:
        boot_id = f"b{inst.boots + 1}-{uuid.uuid4().hex[:6]}"
        home = self.cfg.state_dir / "instances" / f"{inst.name}-{inst.id[-6:]}"  # fresh disk per (re)creation
        if home.exists() and inst.boots == 0:  # a disk left by an earlier emulator: never boot from it
            shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True, exist_ok=True)
        health_port = free_port()
        md = MetadataServer(name=inst.name, instance_id=inst.id, zone=inst.zone, project_id=self.backend.project,
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
        self.backend.transition(inst, "RUNNING")
        self._log("boot", inst, boot=boot_id, pid=proc.pid, health_port=health_port)
        self._save_processes()

    # ---- running -------------------------------------------------------------
    def _guest_exit(self, inst: Instance, rt: Runtime, code: int) -> None:
        """The startup script ended: the guest shut itself down."""
        inst.exit_code = code
        self._kill(rt)
        self.backend.transition(inst, "STOPPING")
        self.backend.transition(inst, "TERMINATED", f"guest exited with code {code}")
        self._forget(rt)
        self._log("exit", inst, code=code)

    def _probe(self, inst: Instance, rt: Runtime, now: float) -> None:
        mig = self.backend.migs.get(inst.mig) if inst.mig else None
        if mig is None or not mig.auto_healing or now < rt.next_probe:
            return
        rt.next_probe = now + max(self.clock.to_real(HEALTH_INTERVAL_S), HEALTH_INTERVAL_FLOOR_S)
        initial = max(self.clock.to_real(mig.initial_delay_s), self.cfg.health_initial_floor_s)
        if now - rt.started < initial:
            return
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{rt.health_port}/healthz", timeout=HEALTH_TIMEOUT_S) as r:
                ok = r.status == 200
        except OSError:
            ok = False
        if ok:
            rt.failures, inst.health = 0, "HEALTHY"
            return
        rt.failures += 1
        if rt.failures >= UNHEALTHY_THRESHOLD:
            inst.health = "UNHEALTHY"
            self._log("unhealthy", inst, failures=rt.failures)
            self._begin_stop(inst, rt, "autoheal")

    # ---- stopping --------------------------------------------------------------
    def notice_real_s(self) -> float:
        return max(self.clock.to_real(self.cfg.notice_s), self.cfg.notice_floor_s)

    def preempt(self, inst: Instance) -> bool:
        """What GCE does to a Spot VM: preempted=TRUE, ACPI soft off (shutdown script, SIGTERM),
        SIGKILL after the notice window, TERMINATED, a compute.instances.preempted operation."""
        rt = self._runtime(inst)
        with self.backend.lock:
            if inst.status != "RUNNING" or rt is None or rt.stopping:
                return False
            rt.stopping = True
            self.backend.record_preemption(inst)
            self.backend.transition(inst, "STOPPING", "Instance was preempted.")
        rt.metadata.set_preempted(True)
        self._log("preempt", inst, boot=rt.boot_id)
        threading.Thread(target=self._shutdown, args=(inst, rt, "preempted"), daemon=True,
                         name=f"preempt-{inst.name}").start()
        return True

    def _begin_stop(self, inst: Instance, rt: Runtime | None, why: str) -> None:
        with self.backend.lock:
            if rt is None or rt.stopping:
                if rt is None and inst.current_action == "DELETING":
                    if inst.status in ("PROVISIONING", "STAGING", "RUNNING"):
                        self.backend.transition(inst, "STOPPING")
                    if inst.status == "STOPPING":
                        self.backend.transition(inst, "TERMINATED")
                    self.backend.remove_instance(inst)
                    self._log("deleted", inst)
                return
            rt.stopping = True
            if inst.status == "RUNNING":
                self.backend.transition(inst, "STOPPING")
        threading.Thread(target=self._shutdown, args=(inst, rt, why), daemon=True, name=f"{why}-{inst.name}").start()

    def _shutdown(self, inst: Instance, rt: Runtime, why: str) -> None:
        deadline = time.monotonic() + self.notice_real_s()
        grace = max(1, int(deadline - time.monotonic() - 1))
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
            _signal_group(rt.pgid, signal.SIGTERM)
            try:
                rt.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._log("hard-stop", inst, after_s=self.notice_real_s())
        code = rt.proc.poll()
        self._kill(rt)
        inst.exit_code = code
        self._forget(rt)
        with self.backend.lock:
            if inst.status != "TERMINATED":
                if inst.status != "STOPPING":
                    self.backend.transition(inst, "STOPPING")
                self.backend.transition(inst, "TERMINATED", "Instance was preempted." if why == "preempted" else None)
            self._log("stopped", inst, why=why, code=code)
            if why == "autoheal" and self.backend.instances.get(inst.key) is inst and inst.current_action != "DELETING":
                fresh = self.backend.recreate(inst)
                self._log("repair", fresh, after="unhealthy")
            elif inst.current_action == "DELETING" or (inst.mig and inst.mig not in self.backend.migs):
                self.backend.remove_instance(inst)
                self._log("deleted", inst)

    def _kill(self, rt: Runtime) -> None:
        for p in [rt.proc, *rt.helpers]:
            _signal_group(p.pid, signal.SIGKILL)
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass

    def _forget(self, rt: Runtime) -> None:
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
            path = self.cfg.state_dir / "processes.json"
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"emulator_id": self.cfg.emulator_id, "groups": groups}))
            os.replace(tmp, path)

    def pids(self) -> list[int]:
        with self._lock:
            return [p.pid for rt in self.runtimes.values() for p in [rt.proc, *rt.helpers]]


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def proc_start_time(pid: int) -> str | None:
    """Field 22 of /proc/<pid>/stat: tells a recorded process from a later one with the same pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def kill_leftovers(state_dir: Path) -> list[int]:
    """Kill the instance process groups a crashed emulator left behind. Returns the pgids killed.

    A group is only killed when its leader still has the recorded start time, or any process
    carries the crashed emulator's marker in its environment, so recycled pids are never hit.
    """
    path = Path(state_dir) / "processes.json"
    try:
        rec = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    killed = []
    for g in rec.get("groups", []):
        if g.get("start") and proc_start_time(g["pgid"]) == g["start"]:
            _signal_group(g["pgid"], signal.SIGKILL)
            killed.append(g["pgid"])
    marker = f"{MARKER_ENV}={rec.get('emulator_id')}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                pgid = os.getpgid(int(entry.name))
                _signal_group(pgid, signal.SIGKILL)
                killed.append(pgid)
        except (OSError, ProcessLookupError):
            continue
    path.unlink(missing_ok=True)
    return sorted(set(killed))
