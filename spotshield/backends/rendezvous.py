"""The rendezvous coordinator of a job under torchrun, on the local backend: a process beside the
emulator, as the deadline controller is (on GCP: the coordinator VM, docs/distributed.md).

  start_local(state_dir)  start `python -m spotshield.distributed.coordinator` on a free loopback
                          port, wait until it listens; returns {"endpoint": "127.0.0.1:PORT", pid, ...}
  stop_local(state_dir)   stop it (by its recorded pid); True when one was running
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from spotshield.errors import SpotShieldError

COORDINATOR_FILE = "coordinator.json"  # in the emulator's state folder: pid, endpoint, log
_READY_TIMEOUT_S = 60.0  # real seconds: torch's import on a loaded 2-core machine


def start_local(state_dir: Path) -> dict:
    """Start the coordinator in its own session (it outlives `up`'s terminal, as the emulator does)."""
    from spotshield.local.procs import proc_start_time, stop_pid

    state_dir.mkdir(parents=True, exist_ok=True)
    ready, log_path = state_dir / "coordinator.ready", state_dir / "coordinator.log"
    ready.unlink(missing_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "spotshield.distributed.coordinator", "--host", "127.0.0.1",
                                 "--port", "0", "--ready-file", str(ready)], stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + _READY_TIMEOUT_S
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_pid(proc.pid)
            tail = log_path.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise SpotShieldError(f"the rendezvous coordinator did not start: {tail[0]}")
        time.sleep(0.05)
    endpoint = ready.read_text().split()[-1]  # "ready 127.0.0.1:PORT"
    info = {"endpoint": endpoint, "pid": proc.pid, "pid_start": proc_start_time(proc.pid), "log": str(log_path)}
    (state_dir / COORDINATOR_FILE).write_text(json.dumps(info, indent=2))
    return info


def stop_local(state_dir: Path) -> bool:
    from spotshield.local.procs import alive, stop_pid

    try:
        info = json.loads((state_dir / COORDINATOR_FILE).read_text())
    except (OSError, ValueError):
        return False
    (state_dir / COORDINATOR_FILE).unlink(missing_ok=True)
    if not alive(int(info.get("pid", 0)), info.get("pid_start")):
        return False
    stop_pid(int(info["pid"]))
    return True
