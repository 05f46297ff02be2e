"""Processes and ports on this machine: the emulator's one home for pids, process groups and ports.

Every process the emulator starts (fake-gcs-server, the daemon, each VM's process group) is
found again by pid plus its start time (/proc/<pid>/stat field 22), so that a recycled pid is
never signalled.
"""
from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def proc_start_time(pid: int) -> str | None:
    """Field 22 of /proc/<pid>/stat: tells a recorded process from a later one with the same pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def alive(pid: int, start: str | None = None) -> bool:
    """The pid runs, is not a zombie, and (when given) still has the recorded start time."""
    if not pid:
        return False
    now = proc_start_time(pid)
    if now is None:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z" and (start is None or now == start)


def signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def stop_pid(pid: int, grace_s: float = 5.0) -> None:
    """SIGTERM a process, then SIGKILL after `grace_s`."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        try:
            reaped, _ = os.waitpid(pid, os.WNOHANG)
            if reaped:
                return
        except ChildProcessError:
            pass  # not our child: poll for existence instead
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def kill_marked(marker_env: str, marker: str) -> list[int]:
    """SIGKILL the process group of every process whose environment holds marker_env=marker."""
    needle = f"{marker_env}={marker}".encode()
    killed = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                pgid = os.getpgid(int(entry.name))
                signal_group(pgid, signal.SIGKILL)
                killed.append(pgid)
        except (OSError, ProcessLookupError):
            continue
    return killed


def stop_recorded(info_file: Path) -> bool:
    """Stop the process a JSON file records ({"pid", "pid_start"}, a side process beside the emulator)
    and remove the file; True when one was running."""
    import json

    try:
        info = json.loads(info_file.read_text())
    except (OSError, ValueError):
        return False
    info_file.unlink(missing_ok=True)
    if not alive(int(info.get("pid", 0)), info.get("pid_start")):
        return False
    stop_pid(int(info["pid"]))
    return True
