"""How one grid run is executed. Each driver blocks until the run is DONE, then leaves its
events under <run_dir>/events/<run-id>/ and a DONE marker in <run_dir>.

  local    the local Backend (spotshield/backends: the emulated region with its MIG,
           metadata server, injector, fake-gcs); the default, and what `make up` uses
  gcp      the gcp Backend on a real project (documented config; needs credentials and quota)
  process  `spotshield train` processes on this machine with the injector's seeded
           schedule delivered as SIGTERM (what GCE's ACPI shutdown becomes), each preempted
           process replaced after `restart_s` emulated seconds: no emulator needed

Time (grid key guest_time, spotshield/analysis/emulated.py): under "real" (the default) a
guest's own start-up and shutdown run the run's emulated clock at 1x, in the emulator (fleet
guest_time) and in the process driver alike (spotshield/local/hypervisor.StartupHold: until the
trainer's /healthz reports a first step; from the notice until the guest exits), so
preemptions meet start-ups as often as on a real VM.
A baseline runs on a STANDARD (on-demand) VM on both stack backends.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from spotshield.analysis.grid import Grid, RunSpec
from spotshield.errors import SpotShieldError

DONE = "DONE"
POLL_S = 1.0  # how often a driver checks for DONE: runs last minutes
# GCE gives 30 s between the preemption notice and the hard stop; a process still alive then is killed.
NOTICE_S = 30.0
_LOG_TAIL = 400  # characters of a failed trainer's log quoted in the one-line error


def write_trainer_yaml(grid: Grid, spec: RunSpec, run_dir: Path) -> Path:
    import yaml

    p = run_dir / "trainer.yaml"
    p.write_text(yaml.safe_dump({**grid.trainer, "seed": spec.seed}, sort_keys=True))
    return p


def _copy_events(store, run_id: str, run_dir: Path) -> int:
    n = 0
    for key in store.list(f"events/{run_id}"):
        dest = run_dir / key
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(store.read(key))
        n += 1
    return n


class ProcessDriver:
    name = "process"

    def run(self, grid: Grid, spec: RunSpec, run_dir: Path, log=lambda msg: None) -> None:
        from spotshield.local.clock import EmulatedClock
        from spotshield.local.hypervisor import StartupHold
        from spotshield.local.injector import schedule
        from spotshield.local.procs import free_port

        run_dir.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "spotshield.cli.main", "train", "--store", f"file://{run_dir.resolve()}",
               "--run-id", spec.run_id, "--strategy", spec.strategy, "--seed", str(spec.seed),
               "--set", "metadata_watch=false"]
        tc = grid.trainer_config_path()
        if tc:
            cmd += ["--config", str(tc)]
        cmd += ["--config", str(write_trainer_yaml(grid, spec, run_dir))]
        events = iter(()) if spec.baseline else schedule(spec.pattern, grid.rate, spec.seed, grid.trace)
        next_ev = next(events, None)
        clock = EmulatedClock(grid.time_scale, start=0.0)  # the schedule's clock: emulated s from the run's start
        deadline = time.monotonic() + grid.run_timeout_s
        boot = 0
        with open(run_dir / "trainer.log", "ab") as logf:
            while True:
                env = {**os.environ, "SPOTSHIELD_HOST": f"{spec.run_id}-vm", "SPOTSHIELD_BOOT": f"boot{boot}"}
                env.pop("GCE_METADATA_HOST", None)
                port = free_port() if grid.guest_time == "real" else 0  # /healthz says when training began
                proc = subprocess.Popen([*cmd, "--set", f"health_port={port}"], stdout=logf,
                                        stderr=subprocess.STDOUT, env=env)
                hold = StartupHold(clock, ("startup", boot), port) if port else None
                preempted = False
                try:
                    while proc.poll() is None:
                        if hold is not None:
                            hold.poll()
                        if time.monotonic() > deadline:
                            proc.kill()
                            proc.wait()
                            raise SpotShieldError(f"run {spec.run_id} did not finish within {grid.run_timeout_s:.0f} s; "
                                                  f"see {run_dir / 'trainer.log'}")
                        if next_ev is not None and clock.now() >= next_ev.t:
                            if hold is not None:
                                hold.end()  # the notice ends the start-up: stopping is on the scaled clock
                            log(f"{spec.run_id}: preempting boot {boot} at {next_ev.t:.0f} emulated s")
                            if hold is not None:  # the guest's shutdown is its own work too: 1x
                                clock.hold(("stop", boot))
                            proc.send_signal(signal.SIGTERM)
                            try:
                                proc.wait(timeout=NOTICE_S)
                            except subprocess.TimeoutExpired:
                                proc.kill()
                                proc.wait()
                            clock.release(("stop", boot))
                            preempted = True
                            next_ev = next(events, None)
                            break
                        time.sleep(0.05)
                finally:
                    if hold is not None:
                        hold.end()
                code = proc.returncode
                if code == 0 and (run_dir / DONE).exists():
                    return
                if not preempted:
                    tail = (run_dir / "trainer.log").read_text(errors="replace")[-_LOG_TAIL:]
                    raise SpotShieldError(f"run {spec.run_id} boot {boot} exited {code}: {' '.join(tail.split())}")
                # the VM is gone for restart_s; preemptions due meanwhile find nothing to preempt
                down_until = clock.now() + grid.restart_s
                while next_ev is not None and next_ev.t < down_until:
                    next_ev = next(events, None)
                time.sleep(max(0.0, clock.to_real(down_until - clock.now())))
                boot += 1


class _StackDriver:
    """Shared by local and gcp: a Backend brings the stack up for one run; wait for DONE, copy
    the events, take it down. The backend runs every step; the driver only waits and copies."""

    name = ""
    delete_checkpoints = False  # after the events are copied out

    def backend(self, grid: Grid, spec: RunSpec, run_dir: Path):
        from spotshield import backends

        return backends.make(self.name)

    def settings(self, grid: Grid, spec: RunSpec):
        from spotshield.settings import StackSettings

        injected = not spec.baseline and grid.backend != "gcp"  # on GCP the preemptions are Google's own
        s = StackSettings(
            backend=self.name, project=grid.project, strategy=spec.strategy, run_id=spec.run_id,
            pattern=spec.pattern if injected else "none", rate=grid.rate if injected else 0.0,
            provisioning_model=spec.provisioning_model,
            time_scale=grid.time_scale, trace=grid.trace, machine_type=grid.machine_type, gpu_type=grid.gpu_type,
            trainer_config=str(grid.trainer_config_path()) if grid.trainer_config else None,
            trainer_overrides={**grid.trainer, "seed": spec.seed},
        )
        return s.check()

    def run(self, grid: Grid, spec: RunSpec, run_dir: Path, log=lambda msg: None) -> None:
        from spotshield.storage import open_store

        s = self.settings(grid, spec)
        run_dir.mkdir(parents=True, exist_ok=True)
        stack = self.backend(grid, spec, run_dir)
        rec = stack.up(s)
        try:
            with stack.sources(rec).applied() as src:
                store = open_store(src.store)
                deadline = time.monotonic() + grid.run_timeout_s
                while not store.exists(DONE):
                    if time.monotonic() > deadline:
                        raise SpotShieldError(f"run {spec.run_id} did not finish within {grid.run_timeout_s:.0f} s")
                    time.sleep(POLL_S)
                _copy_events(store, spec.run_id, run_dir)
                (run_dir / DONE).write_bytes(store.read(DONE))
        finally:
            stack.down(rec, delete_checkpoints=self.delete_checkpoints)


class LocalDriver(_StackDriver):
    name = "local"
    delete_checkpoints = True  # the run's checkpoints go, so a re-run starts fresh

    @staticmethod
    def state_dir(run_dir: Path) -> Path:
        # A private emulator per grid (not .spotshield/local), so a grid never meets the
        # stack someone started with `make up` in the same tree.
        return run_dir.parent.parent / ".emulator"

    def backend(self, grid: Grid, spec: RunSpec, run_dir: Path):
        from spotshield import backends

        return backends.make("local", state_dir=self.state_dir(run_dir), seed=spec.seed,
                             fleet={"guest_time": grid.guest_time})


class GcpDriver(_StackDriver):
    name = "gcp"


DRIVERS = {"local": LocalDriver, "gcp": GcpDriver, "process": ProcessDriver}
