"""kill -9 at random moments (one during a persist) and SIGTERM, restart each time: the final
weights must be bit-identical to an uninterrupted run with the same seed."""
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from spotshield.events import EXIT_PREEMPTED, read_events
from spotshield.storage import open_store

from spotshield.trainer.run import train

from script_helpers import wait_for
from trainer_helpers import REPO, assert_identical, cli_env, final_weights, run_cli, tiny_cli_args, tiny_config

SETS = {"epochs": 3, "strategy": "naive", "strategies.naive.every_steps": 6}
# Interrupted runs: paced so a kill lands mid-run, and a slow emulated store so that a
# persist lasts long enough to be killed in the middle of it.
PACED = {**SETS, "pace_step_s": 0.04, "checkpoint.persist_pace_s": 0.3}


def training_started(root: Path, old_logs: set) -> bool:
    """This boot (a new event file) has finished a training step."""
    return any('"event": "step"' in p.read_text() for p in root.glob("events/*/*.jsonl") if p not in old_logs)


def persist_in_progress(root: Path) -> bool:
    """A checkpoint folder with its state file written but no marker yet."""
    return any(not (d / "meta.json").exists() and (d / "state.pt").exists() for d in root.glob("ckpt/step-*"))


@pytest.mark.slow
def test_kill9_and_sigterm_restarts_end_bit_identical(tmp_path):
    # The uninterrupted run in-process (one thread, like the CLI runs) saves a start-up.
    base_url = f"file://{tmp_path}/baseline"
    assert train(tiny_config(base_url, **SETS)) == 0
    baseline = final_weights(open_store(base_url))

    root = tmp_path / "interrupted"
    url = f"file://{root}"
    rng = random.Random(20261127)
    # (how, when): kill -9 during a persist, kill -9 / SIGTERM at random moments of training
    plan = [("kill", "persist"), ("term", rng.uniform(0.2, 1.0)), ("kill", rng.uniform(0.1, 1.0))]
    outcomes = []
    for how, when in plan:
        old_logs = set(root.glob("events/*/*.jsonl"))
        p = subprocess.Popen(tiny_cli_args(url, **PACED), env=cli_env(), cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert wait_for(lambda: training_started(root, old_logs), p), p.communicate()[1]
            if when == "persist":
                hit = wait_for(lambda: persist_in_progress(root), p)
            else:
                time.sleep(when)
                hit = p.poll() is None
            assert hit, "the run ended before it could be interrupted"
            p.send_signal(signal.SIGKILL if how == "kill" else signal.SIGTERM)
            _, err = p.communicate(timeout=60)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        outcomes.append(p.returncode)
        assert p.returncode == (-signal.SIGKILL if how == "kill" else EXIT_PREEMPTED), err
    final = run_cli(tiny_cli_args(url, **PACED))
    assert final.returncode == 0, final.stderr

    assert_identical(baseline, final_weights(open_store(url)))
    events = read_events(open_store(url), "interrupted")
    resumes = [e for e in events if e["event"] == "resume"]
    assert len(resumes) == len(plan)
    # the kill during a persist left a folder without a marker, which the next boot discarded
    assert resumes[0]["discarded_partial"]
    assert sum(1 for e in events if e["event"] == "emergency_checkpoint" and e["ok"]) == 1
    assert [e["code"] for e in events if e["event"] == "exit"] == [EXIT_PREEMPTED, 0]
    start = next(e for e in events if e["event"] == "start")
    assert start["strategy"] == "naive" and start["total_steps"] == 66  # --set values took effect
