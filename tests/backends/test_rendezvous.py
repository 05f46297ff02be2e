"""The local backend's rendezvous coordinator ends with the run, as the coordinator VM does (issue 13)."""
from __future__ import annotations

import json
import time

import pytest

from spotshield.backends import rendezvous
from spotshield.local.procs import alive


@pytest.mark.parametrize("kind", ["gs", "file"])
def test_the_local_coordinator_exits_once_the_run_is_done_and_down_still_works(tmp_path, monkeypatch, request, kind):
    """gs: the emulator's case (fake-gcs-server at STORAGE_EMULATOR_HOST, the VMs' own store)."""
    from spotshield.storage import open_store

    monkeypatch.setattr(rendezvous, "LOCAL_POLL_S", 0.1)
    monkeypatch.setattr(rendezvous, "LOCAL_GRACE_S", 0.0)
    if kind == "gs":
        gcs = request.getfixturevalue("gcs_server")
        url, storage = f"gs://{request.getfixturevalue('gcs_bucket')}/runs/job-1", gcs.url
    else:
        url, storage = f"file://{tmp_path / 'store'}", None
    state = tmp_path / "state"
    info = rendezvous.start_local(state, url, storage)
    try:
        assert info["endpoint"].startswith("127.0.0.1:") and info["store"] == url
        time.sleep(0.5)
        assert alive(info["pid"], info["pid_start"])  # no DONE: it serves on
        open_store(url).write("DONE", json.dumps({"step": 36}).encode())
        deadline = time.monotonic() + 20
        while alive(info["pid"], info["pid_start"]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(info["pid"], info["pid_start"]), "the coordinator is still running after DONE"
        assert "the run is done" in (state / "coordinator.log").read_text()
        assert rendezvous.stop_local(state) is False  # `down` after DONE: nothing to stop, no error
        assert not (state / rendezvous.COORDINATOR_FILE).exists()
    finally:
        rendezvous.stop_local(state)
