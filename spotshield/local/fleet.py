"""The fleet controller: the loop that plays what the regional MIG and GCE do, tick by tick.

Each tick (TICK_S real seconds) it asks the compute model for the groups' own work
(ComputeBackend.reconcile: scale to target; repair: recreate a stopped member after a delay),
walks instances through PROVISIONING -> STAGING -> RUNNING -> STOPPING -> TERMINATED on the
emulated clock, probes /healthz after the initial delay and auto-heals members that fail it,
and has the hypervisor (hypervisor.py) boot and shut down the VMs' processes. A process that
exits by itself is a guest shutdown: the instance becomes TERMINATED, and the group repairs it
unless resized below it.
"""
from __future__ import annotations

import sys
import threading
import time

from spotshield.local.clock import EmulatedClock
from spotshield.local.compute.models import ComputeBackend, Instance
from spotshield.local.hypervisor import FleetConfig, Hypervisor, Runtime, StartupHold

TICK_S = 0.1  # controller loop period (real seconds): fast enough for scaled boot delays
HEALTH_INTERVAL_S = 10.0  # emulated seconds between probes (GCE health check default checkIntervalSec=5..10)
HEALTH_INTERVAL_FLOOR_S = 1.0  # never probe faster than once a real second
UNHEALTHY_THRESHOLD = 3  # consecutive failures before a repair (GCE default unhealthyThreshold is 2; one spare)


class FleetController:
    def __init__(self, backend: ComputeBackend, clock: EmulatedClock, config: FleetConfig):
        self.backend, self.clock, self.cfg = backend, clock, config
        self.vms = Hypervisor(backend.project, clock, config)
        self.events: list[dict] = []  # what the controller did, for tests and the study
        self.on_tick = []  # callables run each tick (cost meter)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._since: dict[str, tuple[float, float]] = {}  # instance id -> (status_since, emulated time of it)

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
        runtimes = self.vms.all()
        for rt in runtimes:
            self._end_startup(rt, "emulator-stop")
        threads = []
        for rt in runtimes:
            if graceful and not rt.stopping and rt.proc.poll() is None:
                rt.stopping = True
                t = threading.Thread(target=self._shutdown, args=(rt.inst, rt, "emulator-stop"), daemon=True)
                t.start()
                threads.append(t)
        deadline = time.monotonic() + self.vms.notice_real_s() + 5
        for t in threads:
            t.join(timeout=max(0.0, deadline - time.monotonic()))
        for rt in self.vms.all():
            self.vms.power_off(rt)

    def _log(self, what: str, inst: Instance, **kw) -> None:
        rec = {"t": time.time(), "what": what, "instance": inst.name, "zone": inst.zone, **kw}
        with self._lock:
            self.events.append(rec)

    def _runtime(self, inst: Instance) -> Runtime | None:
        return self.vms.runtime(inst)

    def pids(self) -> list[int]:
        return self.vms.pids()

    def notice_real_s(self) -> float:
        return self.vms.notice_real_s()

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
        for what, inst in b.reconcile():
            if what == "create":
                self._log("create", inst)
            elif what == "delete":
                self._log("delete", inst, reason="resize")
        with b.lock:
            instances = list(b.instances.values())
        now, now_emulated = time.monotonic(), self.clock.now()
        boot_half = self.cfg.boot_delay_s / 2  # emulated seconds
        for inst in instances:
            rt = self.vms.runtime(inst)
            if rt is not None and rt.stopping:
                continue
            if inst.current_action == "DELETING":
                self._begin_stop(inst, rt, "delete")
                continue
            in_status = self._emulated_in_status(inst, now, now_emulated)
            if inst.status == "PROVISIONING" and in_status >= boot_half:
                b.transition(inst, "STAGING")
            elif inst.status == "STAGING" and in_status >= boot_half:
                self._boot(inst)
            elif inst.status == "RUNNING" and rt is not None:
                code = rt.proc.poll()
                if code is not None:
                    self._guest_exit(inst, rt, code)
                else:
                    self._startup(inst, rt, now)
                    self._probe(inst, rt, now)
            elif inst.status == "TERMINATED" and inst.mig:
                if in_status >= max(self.cfg.repair_delay_s, inst.unavailable_s or 0):
                    fresh = b.repair(inst)
                    if fresh is not None:
                        self._log("repair", fresh, after=inst.status_message or "stopped")
        for fn in list(self.on_tick):
            fn()

    def _emulated_in_status(self, inst: Instance, now: float, now_emulated: float) -> float:
        """Emulated seconds the instance has been in its status. Delays are emulated seconds and the
        clock's rate can change meanwhile (a held start-up), so the real time of a transition is
        converted once, when this loop first sees it (at most a tick late)."""
        rec = self._since.get(inst.id)
        if rec is None or rec[0] != inst.status_since:
            rec = (inst.status_since, now_emulated - max(0.0, now - inst.status_since) * self.clock.rate)
            self._since[inst.id] = rec
        return now_emulated - rec[1]

    # ---- boot and run -----------------------------------------------------------
    def _boot(self, inst: Instance) -> None:
        rt = self.vms.boot(inst)
        self.backend.transition(inst, "RUNNING")
        if self.cfg.guest_time == "real":
            rt.startup = StartupHold(self.clock, ("startup", rt.boot_id), rt.health_port)
        self._log("boot", inst, boot=rt.boot_id, pid=rt.proc.pid, health_port=rt.health_port)

    def _startup(self, inst: Instance, rt: Runtime, now: float) -> None:
        """guest_time "real": the clock stays at 1x until the guest's /healthz reports a phase
        past "starting" (hypervisor.StartupHold)."""
        why = rt.startup.poll(now) if rt.startup is not None else None
        if why:
            self._log("startup", inst, boot=rt.boot_id, real_s=round(rt.startup.real_s, 3), why=why)

    def _end_startup(self, rt: Runtime, why: str) -> None:
        if rt.startup is not None and rt.startup.end():
            self._log("startup", rt.inst, boot=rt.boot_id, real_s=round(rt.startup.real_s, 3), why=why)

    def _guest_exit(self, inst: Instance, rt: Runtime, code: int) -> None:
        """The startup script ended: the guest shut itself down."""
        self._end_startup(rt, "guest exited")
        inst.exit_code = code
        self.vms.power_off(rt)
        self.backend.transition(inst, "STOPPING")
        self.backend.transition(inst, "TERMINATED", f"guest exited with code {code}")
        self._log("exit", inst, code=code)

    def _probe(self, inst: Instance, rt: Runtime, now: float) -> None:
        mig = self.backend.migs.get(inst.mig) if inst.mig else None
        if mig is None or not mig.auto_healing or now < rt.next_probe:
            return
        rt.next_probe = now + max(self.clock.to_real(HEALTH_INTERVAL_S), HEALTH_INTERVAL_FLOOR_S)
        initial = max(self.clock.to_real(mig.initial_delay_s), self.cfg.health_initial_floor_s)
        if now - rt.started < initial:
            return
        if self.vms.healthy(rt):
            rt.failures, inst.health = 0, "HEALTHY"
            return
        rt.failures += 1
        if rt.failures >= UNHEALTHY_THRESHOLD:
            inst.health = "UNHEALTHY"
            self._log("unhealthy", inst, failures=rt.failures)
            self._begin_stop(inst, rt, "autoheal")

    # ---- stopping --------------------------------------------------------------
    def preempt(self, inst: Instance) -> bool:
        """What GCE does to a Spot VM: preempted=TRUE, ACPI soft off (shutdown script, SIGTERM),
        SIGKILL after the notice window, TERMINATED, a compute.instances.preempted operation."""
        rt = self.vms.runtime(inst)
        with self.backend.lock:
            if inst.status != "RUNNING" or rt is None or rt.stopping or not inst.spot:  # GCE preempts Spot VMs only
                return False
            rt.stopping = True
            self._end_startup(rt, "preempted")
            self._hold_stop(rt)
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
            self._end_startup(rt, why)
            self._hold_stop(rt)
            if inst.status == "RUNNING":
                self.backend.transition(inst, "STOPPING")
        threading.Thread(target=self._shutdown, args=(inst, rt, why), daemon=True, name=f"{why}-{inst.name}").start()

    def _hold_stop(self, rt: Runtime) -> None:
        """guest_time "real": from the notice until the guest has exited (shutdown.sh, the emergency
        checkpoint, its exit: the guest's own work), the clock runs at 1x; the notice window is then
        GCE's 30 s in real seconds too."""
        if self.cfg.guest_time == "real":
            self.clock.hold(("stop", rt.boot_id))

    def _shutdown(self, inst: Instance, rt: Runtime, why: str) -> None:
        try:
            code, hard = self.vms.shutdown(rt)
        finally:
            self.clock.release(("stop", rt.boot_id))
        if hard:
            self._log("hard-stop", inst, after_s=self.vms.notice_real_s())
        inst.exit_code = code
        b = self.backend
        with b.lock:
            if inst.status != "TERMINATED":
                if inst.status != "STOPPING":
                    b.transition(inst, "STOPPING")
                b.transition(inst, "TERMINATED", "Instance was preempted." if why == "preempted" else None)
            self._log("stopped", inst, why=why, code=code)
            if why == "autoheal" and b.instances.get(inst.key) is inst and inst.current_action != "DELETING":
                fresh = b.recreate(inst)
                self._log("repair", fresh, after="unhealthy")
            elif inst.current_action == "DELETING" or (inst.mig and inst.mig not in b.migs):
                b.remove_instance(inst)
                self._log("deleted", inst)
