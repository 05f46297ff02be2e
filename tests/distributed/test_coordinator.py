"""The rendezvous coordinator: a standalone TCPStore server that agents reach as clients."""
from __future__ import annotations

import signal
import socket
import subprocess
import sys
from datetime import timedelta

from dist_helpers import start_coordinator, stop


def test_it_serves_a_store_that_clients_share_and_stops_on_sigterm(tmp_path):
    from torch.distributed import TCPStore

    p, ready = start_coordinator(tmp_path, "--port", "0")
    try:
        assert ready.exists(), p.stderr.read() if p.poll() is not None else "no ready file"
        port = int(ready.read_text().split(":")[-1])
        a = TCPStore("127.0.0.1", port, is_master=False, timeout=timedelta(seconds=10))
        b = TCPStore("127.0.0.1", port, is_master=False, timeout=timedelta(seconds=10))
        a.set("rendezvous", "round-1")
        assert b.get("rendezvous") == b"round-1"
        p.send_signal(signal.SIGTERM)
        assert p.wait(15) == 0
        assert f"ready 127.0.0.1:{port}" in p.stdout.read()
    finally:
        stop(p)


def test_a_port_in_use_is_one_line_and_exit_1(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        p = subprocess.run([sys.executable, "-m", "spotshield.distributed.coordinator", "--host", "127.0.0.1",
                            "--port", str(port)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 1
    assert p.stderr.strip().startswith(f"error: cannot listen on 127.0.0.1:{port}") and "\n" not in p.stderr.strip()


def test_a_coordinator_that_does_not_come_up_is_one_line_and_leaves_no_process(tmp_path):
    """coordinator.spawn, shared by the local backend and the loopback cluster."""
    import pytest

    from spotshield.distributed.coordinator import spawn
    from spotshield.errors import SpotShieldError
    from spotshield.local.procs import alive

    seen = []
    real_popen = subprocess.Popen

    def recording(*a, **kw):
        seen.append(real_popen(*a, **kw))
        return seen[-1]

    subprocess.Popen = recording
    try:
        with pytest.raises(SpotShieldError, match="the rendezvous coordinator did not start"):
            spawn(tmp_path / "ready", tmp_path / "log", timeout_s=0)
    finally:
        subprocess.Popen = real_popen
    assert len(seen) == 1 and not alive(seen[0].pid)


def test_it_stops_by_itself_once_the_runs_store_holds_done(tmp_path):
    """Issue 13: the coordinator (on GCP a billed VM) ends with the run, not at `make teardown`."""
    import time

    store = tmp_path / "store"
    p, ready = start_coordinator(tmp_path, "--port", "0", "--store", f"file://{store}", "--poll-s", "0.1",
                                 "--grace-s", "0")
    try:
        assert ready.exists(), p.stderr.read() if p.poll() is not None else "no ready file"
        time.sleep(0.5)
        assert p.poll() is None  # no DONE yet: it serves on
        (store / "DONE").write_text('{"step": 10}')
        assert p.wait(15) == 0
        out = p.stdout.read()
        assert f"the run is done (file://{store}/DONE exists)" in out and out.count("the run is done") == 1
    finally:
        stop(p)


def test_a_store_that_cannot_be_read_is_retried_and_said_once(capsys):
    """watch_done in-process: errors never stop the rendezvous of a running job; DONE does."""
    import threading

    from spotshield.distributed.coordinator import watch_done
    from spotshield.errors import StoreError

    class Flaky:
        url = "gs://b/runs/r"
        answers = [StoreError("403 Forbidden"), StoreError("403 Forbidden"), ConnectionError("reset"), False, True]

        def exists(self, key):
            assert key == "DONE"
            a = self.answers.pop(0)
            if isinstance(a, Exception):
                raise a
            return a

    stop = threading.Event()
    watch_done(Flaky(), stop, poll_s=0.01, grace_s=0)
    assert stop.is_set()
    err = capsys.readouterr()
    warnings = err.err.strip().splitlines()
    assert len(warnings) == 2  # the repeated 403 once, the reset once
    assert warnings[0].startswith("spotshield-coordinator: warning: cannot read gs://b/runs/r/DONE (StoreError: 403")
    assert "the run is done (gs://b/runs/r/DONE exists)" in err.out


def test_bad_polling_options_are_one_line_and_exit_1():
    p = subprocess.run([sys.executable, "-m", "spotshield.distributed.coordinator", "--port", "0", "--poll-s", "0"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1
    assert p.stderr.strip() == "error: --poll-s must be > 0 and --grace-s >= 0, not 0 and 30"
