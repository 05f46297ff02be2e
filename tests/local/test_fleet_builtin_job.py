"""The built-in trainer as one job over two emulated VMs: `up --fleet-size 2` without --command on the local
backend boots the real startup.sh on each VM, which runs `spotshield train` under torchrun (one rank per VM,
gloo) with the rendezvous on a coordinator beside the emulator. One member is preempted once the job has
committed a checkpoint past a known step; both ranks stop at one agreed step with one emergency checkpoint,
the group recreates the VM, the job re-forms at world size 2 and resumes. The final weights equal those of
an uninterrupted two-process run of the same config (torchrun --standalone)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from spotshield.backends.base import fleet_trainer_config
from spotshield.settings import StackSettings
from spotshield.storage import open_store
from tests.local.fleet_preemptions import final_weights, run_through_preemptions
from tests.local.test_daemon import state  # noqa: F401 (state: the emulator's folder fixture)

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
STEPS = 30  # 3 epochs of 320 digits in global batches of 32
PREEMPT_AFTER_STEP = 8  # a checkpoint every 4 steps
TINY = {"model": "tiny-cnn", "data": "digits", "epochs": 3, "limit_train": 320, "limit_val": 100, "pace_step_s": 0.3,
        "log_every_s": 0.5, "strategies.naive.every_steps": 4, "checkpoint.persist_pace_s": 0.0}
RUN_S = 420


def _reference(tmp: Path, config: dict) -> dict:
    """The same config, uninterrupted, as two processes on this machine with a file:// store."""
    store = f"file://{tmp / 'reference'}"
    path = tmp / "config.json"
    path.write_text(json.dumps({k: v for k, v in config.items() if k not in ("store", "run_id")}))
    env = {**os.environ, "PYTHONPATH": str(REPO), "SPOTSHIELD_DCP_STAGING": str(tmp / "staging"),
           "SPOTSHIELD_HEALTH_PORT": "0", "OMP_NUM_THREADS": "1"}
    env.pop("GCE_METADATA_HOST", None)
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                    "-m", "spotshield.cli.main", "train", "--store", store, "--config", str(path)],
                   env=env, cwd=tmp, check=True, timeout=RUN_S, capture_output=True)
    return final_weights(open_store(store))


def test_two_vms_run_the_built_in_trainer_as_one_job_through_a_preemption_and_end_bit_identical(state, tmp_path):
    s = StackSettings(name="fb", run_id="fleet-builtin", fleet_size=2, pattern="none", time_scale=60,
                      strategy="naive", trainer_overrides=dict(TINY))
    reference = _reference(tmp_path, fleet_trainer_config(s))
    stack, events, final = run_through_preemptions(state, s, (PREEMPT_AFTER_STEP,), RUN_S)
    assert stack.resources["nodes"] == [2, 2] and "command" not in stack.resources

    names = [e["event"] for e in events]
    starts = [e for e in events if e["event"] == "start"]
    assert starts and all(e["client"] == "train" and e["world_size"] == 2 for e in starts), starts
    emergencies = [e for e in events if e["event"] == "emergency_checkpoint"]
    assert len(emergencies) == 1 and emergencies[0]["ok"] and emergencies[0]["step"] >= PREEMPT_AFTER_STEP, names
    assert emergencies[0]["step"] in {e["from_step"] for e in events if e["event"] == "resume"}
    done = [e for e in events if e["event"] == "done"]
    assert len(done) == 1 and done[0]["step"] == STEPS
    assert final.keys() == reference.keys()
    assert all(torch.equal(final[k], reference[k]) for k in final), "the resumed job's weights differ"
