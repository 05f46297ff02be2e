"""shutdown.sh: SIGTERMs the trainer named by the pid file and waits for it, bounded."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from boot_helpers import SHUTDOWN, run_script

# Like the trainer: on SIGTERM, write the emergency checkpoint (CKPT_S seconds), then exit 75.
TRAINER = r"""
import os, signal, sys, time
def on_term(*_):
    time.sleep(float(os.environ["CKPT_S"]))
    open(os.environ["MARKER"], "w").write("checkpointed")
    sys.exit(75)
if os.environ.get("IGNORE_TERM"):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
else:
    signal.signal(signal.SIGTERM, on_term)
open(os.environ["READY"], "w").write("1")
time.sleep(60)
"""


# A trainer still starting up: no SIGTERM handler for LATE_S seconds (interpreter start, imports).
LATE_TRAINER = r"""
import os, signal, sys, time
time.sleep(float(os.environ["LATE_S"]))
def on_term(*_):
    open(os.environ["MARKER"], "w").write("checkpointed")
    sys.exit(75)
signal.signal(signal.SIGTERM, on_term)
time.sleep(60)
"""


def start_trainer(tmp_path: Path, **env) -> subprocess.Popen:
    ready = tmp_path / "ready"
    proc = subprocess.Popen([sys.executable, "-c", TRAINER], start_new_session=True,
                            env={**os.environ, "MARKER": str(tmp_path / "marker"), "READY": str(ready),
                                 "CKPT_S": "0.5", **env})
    threading.Thread(target=proc.wait, daemon=True).start()  # reap it, as init would on a VM
    deadline = time.monotonic() + 20
    while not ready.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert ready.exists(), "trainer did not start"
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    (home / "trainer.pid").write_text(f"{proc.pid}\n")
    return proc


def env_for(tmp_path: Path, grace: str | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPOTSHIELD_")}
    env["SPOTSHIELD_HOME"] = str(tmp_path / "home")
    if grace:
        env["SPOTSHIELD_SHUTDOWN_GRACE_S"] = grace
    return env


def test_sigterm_and_wait_for_the_emergency_checkpoint(tmp_path):
    trainer = start_trainer(tmp_path)
    t0 = time.monotonic()
    proc = run_script(SHUTDOWN, env_for(tmp_path), timeout=40)
    took = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "marker").read_text() == "checkpointed"  # it waited for the checkpoint
    assert 0.5 <= took < 10
    assert trainer.poll() == 75
    assert f"trainer pid {trainer.pid} exited after" in proc.stderr


def test_the_wait_is_bounded(tmp_path):
    trainer = start_trainer(tmp_path, IGNORE_TERM="1")
    try:
        t0 = time.monotonic()
        proc = run_script(SHUTDOWN, env_for(tmp_path, grace="1"), timeout=40)
        took = time.monotonic() - t0
        assert proc.returncode == 1
        assert 1.0 <= took < 5
        assert "still running 1 s after the notice" in proc.stderr
        assert trainer.poll() is None  # shutdown.sh never SIGKILLs: the VM's stop does that
    finally:
        trainer.kill()


def test_no_pid_file_or_dead_pid_is_a_no_op(tmp_path):
    (tmp_path / "home").mkdir()
    proc = run_script(SHUTDOWN, env_for(tmp_path), timeout=20)
    assert proc.returncode == 0 and "no trainer to stop" in proc.stderr
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / "home" / "trainer.pid").write_text(str(dead.pid))
    proc = run_script(SHUTDOWN, env_for(tmp_path), timeout=20)
    assert proc.returncode == 0 and "is not running" in proc.stderr


def start_late_trainer(tmp_path: Path, late_s: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", LATE_TRAINER], start_new_session=True,
                            env={**os.environ, "MARKER": str(tmp_path / "marker"), "LATE_S": late_s})
    threading.Thread(target=proc.wait, daemon=True).start()
    (tmp_path / "home").mkdir(exist_ok=True)
    (tmp_path / "home" / "trainer.pid").write_text(f"{proc.pid}\n")
    return proc


def test_a_trainer_still_starting_gets_the_signal_once_it_can_catch_it(tmp_path):
    trainer = start_late_trainer(tmp_path, "1.0")
    proc = run_script(SHUTDOWN, env_for(tmp_path), timeout=40)
    assert proc.returncode == 0, proc.stderr
    assert "still starting" in proc.stderr
    assert (tmp_path / "marker").read_text() == "checkpointed"
    assert trainer.poll() == 75


def test_the_handler_wait_is_bounded(tmp_path):
    trainer = start_late_trainer(tmp_path, "100")  # never installs one in time
    try:
        t0 = time.monotonic()
        proc = run_script(SHUTDOWN, env_for(tmp_path), timeout=40)
        took = time.monotonic() - t0
        assert proc.returncode == 0, proc.stderr
        assert 3.0 <= took < 10  # HANDLER_WAIT_S, then the signal anyway
        assert trainer.poll() == -signal.SIGTERM
    finally:
        trainer.kill()


def test_the_budget_counts_from_the_notice_not_from_the_script(tmp_path):
    """startup.sh's watcher noted the notice 5 s ago: of an 8 s budget, 3 s are left."""
    trainer = start_trainer(tmp_path, IGNORE_TERM="1")
    try:
        (tmp_path / "home" / "notice.t").write_text(f"{time.time() - 5:.9f}\n")
        t0 = time.monotonic()
        proc = run_script(SHUTDOWN, env_for(tmp_path, grace="8"), timeout=40)
        took = time.monotonic() - t0
        assert proc.returncode == 1
        assert 2.0 <= took < 5.5, took  # not 8 s: the VM stops 8 s after the notice, not after this start
        assert "still running 8 s after the notice" in proc.stderr
    finally:
        trainer.kill()


def test_a_longer_notice_widens_the_budget_and_a_stale_notice_is_ignored(tmp_path):
    trainer = start_trainer(tmp_path, IGNORE_TERM="1")
    try:
        home = tmp_path / "home"
        (home / "notice.s").write_text("2\n")  # metadata spotshield-preemption-notice-s, kept by startup.sh
        (home / "notice.t").write_text(f"{time.time() - 3600:.9f}\n")  # an hour old: not this notice
        t0 = time.monotonic()
        proc = run_script(SHUTDOWN, env_for(tmp_path, grace="1"), timeout=40)
        took = time.monotonic() - t0
        assert proc.returncode == 1
        assert 3.0 <= took < 6, took  # 2 s of notice + 1 s of grace, counted from now
    finally:
        trainer.kill()
