"""HTTP plumbing for the Compute stand-in: a threaded loopback server that hands each request to
a responses.Router: the Compute API's, or another router's for the paths it owns (the emulator's
control API, spotshield/local/control.py, with the Region as its target).
"""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from spotshield.errors import SpotShieldError
from spotshield.local.compute.models import ComputeBackend
from spotshield.local.compute.responses import COMPUTE, Router
from spotshield.local.procs import free_port, port_in_use


class ComputeServer:
    def __init__(self, backend: ComputeBackend, port: int | None = None,
                 routers: list[tuple[Router, Any]] | None = None):
        """routers: (router, target) pairs tried before the Compute API, for the paths they own."""
        self.backend, self.port = backend, port
        self.routers = [*(routers or []), (COMPUTE, backend)]
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "ComputeServer":
        if self.port and port_in_use(self.port):
            raise SpotShieldError(f"compute port {self.port} is already in use; pick another with --compute-port")
        server = self

        class Handler(_Handler):
            owner = server

        try:
            self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port or free_port()), Handler)
        except OSError as e:
            raise SpotShieldError(f"cannot listen on port {self.port}: {e.strerror}") from None
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        threading.Thread(target=self._httpd.serve_forever, name="compute-api", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None


class _Handler(BaseHTTPRequestHandler):
    owner: ComputeServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # the daemon log stays readable
        pass

    def _handle(self, method: str) -> None:
        url = urlparse(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError:
            status, out = 400, {"error": {"code": 400, "message": "Invalid JSON payload received.",
                                          "errors": [{"message": "Invalid JSON payload received.",
                                                      "domain": "global", "reason": "parseError"}]}}
        else:
            router, target = next((r, t) for r, t in self.owner.routers if r.owns(url.path) or r is COMPUTE)
            status, out = router.dispatch(target, method, url.path, query, body)
        data = json.dumps(out).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_DELETE(self):
        self._handle("DELETE")

    def do_PATCH(self):
        self._handle("PATCH")
