"""CheckpointManager on a file store and on fake-gcs-server with the real GCS client."""
import json
import time

import pytest
import torch

from spotshield.errors import PreconditionFailedError, StoreError
from spotshield.storage import FileStore, GCSStore, join
from spotshield.trainer.checkpoint import CheckpointManager, folder_for
from spotshield.trainer.config import CheckpointConfig


def make_state(seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    model = torch.nn.Linear(64, 32)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(4, 64, generator=g)).sum().backward()
    opt.step()
    return {"model": model.state_dict(), "optimizer": opt.state_dict(), "rng": torch.get_rng_state(),
            "progress": {"step": seed, "best": None}, "py": (3, (1, 2, 3), None)}


def assert_same(a, b):
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    else:
        assert a == b


@pytest.fixture
def file_store(tmp_path):
    return FileStore(tmp_path / "store")


def test_save_load_round_trip_and_marker_written_last(file_store):
    mgr = CheckpointManager(file_store, CheckpointConfig(keep=2), strategy="naive")
    state = make_state(7)
    info = mgr.save(state, step=7, epoch=0, reason="interval", block=True)
    assert info.committed and info.bytes > 0 and info.stall_s >= 0 and info.persist_s > 0
    meta = json.loads(file_store.read(join(folder_for(7), "meta.json")))
    assert meta["step"] == 7 and meta["strategy"] == "naive" and meta["reason"] == "interval"
    assert meta["files"]["state.pt"]["bytes"] == len(file_store.read(join(folder_for(7), "state.pt")))
    loaded, meta2, problems = CheckpointManager(file_store).load()
    assert problems == [] and meta2["step"] == 7
    assert_same(state, loaded)


def test_snapshot_is_isolated_from_later_training(file_store):
    mgr = CheckpointManager(file_store, CheckpointConfig(persist_pace_s=0.3))
    model = torch.nn.Linear(4, 4)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    mgr.save({"model": model.state_dict()}, step=1, epoch=0, reason="t")
    with torch.no_grad():  # training goes on while the persist is in flight
        model.weight.add_(1.0)
    assert mgr.in_flight is not None
    mgr.wait()
    loaded, _, _ = CheckpointManager(file_store).load()
    assert torch.equal(loaded["model"]["weight"], before["weight"])


def test_at_most_one_persist_in_flight_and_stall_counts_the_wait(file_store):
    mgr = CheckpointManager(file_store, CheckpointConfig(persist_pace_s=0.4))
    first = mgr.save(make_state(1), step=1, epoch=0, reason="t")
    assert first.stall_s < 0.4  # phase 1 only
    second = mgr.save(make_state(2), step=2, epoch=0, reason="t")  # must wait for the first
    assert first.committed
    assert second.wait_s > 0.2 and second.stall_s >= second.wait_s
    mgr.close()
    assert mgr.committed() == [1, 2]


def test_retention_keeps_newest_k(file_store):
    mgr = CheckpointManager(file_store, CheckpointConfig(keep=2))
    for step in (10, 20, 30, 40):
        mgr.save(make_state(step), step=step, epoch=0, reason="t", block=True)
    assert mgr.committed() == [30, 40]
    assert not any(k.startswith(folder_for(10)) for k in file_store.list("ckpt"))


@pytest.mark.parametrize("damage", ["flip", "truncate", "bad_marker", "missing_state"])
def test_damaged_newest_falls_back_to_previous_and_is_quarantined(file_store, damage):
    mgr = CheckpointManager(file_store, CheckpointConfig(keep=3))
    good = make_state(1)
    mgr.save(good, step=1, epoch=0, reason="t", block=True)
    mgr.save(make_state(2), step=2, epoch=0, reason="t", block=True)
    state_key, marker_key = join(folder_for(2), "state.pt"), join(folder_for(2), "meta.json")
    data = bytearray(file_store.read(state_key))
    if damage == "flip":
        data[len(data) // 2] ^= 0xFF
        file_store.write(state_key, bytes(data))
    elif damage == "truncate":
        file_store.write(state_key, bytes(data[: len(data) // 3]))
    elif damage == "bad_marker":
        file_store.write(marker_key, b'{"step": 2, "files": ')
    else:
        file_store.delete(state_key)
    loaded, meta, problems = CheckpointManager(file_store).load()
    assert meta["step"] == 1
    assert_same(good, loaded)
    assert len(problems) == 1 and problems[0].path == folder_for(2)
    assert CheckpointManager(file_store).committed() == [1]
    assert file_store.list("quarantine")  # kept for inspection, out of the way


def test_partial_folder_without_marker_does_not_count(file_store):
    mgr = CheckpointManager(file_store)
    mgr.save(make_state(1), step=1, epoch=0, reason="t", block=True)
    file_store.write(join(folder_for(5), "state.pt"), b"half a persist")  # killed before the marker
    loaded, meta, problems = CheckpointManager(file_store).load()
    assert meta["step"] == 1 and problems == []
    assert CheckpointManager(file_store).discard_partial() == [5]
    assert not file_store.list(folder_for(5))


def test_no_checkpoint_gives_none(file_store):
    assert CheckpointManager(file_store).load() == (None, None, [])


class SlowStore(FileStore):
    """A real file store whose writes take `delay` seconds: a store slower than the deadline."""

    delay = 0.0

    def write(self, key, data, *, create_only=False):
        time.sleep(self.delay)
        super().write(key, data, create_only=create_only)


def test_missed_deadline_leaves_previous_checkpoint_valid(tmp_path):
    store = SlowStore(tmp_path / "slow")
    mgr = CheckpointManager(store, CheckpointConfig(keep=2))
    mgr.save(make_state(1), step=1, epoch=0, reason="t", block=True)
    store.delay = 1.0
    mgr.save(make_state(2), step=2, epoch=0, reason="emergency")
    assert mgr.wait(timeout=0.2) is False  # deadline missed: the process would exit now
    loaded, meta, _ = CheckpointManager(store).load()
    assert meta["step"] == 1
    mgr.wait()


def test_failed_persist_surfaces_in_training_thread(file_store):
    mgr = CheckpointManager(file_store)
    mgr.save(make_state(3), step=3, epoch=0, reason="t", block=True)
    mgr.committed_steps.clear()
    with pytest.raises(StoreError, match="already exists"):
        mgr.save(make_state(3), step=3, epoch=0, reason="t", block=True)  # create-only refuses


# --- GCS through the real client against fake-gcs-server ------------------------------------------

def test_gcs_save_list_load_retention(gcs_bucket):
    store = GCSStore(gcs_bucket, "runs/r1")
    mgr = CheckpointManager(store, CheckpointConfig(keep=2), strategy="adaptive")
    states = {}
    for step in (100, 200, 300):
        states[step] = make_state(step)
        mgr.save(states[step], step=step, epoch=1, reason="adaptive", block=True)
    assert mgr.committed() == [200, 300]
    assert sorted(store.list("ckpt")) == [
        "ckpt/step-000200/meta.json", "ckpt/step-000200/state.pt",
        "ckpt/step-000300/meta.json", "ckpt/step-000300/state.pt",
    ]
    loaded, meta, problems = CheckpointManager(store).load()
    assert meta["step"] == 300 and not problems
    assert_same(states[300], loaded)


def test_gcs_precondition_conflict_never_overwrites(gcs_bucket):
    store = GCSStore(gcs_bucket, "runs/r2")
    mgr = CheckpointManager(store)
    mgr.save(make_state(1), step=1, epoch=0, reason="t", block=True)
    original = store.read(join(folder_for(1), "state.pt"))
    with pytest.raises(PreconditionFailedError):
        store.write(join(folder_for(1), "state.pt"), b"other bytes", create_only=True)
    mgr.committed_steps.clear()
    with pytest.raises(StoreError, match="already exists"):
        mgr.save(make_state(9), step=1, epoch=0, reason="t", block=True)
    assert store.read(join(folder_for(1), "state.pt")) == original


def test_gcs_corrupt_newest_falls_back(gcs_bucket):
    store = GCSStore(gcs_bucket, "runs/r3")
    mgr = CheckpointManager(store)
    good = make_state(1)
    mgr.save(good, step=1, epoch=0, reason="t", block=True)
    mgr.save(make_state(2), step=2, epoch=0, reason="t", block=True)
    key = join(folder_for(2), "state.pt")
    store.write(key, store.read(key)[:100])
    loaded, meta, problems = CheckpointManager(store).load()
    assert meta["step"] == 1 and len(problems) == 1
    assert_same(good, loaded)


# --- a framework's own files (Lightning .ckpt, Hugging Face checkpoint folders) --------------------
@pytest.mark.parametrize("backend", ["file", "gcs"])
def test_save_files_commits_a_folder_and_load_files_falls_back_past_a_corrupt_one(tmp_path, backend, request):
    if backend == "gcs":
        store = GCSStore(request.getfixturevalue("gcs_bucket"), "runs/files")
    else:
        store = FileStore(tmp_path / "store")
    mgr = CheckpointManager(store, CheckpointConfig(keep=3), strategy="naive")
    for step in (10, 20):
        folder = tmp_path / f"framework-{step}"
        folder.mkdir()
        (folder / "weights.bin").write_bytes(bytes([step]) * 1000)
        (folder / "state.json").write_text(json.dumps({"global_step": step}))
        info = mgr.save_files({p.name: p for p in folder.iterdir()}, step=step, epoch=0, reason="interval",
                              block=True, meta={"client": "test"}, snapshot_s=0.25)
        assert info.committed and info.bytes == 1000 + len(json.dumps({"global_step": step}))
        assert info.stall_s >= 0.25 and info.snapshot_t <= time.time() - 0.25
    meta = json.loads(store.read(join(folder_for(20), "meta.json")))
    assert set(meta["files"]) == {"weights.bin", "state.json"} and meta["client"] == "test"

    got, meta, problems = CheckpointManager(store).load_files(tmp_path / "down")
    assert problems == [] and meta["step"] == 20 and got.name == "step-000020"
    assert json.loads((got / "state.json").read_text()) == {"global_step": 20}
    # one flipped byte in the newest: quarantined, the previous one is used
    data = bytearray(store.read(join(folder_for(20), "weights.bin")))
    data[0] ^= 1
    store.write(join(folder_for(20), "weights.bin"), bytes(data))
    got, meta, problems = CheckpointManager(store).load_files(tmp_path / "down2")
    assert meta["step"] == 10 and (got / "weights.bin").read_bytes() == bytes([10]) * 1000
    assert problems[0].path == folder_for(20) and "weights.bin sha256 mismatch" in problems[0].problem
    assert CheckpointManager(store).committed() == [10]


def test_save_files_refuses_names_with_folders(file_store, tmp_path):
    (tmp_path / "x").write_bytes(b"1")
    with pytest.raises(ValueError, match="plain file name"):
        CheckpointManager(file_store).save_files({"a/x": tmp_path / "x"}, step=1, epoch=0, reason="interval")
