"""The built-in trainer (`spotshield train`, tiny-cnn on digits) as one job under torchrun: two "nodes" (two
torchrun agents) on loopback with a rendezvous coordinator, gloo on CPU. One node is preempted once a known
periodic checkpoint is committed, the group's replacement joins, and the job's final/model.pt is bit-identical
to the same two-node job run without a preemption. Then a job that loses a node goes on alone at world size 1
from the two-rank checkpoint and still ends after exactly the steps of its epochs (no batch redone or skipped).
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from spotshield import layout
from spotshield.distributed.checks import LaunchTarget
from spotshield.distributed.loopback import LoopbackCluster
from spotshield.events import read_events
from spotshield.storage import open_store

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
EPOCHS, STEPS_PER_EPOCH = 3, 10  # 320 digits in global batches of 32
STEPS = EPOCHS * STEPS_PER_EPOCH
KNOWN = 8  # the periodic checkpoint (every 4 steps) after which a node is preempted
SETS = {"limit_train": 320, "limit_val": 100, "num_threads": 1, "metadata_watch": "false", "log_every_s": 0.2,
        "health_port": 0, "strategies.naive.every_steps": 4, "checkpoint.keep": 50, "pace_step_s": 0.15}
RUN_S = 180  # generous: two cores shared with other test runs


def _train(store: str) -> LaunchTarget:
    args = ["train", "--model", "tiny-cnn", "--data", "digits", "--seed", "0", "--epochs", str(EPOCHS),
            "--strategy", "naive", "--store", store]
    for k, v in SETS.items():
        args += ["--set", f"{k}={v}"]
    return LaunchTarget("spotshield.cli.main", module=True, args=args)  # what `spotshield train` runs


def _cluster(root: Path, **kw) -> LoopbackCluster:
    env = {"PYTHONPATH": str(REPO), "SPOTSHIELD_HEALTH_PORT": "0", "SPOTSHIELD_DCP_STAGING": str(root / "staging")}
    return LoopbackCluster(root, _train(f"file://{root}/store"), env=env, keep_alive_interval_s=1,
                           last_call_timeout_s=3, **kw)


def _events(root: Path) -> list[dict]:
    return read_events(open_store(f"file://{root}/store"), "store")  # the run id: the store's last part


def _launches(events: list[dict]) -> list[tuple[int, int | None]]:
    """(world size, step resumed from or None for a fresh start) of each launch of the job, in order:
    every rank of a launch shares rank 0's boot id, and rank 0 writes the events."""
    resumed = {e["boot"]: e["from_step"] for e in events if e["event"] == "resume" and not e.get("fresh")}
    return [(e["world_size"], resumed.get(e["boot"])) for e in events if e["event"] == "start"]


def _committed(root: Path, step: int) -> bool:
    return (root / "store" / layout.folder_for(step) / layout.MARKER).exists()


def _committed_at(root: Path, world: int) -> list[int]:
    """Steps of the committed checkpoints that a world of `world` ranks wrote."""
    store = open_store(f"file://{root}/store")
    out = []
    for step, names in layout.list_checkpoints(store).items():
        if layout.MARKER in names and layout.read_marker(store, step)["world_size"] == world:
            out.append(step)
    return sorted(out)


def _final(root: Path) -> dict:
    import torch

    return torch.load(io.BytesIO(open_store(f"file://{root}/store").read(layout.FINAL_KEY)), weights_only=True)


def _done(root: Path) -> dict:
    return json.loads(open_store(f"file://{root}/store").read(layout.DONE_KEY))


def test_a_preempted_node_of_the_built_in_trainer_resumes_bit_identical_at_world_two(tmp_path):
    import torch

    ref = tmp_path / "reference"
    with _cluster(ref, min_nodes=2, max_nodes=2) as c:
        c.start_coordinator()
        c.start_node("a")
        c.start_node("b")
        assert c.wait_node("a", RUN_S) == 0 and c.wait_node("b", RUN_S) == 0, c.tail("a")
    reference = _final(ref)
    assert _done(ref)["step"] == STEPS

    root = tmp_path / "preempted"
    with _cluster(root, min_nodes=2, max_nodes=2) as c:
        c.start_coordinator()
        c.start_node("a")
        c.start_node("b")
        c.wait_for(lambda: _committed(root, KNOWN), RUN_S, f"the checkpoint of step {KNOWN}")
        c.preempt("a")
        assert c.wait_node("a", RUN_S) != 0  # the preempted VM's agent is gone
        c.start_node("c")  # the group's replacement VM
        assert c.wait_node("b", RUN_S) == 0 and c.wait_node("c", RUN_S) == 0, c.tail("b")
    events = _events(root)
    emergency = [e for e in events if e["event"] == "emergency_checkpoint"]
    assert len(emergency) == 1 and emergency[0]["ok"] and emergency[0]["world_size"] == 2, emergency
    stop = emergency[0]["step"]
    assert KNOWN <= stop < STEPS
    meta = layout.read_marker(open_store(f"file://{root}/store"), stop)
    assert meta["world_size"] == 2 and meta["backend"] == layout.DCP_BACKEND
    assert meta["reason"] == "emergency" or not emergency[0]["saved"]  # a stop right at a periodic save reuses it
    assert _launches(events) == [(2, None), (2, stop)]
    # one data-parallel job: the data position is the job's sampler, saved replicated, not a rank's own loader
    starts = [e for e in events if e["event"] == "start"]
    assert all("sampler" in e["objects"] and e["loader"] is None for e in starts), starts
    assert _done(root)["step"] == STEPS
    final = _final(root)
    assert final.keys() == reference.keys() and not any(k.startswith("module.") for k in final)
    assert all(torch.equal(final[k], reference[k]) for k in final), "resumed weights differ from the uninterrupted run"


def test_the_built_in_trainer_goes_on_at_world_one_without_redoing_or_skipping_a_batch(tmp_path):
    root = tmp_path
    with _cluster(root, min_nodes=1, max_nodes=2) as c:
        c.start_coordinator()
        c.start_node("a")
        c.start_node("b")
        # with min_nodes 1 the first agent may form a world of one before the second joins: that launch
        # stops with an emergency checkpoint of its own (torchrun re-forms the job at 2), as in test_torchrun.py
        c.wait_for(lambda: any(s >= KNOWN for s in _committed_at(root, 2)), RUN_S,
                   f"a checkpoint of step {KNOWN} or later at world size 2")
        c.preempt("b")
        assert c.wait_node("b", RUN_S) != 0
        assert c.wait_node("a", RUN_S) == 0, c.tail("a")  # no replacement: it finishes alone
    events = _events(root)
    last_two = max(e["step"] for e in events if e["event"] == "emergency_checkpoint" and e["world_size"] == 2)
    assert _launches(events)[-1] == (1, last_two), _launches(events)  # alone, from the two ranks' checkpoint
    assert layout.read_marker(open_store(f"file://{root}/store"), last_two)["world_size"] == 2
    # the sampler's position is the job's, not a rank's: at world size 1 the job continues mid-epoch and
    # ends after exactly its epochs' steps (a restarted epoch would end later, a skipped one sooner)
    assert _done(root)["step"] == STEPS
    ends = [e for e in events if e["event"] == "epoch_end"]
    assert sorted({e["epoch"] for e in ends}) == list(range(1, EPOCHS + 1))
