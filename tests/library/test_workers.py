"""DataLoader workers survive a SIGTERM sent to the whole process group (as systemd sends it on
GCE) until the main process has saved its emergency checkpoint; real worker processes, with the
fork, spawn and forkserver start methods. The unprotected control dies instead."""
import os
import signal
import subprocess
from pathlib import Path

import pytest

from spotshield.events import EXIT_PREEMPTED

from script_helpers import PY, events, script_env

SCRIPT = str(Path(__file__).with_name("workers_script.py"))


def _group_sigterm_at_ready(tmp_path, method: str, protect: bool, phase: str):
    store = tmp_path / "store"
    env = script_env(SPOTSHIELD_STORE=f"file://{store}")
    p = subprocess.Popen([PY, SCRIPT, method, "1" if protect else "0", phase], cwd=tmp_path, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        line = p.stdout.readline()
        assert line.strip() == "READY", p.communicate(timeout=60)[1][-3000:]
        workers = subprocess.run(["pgrep", "-g", str(p.pid)], capture_output=True, text=True).stdout.split()
        assert len(workers) >= 3, workers  # the main process and its data workers
        os.killpg(p.pid, signal.SIGTERM)  # every process of the group at once, from outside it
        _, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    return p.returncode, err, store


@pytest.mark.slow
@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_workers_survive_a_group_sigterm_until_the_emergency_checkpoint(tmp_path, method):
    code, err, store = _group_sigterm_at_ready(tmp_path, method, True, "train")
    assert code == EXIT_PREEMPTED, err[-3000:]
    evs = events(store)
    emergency = next(e for e in evs if e["event"] == "emergency_checkpoint")
    notice = next(e for e in evs if e["event"] == "preempt_notice")
    assert emergency["ok"] and emergency["step"] == notice["step"] >= 5


@pytest.mark.slow
def test_a_notice_during_evaluation_with_worker_loaders_ends_in_an_emergency_checkpoint(tmp_path):
    code, err, store = _group_sigterm_at_ready(tmp_path, "fork", True, "eval")
    assert code == EXIT_PREEMPTED, err[-3000:]
    evs = events(store)
    notice = next(e for e in evs if e["event"] == "preempt_notice")
    assert notice["step"] == 60 and notice["epoch"] == 1  # the end of epoch 2 of 30 steps, not yet closed
    assert next(e for e in evs if e["event"] == "emergency_checkpoint")["ok"]
    assert [e["epoch"] for e in evs if e["event"] == "epoch_end"] == [1]


@pytest.mark.slow
def test_without_protection_the_workers_die_and_take_the_run_with_them(tmp_path):
    code, err, store = _group_sigterm_at_ready(tmp_path, "fork", False, "train")
    assert code != EXIT_PREEMPTED and "DataLoader worker" in err
    assert not any(e["event"] == "emergency_checkpoint" for e in events(store))
