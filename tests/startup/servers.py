"""Small HTTP servers for the boot-script tests, on 127.0.0.1 free ports.

MetadataServer: a GCE metadata server for one instance (requires Metadata-Flavor: Google,
answers 403 without it and 404 for unknown paths). The emulator engineer builds the
production one; this one only serves what a test gives it.
ComputeRecorder: records every request (method, path, query, Authorization) and answers
200 with a DONE operation, like the Compute API's regionInstanceGroupManagers.resize.
"""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


class _Server:
    def __init__(self, handler_cls):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler_cls)
        self.httpd.owner = self
        self.requests: list[dict] = []
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


class _Quiet(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass

    def _send(self, code: int, body: bytes, ctype: str = "text/plain") -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _MetadataHandler(_Quiet):
    def do_GET(self):
        owner = self.server.owner
        path = urlsplit(self.path).path
        owner.requests.append({"path": path, "flavor": self.headers.get("Metadata-Flavor")})
        if self.headers.get("Metadata-Flavor") != "Google":
            return self._send(403, b"Missing Metadata-Flavor:Google header.")
        prefix = "/computeMetadata/v1/"
        key = path[len(prefix):] if path.startswith(prefix) else None
        if key not in owner.values:
            return self._send(404, b"not found")
        value = owner.values[key]
        if isinstance(value, (dict, list)):
            return self._send(200, json.dumps(value).encode(), "application/json")
        return self._send(200, str(value).encode())


class MetadataServer(_Server):
    def __init__(self, attributes: dict[str, str], *, name="ss-vm-1", project="demo-project-123",
                 zone="us-central1-b", token="fake-token-123"):
        super().__init__(_MetadataHandler)
        self.values = {f"instance/attributes/{k}": v for k, v in attributes.items()}
        self.values.update({
            "instance/name": name,
            "instance/id": "4242",
            "instance/zone": f"projects/123456/zones/{zone}",
            "instance/preempted": "FALSE",
            "project/project-id": project,
            "instance/service-accounts/default/token": {"access_token": token, "expires_in": 3599,
                                                       "token_type": "Bearer"},
        })


class _ComputeHandler(_Quiet):
    def _record(self):
        owner = self.server.owner
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        owner.requests.append({"method": self.command, "path": parts.path, "query": parts.query,
                               "authorization": self.headers.get("Authorization"),
                               "body": self.rfile.read(length) if length else b""})
        self._send(200, json.dumps({"kind": "compute#operation", "status": "DONE"}).encode(), "application/json")

    do_GET = do_POST = _record


class ComputeRecorder(_Server):
    def __init__(self):
        super().__init__(_ComputeHandler)

    @property
    def url(self) -> str:
        return f"http://{self.host}"
