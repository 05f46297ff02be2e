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

import pytest

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


def catches_sigterm(pid: int) -> bool:
    """The process has a SIGTERM handler (bit 15 of SigCgt in /proc/<pid>/status)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("SigCgt:"):
                return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
    return False


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


def resumed_from_the_notice(store: Path) -> list[dict]:
    """The run's events, all well formed, with one notice whose emergency checkpoint is where the
    next boot resumed, losing no step. Returns them."""
    from spotshield.events import validate_event

    evs = events(store)
    assert all(validate_event(e) == [] for e in evs)
    note = next(e for e in evs if e["event"] == "preempt_notice")
    assert next(e for e in evs if e["event"] == "emergency_checkpoint")["ok"]
    resume = next(e for e in evs if e["event"] == "resume")
    assert resume["from_step"] == note["step"] and resume["steps_lost"] == 0
    assert resume["checkpoint_reason"] == "emergency"
    return evs


def survive_notices(script: str, args: list[str], tmp: Path, delays: list[float], scratch: bool = False) -> list[dict]:
    """The example run once uninterrupted (`python train.py`, the default ./spotshield-run), then on
    "the fleet" (SPOTSHIELD_STORE) SIGTERM'd after each of `delays` and restarted until done.
    Asserts each resume starts from its notice's emergency checkpoint with no step lost and the
    final weights equal the uninterrupted run's; returns the fleet run's events."""
    from spotshield.events import EXIT_PREEMPTED

    def cmd(name: str) -> list[str]:
        return [PY, script, *args, *(["--output-dir", str(tmp / name)] if scratch else [])]

    base, work, store = tmp / "base", tmp / "work", tmp / "fleet"
    base.mkdir()
    work.mkdir()
    done = run_to_end(cmd("scratch-base"), cwd=base, env=script_env())
    assert done.returncode == 0, done.stderr[-3000:]
    env = script_env(SPOTSHIELD_STORE=f"file://{store}")
    for delay in delays:
        code, err = interrupt(cmd("scratch"), store, "term", delay, cwd=work, env=env)
        assert not (store / "DONE").exists(), f"the run finished before its notice (exit {code}): make it longer"
        assert code == EXIT_PREEMPTED, f"exit {code}: {err[-3000:]}"
    final = run_to_end(cmd("scratch"), cwd=work, env=env)
    assert final.returncode == 0, final.stderr[-3000:]
    evs = events(store)
    notices = [e for e in evs if e["event"] == "preempt_notice"]
    resumes = [e for e in evs if e["event"] == "resume"]
    assert len(notices) == len(resumes) == len(delays)
    for n, r in zip(notices, resumes):  # each resume starts from that notice's emergency checkpoint
        assert r["from_step"] == n["step"] and r["steps_lost"] == 0 and r["checkpoint_reason"] == "emergency"
    assert_same_weights(load_weights(base / "spotshield-run" / "final" / "model.pt"),
                        load_weights(store / "final" / "model.pt"))
    return evs


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    import torch

    torch.set_num_threads(1)  # 2 shared cores; and resumed runs must match thread counts


@pytest.fixture(autouse=True)
def _no_fleet_environment(monkeypatch):
    """Tests run as on a laptop unless they set the boot script's variables themselves."""
    for key in list(os.environ):
        if key.startswith("SPOTSHIELD_") or key in ("GCE_METADATA_HOST", "RANK", "WORLD_SIZE"):
            monkeypatch.delenv(key)
