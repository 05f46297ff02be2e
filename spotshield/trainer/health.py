"""/healthz for managed-instance-group auto-healing: 200 while steps progress, 503 when stalled."""
from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from spotshield.errors import SpotShieldError


class Heartbeat:
    """The training loop calls beat() after each step; the server reads age().

    phase_file: where a worker under torchrun also writes its phase whenever it changes, for the
    node's /healthz (spotshield/distributed/nodehealth.py), which no worker serves there: the
    emulator reads a phase past "starting" as the end of the guest's start-up."""

    def __init__(self, stall_timeout_s: float, phase_file: str | Path | None = None):
        self.stall_timeout_s = stall_timeout_s
        # Start-up (imports, data, resume) counts as progress until the first timeout passes.
        self.last = time.monotonic()
        self.step = 0
        self.phase = "starting"
        self.phase_file = Path(phase_file) if phase_file else None

    def beat(self, step: int, phase: str = "training") -> None:
        self.last = time.monotonic()
        self.step = step
        if phase != self.phase and self.phase_file is not None:
            write_phase(self.phase_file, phase)
        self.phase = phase

    def age(self) -> float:
        return time.monotonic() - self.last

    def healthy(self) -> bool:
        return self.age() < self.stall_timeout_s


def write_phase(path: Path, phase: str) -> None:
    """Replace the file whole, so a reader never sees half a word. A failed write costs only the
    node's reported phase, never the training step that beat."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        tmp.write_text(phase)
        os.replace(tmp, path)
    except OSError as e:
        print(f"spotshield: cannot write the phase file {path}: {e.strerror}", file=sys.stderr)


def read_phase(path: Path | None) -> str:
    """The phase a worker last wrote; "starting" until it wrote one."""
    if path is None:
        return "starting"
    try:
        return path.read_text().strip() or "starting"
    except OSError:
        return "starting"


class HealthServer:
    """A tiny threaded HTTP server on 0.0.0.0:<port> (GCE health checks come from outside)."""

    def __init__(self, heartbeat: Heartbeat, port: int, host: str = "0.0.0.0"):
        hb = heartbeat

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                if self.path.split("?")[0] != "/healthz":
                    self.send_error(404)
                    return
                ok = hb.healthy()
                body = json.dumps({"ok": ok, "step": hb.step, "phase": hb.phase,
                                   "seconds_since_step": round(hb.age(), 3)}).encode()
                self.send_response(200 if ok else 503)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):  # keep the trainer's stderr for real problems
                pass

        try:
            self.server = ThreadingHTTPServer((host, port), Handler)
        except OSError as e:
            raise SpotShieldError(
                f"health port {port} is unavailable ({e.strerror}); set SPOTSHIELD_HEALTH_PORT or health_port (0 disables)"
            ) from None
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, name="healthz", daemon=True)

    def start(self) -> "HealthServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
