"""The daemon: background lifecycle, refusals, and crash safety (no orphans, no lost checkpoint)."""
from __future__ import annotations

import os
import signal
import socket

import pytest

from spotshield.errors import SpotShieldError
from spotshield.local import daemon
from spotshield.local.testing import pid_alive, wait_for
from tests.local.conftest import VM
from tests.local.test_fleet import make_fleet, running

FLEET = {"startup_script": str(VM / "startup.sh"), "notice_floor_s": 3.0, "python": os.sys.executable}


@pytest.fixture
def state(tmp_path):
    yield tmp_path / "local"
    daemon.stop(tmp_path / "local")


class Handle:
    """What compute_clients() needs from a region."""

    def __init__(self, rec):
        self.compute_url, self.storage_url, self.project = rec["endpoints"]["compute"], rec["endpoints"]["storage"], rec["project"]


def test_start_status_stop(state):
    rec = daemon.start(state, time_scale=60, fleet=FLEET)
    assert daemon.read_state(state)["pid"] == rec["pid"] and pid_alive(rec["pid"]) and pid_alive(rec["gcs_pid"])
    st = daemon.request(rec, "GET", "/spotshield/v1/status")
    assert st["pid"] == rec["pid"] and st["time_scale"] == 60
    with pytest.raises(SpotShieldError, match="already running"):
        daemon.start(state)
    assert daemon.stop(state) is True
    assert not pid_alive(rec["pid"]) and not pid_alive(rec["gcs_pid"])
    assert daemon.read_state(state) is None and daemon.stop(state) is False


@pytest.mark.parametrize("kw,msg", [
    ({"pattern": "hourly"}, "unknown preemption pattern"),
    ({"pattern": "poisson", "rate": -3}, "rate must be >= 0"),
    ({"time_scale": 0}, "time scale must be > 0"),
    ({"compute_port": 70000}, "out of range"),
])
def test_bad_input_starts_nothing(state, kw, msg):
    with pytest.raises(SpotShieldError, match=msg):
        daemon.start(state, **kw)
    assert daemon.read_state(state) is None


def test_port_in_use(state):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        with pytest.raises(SpotShieldError, match=f"port {s.getsockname()[1]} is already in use"):
            daemon.start(state, compute_port=s.getsockname()[1])


def test_crash_leaves_no_orphans_and_loses_no_checkpoint(state):
    rec = daemon.start(state, time_scale=60, fleet=FLEET)
    h = Handle(rec)
    c = make_fleet(h, size=2)
    wait_for(lambda: running(c, h, 2), 30, what="2 RUNNING")
    wait_for(lambda: len(list(state.glob("instances/*/boot.json"))) == 2, 30, what="both guests up")
    pids = daemon.request(rec, "GET", "/spotshield/v1/status")["instance_pids"]
    assert len(pids) == 2 and all(pid_alive(p) for p in pids)
    # a committed checkpoint in the bucket
    from spotshield.local.gcs import GCSServer
    from spotshield.storage import open_store

    GCSServer(pid=0, port=int(h.storage_url.rsplit(":", 1)[1]), root=state).create_bucket("ckpt")
    os.environ["STORAGE_EMULATOR_HOST"] = h.storage_url
    try:
        open_store("gs://ckpt/runs/r1").write("ckpt/step-5/meta.json", b'{"step": 5}', create_only=True)
    finally:
        del os.environ["STORAGE_EMULATOR_HOST"]
    os.kill(rec["pid"], signal.SIGKILL)  # the daemon crashes; its fake-gcs and VMs live on
    wait_for(lambda: not pid_alive(rec["pid"]), 10, what="daemon gone")
    assert all(pid_alive(p) for p in pids)
    assert pid_alive(rec["gcs_pid"])
    rec2 = daemon.start(state, time_scale=60, fleet=FLEET)
    wait_for(lambda: not any(pid_alive(p) for p in pids + [rec["gcs_pid"]]), 10, what="orphans killed")
    os.environ["STORAGE_EMULATOR_HOST"] = rec2["endpoints"]["storage"]
    try:
        assert open_store("gs://ckpt/runs/r1").read("ckpt/step-5/meta.json") == b'{"step": 5}'
    finally:
        del os.environ["STORAGE_EMULATOR_HOST"]
    daemon.stop(state)
    assert not pid_alive(rec2["pid"])
