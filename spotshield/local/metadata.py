"""A per-instance stand-in for the GCE metadata server (metadata.google.internal).

Each emulated VM gets its own server on a free loopback port; the VM finds it through
GCE_METADATA_HOST=127.0.0.1:<port>, exactly as Google's client libraries do.

What matches the real server (https://cloud.google.com/compute/docs/metadata/querying-metadata):
  * every request must carry `Metadata-Flavor: Google`, else 403;
  * every response carries `Metadata-Flavor: Google` and an `ETag`;
  * `?wait_for_change=true` long-polls until the value changes (or `timeout_sec` passes),
    and `last_etag=` returns at once when the caller's ETag is already stale;
  * `?recursive=true` on a directory returns JSON; `?alt=json` returns a value as JSON;
  * `instance/preempted` is TRUE/FALSE; the token endpoint returns an OAuth token shape.
"""
from __future__ import annotations

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from spotshield.local.procs import free_port, port_in_use
from spotshield.errors import SpotShieldError

PREFIX = "/computeMetadata/v1/"
# The real server caps a hanging GET at about an hour; tests want seconds. Callers pass timeout_sec.
MAX_WAIT_S = 3600
# Fake OAuth tokens live as long as real ones (1 h) so clients do not refresh in a loop.
TOKEN_LIFETIME_S = 3600


class MetadataServer:
    """Serves one instance's metadata. Thread safe; values can change while it runs."""

    def __init__(self, *, name: str, instance_id: str, zone: str, project_id: str,
                 project_number: str = "123456789012", attributes: dict[str, str] | None = None,
                 port: int | None = None):
        self.name = name
        self.port = port
        self._cond = threading.Condition()
        self._values: dict[str, str] = {
            "instance/id": str(instance_id),
            "instance/name": name,
            "instance/hostname": f"{name}.{zone}.c.{project_id}.internal",
            "instance/zone": f"projects/{project_number}/zones/{zone}",
            "instance/preempted": "FALSE",
            "instance/maintenance-event": "NONE",
            "project/project-id": project_id,
            "project/numeric-project-id": str(project_number),
        }
        self._attributes: dict[str, str] = dict(attributes or {})
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- state -------------------------------------------------------------
    def set_preempted(self, value: bool = True) -> None:
        self._set("instance/preempted", "TRUE" if value else "FALSE")

    def set_attribute(self, key: str, value: str) -> None:
        with self._cond:
            self._attributes[key] = value
            self._cond.notify_all()

    def _set(self, path: str, value: str) -> None:
        with self._cond:
            self._values[path] = value
            self._cond.notify_all()

    def lookup(self, path: str, recursive: bool) -> tuple[int, str | dict | None]:
        """(status, value) for a path under computeMetadata/v1/; value is str or JSON-able."""
        path = path.strip("/")
        with self._cond:
            if path in self._values:
                return 200, self._values[path]
            if path == "instance/attributes":
                if recursive:
                    return 200, dict(self._attributes)
                return 200, "".join(k + "\n" for k in sorted(self._attributes))
            if path.startswith("instance/attributes/"):
                key = path[len("instance/attributes/"):]
                if key in self._attributes:
                    return 200, self._attributes[key]
                return 404, None
            if path == "instance/service-accounts/default/token":
                return 200, {"access_token": "spotshield-local-token", "expires_in": TOKEN_LIFETIME_S,
                             "token_type": "Bearer"}
            if path == "instance/service-accounts/default/email":
                return 200, "spotshield-local@spotshield-local.iam.gserviceaccount.com"
            if path in ("instance", "project", ""):
                tree = self._tree(path)
                if recursive:
                    return 200, tree
                return 200, "".join(k + ("/" if isinstance(v, dict) else "") + "\n" for k, v in sorted(tree.items()))
        return 404, None

    def _tree(self, root: str) -> dict:
        tree: dict = {}
        for key, value in self._values.items():
            if root and not key.startswith(root + "/"):
                continue
            parts = key[len(root) + 1:].split("/") if root else key.split("/")
            node = tree
            for p in parts[:-1]:
                node = node.setdefault(p, {})
            node[parts[-1]] = value
        if root in ("instance", ""):
            inst = tree if root == "instance" else tree.setdefault("instance", {})
            inst["attributes"] = dict(self._attributes)
        return tree

    def wait_for_change(self, path: str, recursive: bool, last_etag: str | None, timeout_s: float):
        """Block until the value's ETag differs from last_etag (or from now), or timeout."""
        deadline = time.monotonic() + min(timeout_s, MAX_WAIT_S)
        with self._cond:
            status, value = self.lookup(path, recursive)
            start_etag = last_etag or etag_of(value)
            while status == 200 and etag_of(value) == start_etag:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
                status, value = self.lookup(path, recursive)
            return status, value

    # ---- lifecycle ---------------------------------------------------------
    @property
    def host(self) -> str:
        """What GCE_METADATA_HOST should be for this instance."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> "MetadataServer":
        port = self.port or free_port()
        if self.port and port_in_use(port):
            raise SpotShieldError(f"metadata port {port} is already in use; pick another")
        server = self

        class Handler(_Handler):
            metadata = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name=f"metadata-{self.name}",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        # The region's stop and a VM's own power-off can stop one server at once: take it under the
        # lock, so exactly one of them shuts it down.
        with self._cond:
            httpd, self._httpd = self._httpd, None
            self._cond.notify_all()
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()

    def __enter__(self) -> "MetadataServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def etag_of(value) -> str:
    raw = json.dumps(value, sort_keys=True) if not isinstance(value, str) else value
    return hashlib.md5(raw.encode()).hexdigest()[:16]


class _Handler(BaseHTTPRequestHandler):
    metadata: MetadataServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # one line per request would drown the serial logs
        pass

    def _send(self, status: int, body: str, etag: str | None = None, ctype: str = "application/text") -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Metadata-Flavor", "Google")
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        if etag:
            self.send_header("ETag", etag)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlparse(self.path)
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if self.headers.get("Metadata-Flavor") != "Google":
            self._send(403, "Missing required header: Metadata-Flavor\n", ctype="text/plain")
            return
        if self.headers.get("X-Forwarded-For"):  # the real server refuses proxied requests
            self._send(403, "Request had X-Forwarded-For header\n", ctype="text/plain")
            return
        if not url.path.startswith(PREFIX) and url.path.rstrip("/") + "/" != PREFIX:
            self._send(404, "Not Found\n", ctype="text/plain")
            return
        path = url.path[len(PREFIX):] if url.path.startswith(PREFIX) else ""
        recursive = q.get("recursive", "").lower() == "true"
        if q.get("wait_for_change", "").lower() == "true":
            try:
                timeout_s = float(q.get("timeout_sec", MAX_WAIT_S))
            except ValueError:
                self._send(400, "bad timeout_sec\n", ctype="text/plain")
                return
            status, value = self.metadata.wait_for_change(path, recursive, q.get("last_etag"), timeout_s)
        else:
            status, value = self.metadata.lookup(path, recursive)
        if status != 200:
            self._send(status, "Not Found\n", ctype="text/html")
            return
        if isinstance(value, (dict, list)) or q.get("alt") == "json":
            self._send(200, json.dumps(value), etag_of(value), ctype="application/json")
        else:
            self._send(200, value, etag_of(value))
