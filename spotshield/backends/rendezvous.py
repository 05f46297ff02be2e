"""The rendezvous coordinator of a job under torchrun, on the local backend: a process beside the
emulator, as the deadline controller is (on GCP: the coordinator VM, docs/distributed.md).

  start_local(state_dir, store, storage)  start `python -m spotshield.distributed.coordinator` on a
                          free loopback port, wait until it listens; returns {"endpoint": "127.0.0.1:PORT",
                          pid, ...}. It exits by itself once the run's store holds DONE (as the VM
                          powers off on GCP), so that nothing of a finished run keeps running.
  stop_local(state_dir)   stop it (by its recorded pid); True when one was running (False when it
                          had exited already: `down` after DONE)
"""
from __future__ import annotations

import json
import os
from pathlib import Path

COORDINATOR_FILE = "coordinator.json"  # in the emulator's state folder: pid, endpoint, log
# Real seconds: an emulated run ends in minutes, so look for DONE more often than the VM does.
LOCAL_POLL_S = 2.0
LOCAL_GRACE_S = 10.0


def start_local(state_dir: Path, store: str | None = None, storage: str | None = None) -> dict:
    """Start the coordinator in its own session (it outlives `up`'s terminal, as the emulator does).
    store: the run's store URL (gs:// on the emulator's fake-gcs-server at `storage`, or file://)."""
    from spotshield.distributed.coordinator import spawn
    from spotshield.local.procs import proc_start_time

    state_dir.mkdir(parents=True, exist_ok=True)
    log_path = state_dir / "coordinator.log"
    args = ("--store", store, "--poll-s", str(LOCAL_POLL_S), "--grace-s", str(LOCAL_GRACE_S)) if store else ()
    env = {**os.environ, "STORAGE_EMULATOR_HOST": storage} if storage else None
    proc, endpoint = spawn(state_dir / "coordinator.ready", log_path, env=env, args=args)
    info = {"endpoint": endpoint, "pid": proc.pid, "pid_start": proc_start_time(proc.pid), "log": str(log_path),
            "store": store}
    (state_dir / COORDINATOR_FILE).write_text(json.dumps(info, indent=2))
    return info


def stop_local(state_dir: Path) -> bool:
    from spotshield.local.procs import stop_recorded

    return stop_recorded(state_dir / COORDINATOR_FILE)
