"""The rendezvous coordinator of a job under torchrun, on the local backend: a process beside the
emulator, as the deadline controller is (on GCP: the coordinator VM, docs/distributed.md).

  start_local(state_dir)  start `python -m spotshield.distributed.coordinator` on a free loopback
                          port, wait until it listens; returns {"endpoint": "127.0.0.1:PORT", pid, ...}
  stop_local(state_dir)   stop it (by its recorded pid); True when one was running
"""
from __future__ import annotations

import json
from pathlib import Path

COORDINATOR_FILE = "coordinator.json"  # in the emulator's state folder: pid, endpoint, log


def start_local(state_dir: Path) -> dict:
    """Start the coordinator in its own session (it outlives `up`'s terminal, as the emulator does)."""
    from spotshield.distributed.coordinator import spawn
    from spotshield.local.procs import proc_start_time

    state_dir.mkdir(parents=True, exist_ok=True)
    log_path = state_dir / "coordinator.log"
    proc, endpoint = spawn(state_dir / "coordinator.ready", log_path)
    info = {"endpoint": endpoint, "pid": proc.pid, "pid_start": proc_start_time(proc.pid), "log": str(log_path)}
    (state_dir / COORDINATOR_FILE).write_text(json.dumps(info, indent=2))
    return info


def stop_local(state_dir: Path) -> bool:
    from spotshield.local.procs import stop_recorded

    return stop_recorded(state_dir / COORDINATOR_FILE)
