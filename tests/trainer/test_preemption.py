"""SIGTERM and the GCE metadata watcher both set the one preemption flag."""
import os
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from spotshield.trainer.preemption import MetadataWatcher, PreemptionFlag, install_sigterm


class FakeMetadata:
    """A tiny metadata server: instance/preempted, long-poll with ETag, header enforced."""

    def __init__(self):
        self.preempted = threading.Event()
        self.requests: list[tuple[str, str | None]] = []
        self.rejected = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                flavor = self.headers.get("Metadata-Flavor")
                outer.requests.append((self.path, flavor))
                if flavor != "Google":
                    outer.rejected += 1
                    self.send_error(403, "Missing Metadata-Flavor:Google header")
                    return
                if not self.path.startswith("/computeMetadata/v1/instance/preempted"):
                    self.send_error(404)
                    return
                if "wait_for_change=true" in self.path and "last_etag=etag-false" in self.path:
                    outer.preempted.wait(10)  # hang until the value changes, like GCE
                value = "TRUE" if outer.preempted.is_set() else "FALSE"
                body = value.encode()
                self.send_response(200)
                self.send_header("ETag", f"etag-{value.lower()}")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.preempted.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def metadata():
    m = FakeMetadata()
    yield m
    m.stop()


def test_watcher_sets_flag_when_preempted_turns_true(metadata, monkeypatch):
    monkeypatch.setenv("GCE_METADATA_HOST", metadata.host)  # as Google's libraries read it
    flag = PreemptionFlag()
    watcher = MetadataWatcher(flag, only_if_available=True).start()
    # the watcher is now parked in a wait_for_change long-poll
    for _ in range(100):
        if any("wait_for_change=true" in p for p, _ in metadata.requests):
            break
        threading.Event().wait(0.02)
    assert not flag.is_set()
    metadata.preempted.set()
    assert flag.wait(5)
    assert flag.source == "metadata" and flag.notice_t is not None
    assert metadata.rejected == 0
    assert all(f == "Google" for _, f in metadata.requests)
    watcher.stop()


def test_fake_server_really_checks_the_header(metadata):
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"http://{metadata.host}/computeMetadata/v1/instance/preempted", timeout=5)
    assert e.value.code == 403 and metadata.rejected == 1


def test_watcher_sees_an_already_preempted_vm(metadata):
    metadata.preempted.set()
    flag = PreemptionFlag()
    MetadataWatcher(flag, host=metadata.host).start()
    assert flag.wait(5) and flag.source == "metadata"


def test_auto_watcher_idles_without_a_metadata_server(monkeypatch):
    monkeypatch.delenv("GCE_METADATA_HOST", raising=False)
    monkeypatch.setattr("spotshield.trainer.preemption.metadata_available", lambda host=None: False)
    w = MetadataWatcher(PreemptionFlag(), only_if_available=True).start()
    w._thread.join(5)
    assert not w._thread.is_alive() and w.active is False and w.requests == 0


def test_sigterm_sets_the_flag_once():
    flag = PreemptionFlag()
    previous = install_sigterm(flag)
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        assert flag.wait(5)
        first_t = flag.notice_t
        flag.set("metadata")  # a second source does not overwrite the first notice
        assert flag.source == "sigterm" and flag.notice_t == first_t
    finally:
        signal.signal(signal.SIGTERM, previous)


def _torch_loaded(pid: int) -> bool:
    with open(f"/proc/{pid}/maps") as f:
        return "libtorch" in f.read()


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
def test_notice_during_startup_still_ends_in_emergency_checkpoint(tmp_path):
    import subprocess
    import time

    from script_helpers import catches_sigterm
    from trainer_helpers import REPO, cli_env, tiny_cli_args

    from spotshield.events import EXIT_PREEMPTED, read_events
    from spotshield.storage import open_store

    url = f"file://{tmp_path}/store"
    proc = subprocess.Popen(tiny_cli_args(url, epochs=1), env=cli_env(), cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while not catches_sigterm(proc.pid):
        assert proc.poll() is None and time.monotonic() < deadline, "trainer never caught SIGTERM"
        time.sleep(0.005)
    # The handler is in place before torch is imported (seconds on a VM): a notice during
    # start-up must end in an emergency checkpoint and exit 75, not a bare SIGTERM death.
    assert not _torch_loaded(proc.pid)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == EXIT_PREEMPTED, out.decode(errors="replace")[-2000:]
    names = [e["event"] for e in read_events(open_store(url), "store")]
    assert "preempt_notice" in names and "emergency_checkpoint" in names
