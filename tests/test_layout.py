"""spotshield/layout.py: the one definition of keys and of a committed checkpoint."""
from __future__ import annotations

import json

import pytest

from spotshield import layout
from spotshield.storage import open_store


def test_runs_store_url_takes_a_name_or_a_url():
    assert layout.runs_store_url("b", "r1") == "gs://b/runs/r1"
    assert layout.runs_store_url("gs://b/", "r1") == "gs://b/runs/r1"


def _commit(store, step, payload=b"abc", **meta):
    store.write(f"{layout.folder_for(step)}/state.pt", payload)
    marker = {"format": layout.FORMAT, "step": step,
              "files": {"state.pt": {"bytes": len(payload), "sha256": layout.sha256(payload)}}, **meta}
    store.write(f"{layout.folder_for(step)}/{layout.MARKER}", json.dumps(marker).encode())


def test_newest_committed_skips_folders_without_a_valid_marker(tmp_path):
    store = open_store(f"file://{tmp_path}")
    _commit(store, 10)
    _commit(store, 20)
    store.write(f"{layout.folder_for(30)}/state.pt", b"partial")  # no marker: a killed persist
    store.write(f"{layout.folder_for(40)}/{layout.MARKER}", b"{")  # unreadable marker
    step, meta = layout.newest_committed(store)
    assert step == 20 and meta["step"] == 20
    assert sorted(layout.list_checkpoints(store)) == [10, 20, 30, 40]


def test_verify_files_names_the_truncated_or_corrupt_file(tmp_path):
    store = open_store(f"file://{tmp_path}")
    _commit(store, 5, b"12345")
    meta = layout.read_marker(store, 5)
    assert layout.verify_files(store, 5, meta) == {"state.pt": b"12345"}
    store.write(f"{layout.folder_for(5)}/state.pt", b"1234")
    with pytest.raises(ValueError, match="truncated"):
        layout.verify_files(store, 5, meta)
    store.write(f"{layout.folder_for(5)}/state.pt", b"12346")
    with pytest.raises(ValueError, match="corrupt"):
        layout.verify_files(store, 5, meta)


def test_parse_marker_rejects_another_step_and_format():
    with pytest.raises(ValueError, match="does not describe"):
        layout.parse_marker(json.dumps({"format": layout.FORMAT, "step": 2, "files": {}}).encode(), 3)
    with pytest.raises(ValueError, match="format"):
        layout.parse_marker(json.dumps({"format": 99, "step": 3, "files": {}}).encode(), 3)


def test_check_file_and_sha256_file_agree_with_the_marker(tmp_path):
    f = tmp_path / "shard"
    f.write_bytes(b"x" * (3 << 20))  # spans several read chunks
    digest, size = layout.sha256_file(f)
    assert (digest, size) == (layout.sha256(b"x" * (3 << 20)), 3 << 20)
    want = {"sha256": digest, "bytes": size}
    layout.check_file("shard", size, digest, want)
    with pytest.raises(ValueError, match="truncated"):
        layout.check_file("shard", size - 1, digest, want)
    with pytest.raises(ValueError, match="shard sha256 mismatch"):
        layout.check_file("shard", size, "0" * 64, want)


def test_folder_rules_partial_retention_delete_and_quarantine(tmp_path):
    store = open_store(f"file://{tmp_path}")
    for step in (1, 2, 3, 4):
        _commit(store, step)
    store.write(f"{layout.folder_for(5)}/state.pt", b"partial")
    folders = layout.list_checkpoints(store)
    assert layout.partial_checkpoints(folders) == [5]
    assert layout.retention_victims(folders, keep=2) == [1, 2]
    layout.delete_checkpoint(store, 1, folders[1])
    assert 1 not in layout.list_checkpoints(store)
    dest = layout.quarantine_checkpoint(store, 4, folders[4], "abc")
    assert dest == "quarantine/step-000004-abc"
    assert sorted(store.list(dest)) == [f"{dest}/meta.json", f"{dest}/state.pt"]
    assert layout.newest_committed(store)[0] == 3  # quarantined folders no longer count
