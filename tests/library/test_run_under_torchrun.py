"""spotshield.Run under torchrun: two gloo ranks on CPU, a SIGTERM to the whole job mid-run (as
systemd sends it to every process of the unit), a restart, and final weights bit-identical to an
uninterrupted two-process run; the run's events hold one boot per launch and one preemption."""
from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from script_helpers import REPO, script_env
from spotshield import layout
from spotshield.backends.record import StackRecord
from spotshield.boots import preempted_boots, split_boots
from spotshield.distributed.loopback import descendants
from spotshield.errors import SpotShieldError
from spotshield.events import read_events, validate_event
from spotshield.status.collect import collect
from spotshield.storage import open_store
from spotshield.trainer.checkpoint import CheckpointManager

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).with_name("torchrun_script.py")
RUN_S = 240  # two cores shared with other test runs


def _launch(tmp: Path, store: str, name: str, pace: float = 0.0) -> subprocess.Popen:
    # PYTHONPATH: the workers import this checkout's spotshield, whatever the venv points at
    env = script_env(SPOTSHIELD_DCP_STAGING=str(tmp / f"staging-{name}"), PYTHONPATH=str(REPO))
    argv = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
            str(SCRIPT), store, str(pace)]
    return subprocess.Popen(argv, stdout=open(tmp / f"{name}.log", "wb"), stderr=subprocess.STDOUT,
                            start_new_session=True, env=env, cwd=tmp)


def _finish(p: subprocess.Popen, tmp: Path, name: str) -> int:
    try:
        return p.wait(RUN_S)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        for pid in descendants(p.pid):
            os.kill(pid, signal.SIGKILL)
        p.wait()
        raise AssertionError((tmp / f"{name}.log").read_text(errors="replace")[-3000:])


def _final(store: str) -> dict:
    return torch.load(io.BytesIO(open_store(store).read(layout.FINAL_KEY)), weights_only=True)


def _stepped(store_dir: Path, step: int) -> bool:
    for p in store_dir.glob("events/*/*.jsonl"):
        for line in p.read_text().splitlines():
            if '"event": "step"' in line and f'"step": {step},' in line:
                return True
    return False


def _rank_pid(agent: int, rank: int) -> int:
    """The worker of `rank` among the agent's descendants (from its environment)."""
    for pid in descendants(agent):
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"RANK={rank}".encode() in env and b"TORCHELASTIC_RUN_ID=" in b"".join(env):
            return pid
    raise AssertionError(f"no worker of rank {rank} under {agent}")


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("base")
    base = f"file://{tmp}/base"
    p = _launch(tmp, base, "base")
    assert _finish(p, tmp, "base") == 0, (tmp / "base.log").read_text()[-3000:]
    assert "seen 288" in (tmp / "base.log").read_text()  # rank 0's half of 3 epochs x 192
    return _final(base)


@pytest.mark.parametrize("who", ["unit", "rank1"])
def test_a_sigterm_to_the_job_resumes_bit_identical_with_one_preemption(tmp_path, baseline, isolated_root, who):
    """unit: systemd's stop, SIGTERM to every process of the unit (the agent and both workers) at
    once. rank1: a notice that only rank 1 sees; rank 0 learns it from the stop agreement."""
    url, store_dir = f"file://{tmp_path}/run", tmp_path / "run"
    p = _launch(tmp_path, url, "first", pace=0.1)
    deadline = time.monotonic() + RUN_S
    while not _stepped(store_dir, 9):  # mid-epoch 2 (6 steps an epoch), past the checkpoint at step 8
        assert p.poll() is None and time.monotonic() < deadline, (tmp_path / "first.log").read_text()[-3000:]
        time.sleep(0.02)
    for pid in [p.pid, *descendants(p.pid)] if who == "unit" else [_rank_pid(p.pid, 1)]:
        os.kill(pid, signal.SIGTERM)
    _finish(p, tmp_path, "first")
    store = open_store(url)
    evs = read_events(store, "run")
    emergency = [e for e in evs if e["event"] == "emergency_checkpoint"]
    assert len(emergency) == 1 and emergency[0]["ok"] and emergency[0]["saved"], emergency
    step = emergency[0]["step"]
    marker = layout.read_marker(store, step)  # one checkpoint of one step, a shard from each rank
    assert marker["reason"] == "emergency" and marker["world_size"] == 2 and marker["backend"] == "dcp"
    assert {"__0_0.distcp", "__1_0.distcp"} <= set(marker["files"])
    assert [e["code"] for e in evs if e["event"] == "exit"] == [75]
    notice = next(e for e in evs if e["event"] == "preempt_notice")
    if who == "rank1":
        assert notice["source"] == "peer" and notice["noticed_by"] == 1
    rec = StackRecord(backend="gcp", name="s", project="p", region="us-central1", zones=["us-central1-a"],
                      mig="m", bucket="b", run_id="run", store=url, strategy="naive",
                      machine_type="g2-standard-4", endpoints={"compute": "http://127.0.0.1:9"})
    mid = collect(rec)
    assert mid["preemptions"]["count"] == 1 and mid["preemptions"]["emergency_ok"] == 1
    # a single-process resume (python train.py on the same store) refuses, and keeps the checkpoint
    with pytest.raises(SpotShieldError, match="is a distributed \\(DCP\\) checkpoint; resume it under torchrun"):
        CheckpointManager(store).load()
    assert layout.read_marker(store, step)["step"] == step

    p = _launch(tmp_path, url, "second")
    assert _finish(p, tmp_path, "second") == 0, (tmp_path / "second.log").read_text()[-3000:]
    assert "seen 288" in (tmp_path / "second.log").read_text()
    b = _final(url)
    assert baseline.keys() == b.keys() and all(torch.equal(baseline[k], b[k]) for k in b)
    assert not any(k.startswith("module.") for k in b)  # loads into the plain model

    evs = read_events(store, "run")
    assert all(validate_event(e) == [] for e in evs)
    boots = split_boots(evs)
    assert len(boots) == 2 and len(preempted_boots(boots)) == 1  # one per launch, not one per rank
    resume = boots[1].first("resume")
    assert resume["from_step"] == step and resume["steps_lost"] == 0
    assert [e["event"] for e in evs].count("start") == 2 and [e["event"] for e in evs].count("done") == 1
    done = collect(rec)
    assert done["progress"]["state"] == "DONE" and done["progress"]["step"] == 18  # 3 epochs of 6 steps
    assert done["preemptions"]["count"] == 1 and done["preemptions"]["resumes"] == 1
