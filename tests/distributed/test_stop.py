"""The stop agreement and the bounded emergency checkpoint."""
from __future__ import annotations

import subprocess
import sys

import pytest

from dist_helpers import logs, run_ranks
from spotshield import layout
from spotshield.storage import open_store
from spotshield.trainer.preemption import PreemptionFlag


# several rank processes each: tens of seconds together
SLOW = pytest.mark.slow


@pytest.fixture(scope="module")
def world2(tmp_path_factory):
    root = tmp_path_factory.mktemp("stop-world2")
    # missed_deadline ends each rank with exit_now(75), as a preempted worker does
    codes, results = run_ranks(["stop_agreement", "missed_deadline"], 2, root, f"file://{root}/store")
    assert codes == [75, 75], logs(root, 2)
    return root, results


@SLOW
def test_a_notice_on_one_rank_stops_every_rank_at_the_same_step(world2):
    _, res = world2
    r0, r1 = res["stop_agreement"]
    assert r0["stopped_at"] == r1["stopped_at"] == 3  # rank 1 was told before step 3; rank 0 never was
    assert r0["decisions"] == r1["decisions"] == [False, False, False, True]
    assert r0["own_notice"] is None and r0["notice_t"] == r1["own_notice"]  # the deadline counts from rank 1's notice
    assert r0["by"] == r1["by"] == 1


@SLOW
def test_a_missed_deadline_leaves_the_previous_checkpoint_valid(world2):
    root, res = world2
    for r in res["missed_deadline"]:
        assert r["ok"] is False and r["saved"] is True and "deadline" in r["error"]
        assert 0.9 <= r["seconds"] < 2.5  # it gave up at the deadline (1 s), not after the 3 s persist
    store = open_store(f"file://{root}/store/missed_deadline")
    assert layout.newest_committed(store)[0] == 2
    assert layout.MARKER not in layout.list_checkpoints(store).get(4, set())


def test_the_check_runs_only_every_n_steps(world1):
    from spotshield.distributed.stop import StopAgreement

    flag = PreemptionFlag()
    stop = StopAgreement(flag, every=3)
    flag.set("test")
    assert [stop.check(s).stop for s in range(1, 7)] == [False, False, True, False, False, True]
    assert stop.checks == 2
    d = stop.check(9)
    assert d.notice_t == flag.notice_t and d.rank == 0 and d.step == 9
    with pytest.raises(ValueError):
        StopAgreement(flag, every=0)


def test_an_already_committed_step_is_not_saved_again(world1, tmp_path):
    import torch

    from spotshield.distributed.checkpointer import DistributedCheckpointer
    from spotshield.distributed.stop import emergency_checkpoint

    ckpt = DistributedCheckpointer(open_store(f"file://{tmp_path}/store"), staging_dir=tmp_path / "staging")
    state = {"w": torch.ones(3)}
    ckpt.save(state, step=5, epoch=0, reason="interval")  # still in flight when the notice comes
    import time

    out = emergency_checkpoint(ckpt, state, step=5, epoch=0, notice_t=time.time(), deadline_s=20)
    assert out.ok and not out.saved and out.error is None
    ckpt.close()


def test_exit_now_flushes_and_exits_with_the_code():
    p = subprocess.run([sys.executable, "-c", "import sys; from spotshield.distributed.stop import exit_now; "
                        "print('saved', end=''); sys.stderr.write('bye'); exit_now(75)"], capture_output=True, text=True)
    assert (p.returncode, p.stdout, p.stderr) == (75, "saved", "bye")
