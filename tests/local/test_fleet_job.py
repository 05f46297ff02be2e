"""One job over two emulated VMs (the must-show of docs/distributed.md): `up --command ... --fleet-size 2`
on the local backend boots the real startup.sh on each VM, which runs the user's script under torchrun
with the rendezvous on a coordinator beside the emulator. The test preempts one member, then the other,
each once the job has committed a checkpoint past a known step (not on a wall-clock schedule, which a
loaded machine's start-up times would move): every notice stops both ranks at one agreed step with one
emergency checkpoint (DCP), the group recreates the VM, the job re-forms at world size 2 and resumes. The final weights equal those of
an uninterrupted two-process run of the same script (torchrun --standalone: the same world size, the
same ranks' data and RNG streams)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from spotshield.backends import rendezvous
from spotshield.settings import StackSettings
from spotshield.storage import open_store
from tests.local.fleet_preemptions import final_weights, run_through_preemptions
from tests.local.test_daemon import state  # noqa: F401 (state: the emulator's folder fixture)

pytestmark = pytest.mark.slow
JOB = Path(__file__).with_name("fleet_job.py")
REPO = Path(__file__).resolve().parents[2]
PACE_S = 0.5  # real seconds per step: 36 steps
PREEMPT_AFTER_STEPS = (8, 20)  # a preemption once a checkpoint at or past each (every 6 steps) is committed
RUN_S = 420


def _reference(tmp: Path) -> dict:
    """The same script, uninterrupted, as two processes on this machine with a file:// store."""
    store = f"file://{tmp / 'reference'}"
    env = {**os.environ, "SPOTSHIELD_STORE": store, "SPOTSHIELD_RUN_ID": "reference", "PYTHONPATH": str(REPO),
           "SPOTSHIELD_DCP_STAGING": str(tmp / "staging"), "SPOTSHIELD_HEALTH_PORT": "0"}
    env.pop("GCE_METADATA_HOST", None)
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                    str(JOB)], env=env, cwd=tmp, check=True, timeout=RUN_S, capture_output=True)
    return final_weights(open_store(store))


def test_two_vms_train_one_job_through_preemptions_of_both_and_end_bit_identical(state, tmp_path):
    reference = _reference(tmp_path)
    wd = tmp_path / "wd"
    wd.mkdir()
    shutil.copy(JOB, wd / "train.py")
    s = StackSettings(name="fj", run_id="fleet-job", fleet_size=2, pattern="none", time_scale=60,
                      command=f"python train.py {PACE_S}", workdir=str(wd))
    stack, events, final = run_through_preemptions(state, s, PREEMPT_AFTER_STEPS, RUN_S)
    coordinator = stack.resources["coordinator"]

    names = [e["event"] for e in events]
    notices = [e for e in events if e["event"] == "preempt_notice"]
    emergencies = [e for e in events if e["event"] == "emergency_checkpoint"]
    assert len(notices) == 2 and len(emergencies) == 2 and all(e["ok"] for e in emergencies), names
    assert all(e["step"] >= after for e, after in zip(emergencies, PREEMPT_AFTER_STEPS)), emergencies
    resumes = [e for e in events if e["event"] == "resume"]
    assert {e["step"] for e in emergencies} <= {e["from_step"] for e in resumes}, (emergencies, resumes)
    done = [e for e in events if e["event"] == "done"]
    assert len(done) == 1 and done[0]["step"] == 36
    assert final.keys() == reference.keys()
    assert all(torch.equal(final[k], reference[k]) for k in final), "the resumed job's weights differ"
    host, port = coordinator.rsplit(":", 1)
    assert host == "127.0.0.1" and not rendezvous.stop_local(state)  # down stopped the coordinator
