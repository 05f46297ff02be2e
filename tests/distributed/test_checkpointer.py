"""DistributedCheckpointer on real DCP, real gloo ranks (separate processes) and a real Store."""
from __future__ import annotations

import json

import pytest

from dist_helpers import logs, run_ranks
from spotshield import layout
from spotshield.errors import SpotShieldError
from spotshield.storage import open_store

SCENARIOS = ["roundtrip", "slow_rank", "failing_rank", "corrupt_newest", "keep_k", "save_for_reshard"]


# several rank processes each: tens of seconds together
SLOW = pytest.mark.slow


@pytest.fixture(scope="module")
def world2(tmp_path_factory):
    root = tmp_path_factory.mktemp("dcp-world2")
    codes, results = run_ranks(SCENARIOS, 2, root, f"file://{root}/store")
    assert codes == [0, 0], logs(root, 2)
    return root, results


def _store(root, scenario):
    return open_store(f"file://{root}/store/{scenario}")


@SLOW
def test_a_job_loaded_from_a_save_reaches_the_same_weights_bit_for_bit(world2):
    _, res = world2
    for r in res["roundtrip"]:
        assert r["committed"] and r["resumed_at"] == 3 and r["problems"] == []
        assert r["identical"], "training on from the loaded checkpoint diverged from the uninterrupted job"
        assert r["staging_left"] == []  # the local shard folder is removed once uploaded


@SLOW
def test_the_marker_lists_every_file_of_every_rank_with_its_digest(world2):
    root, res = world2
    store = _store(root, "roundtrip")
    meta = layout.read_marker(store, 3)
    assert meta["backend"] == layout.DCP_BACKEND and meta["world_size"] == 2
    assert set(meta["files"]) == {".metadata", "__0_0.distcp", "__1_0.distcp"}
    assert layout.verify_files(store, 3, meta).keys() == meta["files"].keys()  # sizes and sha256 match
    assert meta["bytes"] == sum(f["bytes"] for f in meta["files"].values()) == res["roundtrip"][0]["bytes"]


@SLOW
def test_the_marker_is_written_only_after_the_slowest_rank_is_durable(world2):
    root, res = world2
    folder = root / "store" / "slow_rank" / layout.folder_for(2)
    marker_t = (folder / layout.MARKER).stat().st_mtime
    assert marker_t >= (folder / "__1_0.distcp").stat().st_mtime  # rank 1 uploaded 1.5 s late
    for r in res["slow_rank"]:
        assert r["committed"] and r["save_s"] >= 1.5
    assert res["slow_rank"][0]["stall_s"] < 1.0  # the wait is in the background, not the stall


@SLOW
def test_a_rank_that_cannot_upload_commits_nothing_and_every_rank_raises(world2):
    _, res = world2
    for r in res["failing_rank"]:
        assert "rank 1" in r["error"] and "injected upload failure" in r["error"]
        assert r["newest"] == 2  # step 4 has rank 0's files but no marker
        assert r["dropped"] == [4]  # discard_partial removes them before the next save
        assert r["loaded"] == 2 and r["sampler_step"] == 2


@SLOW
def test_a_corrupt_newest_checkpoint_is_quarantined_and_the_previous_one_loads(world2):
    root, res = world2
    for r in res["corrupt_newest"]:
        assert r["loaded"] == 2 and r["identical"]
        assert len(r["problems"]) == 1 and "__1_0.distcp sha256 mismatch" in r["problems"][0]
        assert r["folders"] == [2] and len(r["quarantined"]) == 1 and r["quarantined"][0].startswith("step-000004-")


@SLOW
def test_keep_k_keeps_the_newest_committed(world2):
    _, res = world2
    for r in res["keep_k"]:
        assert r["folders"] == [3, 4] and r["committed"] == [1, 2, 3, 4]


@SLOW
def test_a_save_at_world_two_loads_at_world_one_resharded(world2, tmp_path):
    root, res = world2
    codes, out = run_ranks(["load_resharded"], 1, root, f"file://{root}/store")
    assert codes == [0], logs(root, 1)
    saved, loaded = res["save_for_reshard"][0], out["load_resharded"][0]
    assert loaded["problems"] == [] and loaded["meta_world"] == 2
    assert loaded["weights"] == saved["weights"]  # replicated DDP state
    assert (loaded["step"], loaded["consumed"]) == (saved["step"], saved["consumed"]) == (5, 40)
    assert saved["local_rows"] == 3  # each of the two ranks held half of the table ...
    assert loaded["table"] == [[float(4 * i + j) for j in range(4)] for i in range(6)]  # ... one rank gets all of it
    assert loaded["rng_reseeded"]  # rank-local RNG cannot map 2 ranks onto 1: reseeded, not restored


@SLOW
def test_the_same_protocol_works_on_gcs(gcs_bucket, tmp_path):
    codes, res = run_ranks(["roundtrip"], 2, tmp_path, f"gs://{gcs_bucket}/runs/r1")
    assert codes == [0, 0], logs(tmp_path, 2)
    assert all(r["identical"] and r["committed"] for r in res["roundtrip"])
    store = open_store(f"gs://{gcs_bucket}/runs/r1/roundtrip")
    step, meta = layout.newest_committed(store)
    assert step == 3 and layout.verify_files(store, 3, meta)


# --- in-process, world of one ---------------------------------------------------------------------
def test_it_needs_torch_distributed(tmp_path):
    from spotshield.distributed.checkpointer import DistributedCheckpointer

    with pytest.raises(SpotShieldError, match="torchrun"):
        DistributedCheckpointer(open_store(f"file://{tmp_path}"))


def test_a_single_process_checkpoint_is_refused_not_quarantined(world1, tmp_path):
    from spotshield.distributed.checkpointer import DistributedCheckpointer

    store = open_store(f"file://{tmp_path}/store")
    payload = b"state"
    store.write(f"{layout.folder_for(7)}/state.pt", payload)
    store.write(f"{layout.folder_for(7)}/{layout.MARKER}", json.dumps(
        {"format": layout.FORMAT, "step": 7, "files": {"state.pt": {"bytes": 5, "sha256": layout.sha256(payload)}}}).encode())
    ckpt = DistributedCheckpointer(store, staging_dir=tmp_path / "staging")
    with pytest.raises(SpotShieldError, match="single-process checkpoint"):
        ckpt.load({})
    assert layout.newest_committed(store)[0] == 7  # nothing committed is lost
    ckpt.close()


def test_an_empty_store_loads_nothing(world1, tmp_path):
    from spotshield.distributed.checkpointer import DistributedCheckpointer

    ckpt = DistributedCheckpointer(open_store(f"file://{tmp_path}/store"), staging_dir=tmp_path / "staging")
    assert ckpt.load({}) == (None, [])
    assert ckpt.discard_partial() == []
    ckpt.close()


def test_keep_below_two_is_refused(world1, tmp_path):
    from spotshield.distributed.checkpointer import DistributedCheckpointer
    from spotshield.trainer.config import CheckpointConfig

    with pytest.raises(ValueError, match="keep"):
        DistributedCheckpointer(open_store(f"file://{tmp_path}"), CheckpointConfig(keep=1))


def test_an_unreadable_marker_is_quarantined_and_the_older_checkpoint_loads(world1, tmp_path):
    import torch

    from spotshield.distributed.checkpointer import DistributedCheckpointer

    store = open_store(f"file://{tmp_path}/store")
    ckpt = DistributedCheckpointer(store, staging_dir=tmp_path / "staging")
    saved = torch.arange(6.0)
    assert ckpt.save({"w": saved.clone()}, step=3, epoch=0, reason="test", block=True).committed
    store.write(f"{layout.folder_for(9)}/{layout.MARKER}", b"{not json")  # e.g. a torn write by another tool
    target = {"w": torch.zeros(6)}
    meta, problems = ckpt.load(target)
    assert meta["step"] == 3 and torch.equal(target["w"], saved)
    assert len(problems) == 1 and "meta.json is not valid JSON" in problems[0].problem
    assert problems[0].path == layout.folder_for(9) and 9 not in layout.list_checkpoints(store)
    assert store.list(layout.QUARANTINE_PREFIX)  # moved, not deleted
    ckpt.close()
