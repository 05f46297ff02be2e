"""Helpers for tests that run training scripts (tests/library, tests/integrations): subprocesses
with a clean environment, signals at chosen moments, final weights compared. It sits at the root of
tests/ (which the root conftest puts on sys.path), since tests/ has no packages."""
from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"


def script_env(**extra) -> dict:
    """The environment of a laptop run: no SPOTSHIELD_* or metadata server leaking in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPOTSHIELD_") and k != "GCE_METADATA_HOST"}
    env.update({"OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "PYTHONWARNINGS": "ignore"})
    env.update(extra)
    return env


def step_logged(store: Path, old_logs: set) -> bool:
    """A new boot (a new event file) has finished a training step."""
    return any('"event": "step"' in p.read_text() for p in store.glob("events/*/*.jsonl") if p not in old_logs)


def wait_for(predicate, proc, timeout: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if predicate():
            return True
        time.sleep(0.005)
    return False


def interrupt(cmd: list[str], store: Path, how: str, after_s: float, *, cwd, env, group: bool = False,
              ready=None) -> tuple[int, str]:
    """Start `cmd`, wait until it trains (or `ready()`), wait `after_s`, then SIGTERM ('term') or
    SIGKILL ('kill') it (its whole process group with group=True). (exit code, stderr)."""
    old_logs = set(store.glob("events/*/*.jsonl"))
    p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    try:
        ok = wait_for(ready or (lambda: step_logged(store, old_logs)), p)
        assert ok, f"the run never started training: {p.communicate(timeout=60)[1][-3000:]}"
        time.sleep(after_s)
        assert p.poll() is None, "the run ended before it could be interrupted"
        sig = signal.SIGKILL if how == "kill" else signal.SIGTERM
        if group:
            os.killpg(p.pid, sig)  # like systemd: every process of the unit at once
        else:
            p.send_signal(sig)
        _, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    return p.returncode, err


def run_to_end(cmd: list[str], *, cwd, env, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def load_weights(path: Path) -> dict:
    import torch

    return torch.load(io.BytesIO(path.read_bytes()), weights_only=True)


def assert_same_weights(a: dict, b: dict) -> None:
    import torch

    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"tensor {k} differs"


def events(store: Path) -> list[dict]:
    from spotshield.events import read_events
    from spotshield.storage import open_store

    s = open_store(f"file://{store}")
    runs = [p.name for p in (store / "events").iterdir()]
    assert len(runs) == 1, runs
    return read_events(s, runs[0])


PY = sys.executable
