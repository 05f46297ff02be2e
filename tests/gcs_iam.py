"""An IAM check in front of fake-gcs-server, which enforces none.

GcsIam forwards every GCS JSON API request to the real fake-gcs-server after mapping it to the
permission Google checks for it (https://cloud.google.com/storage/docs/access-control/iam-json),
and answers 403 (as GCS does) when the granted role lacks it. An unknown request is denied too, so
a new kind of call shows up as a denial rather than passing unnoticed. It records what was used.
"""
from __future__ import annotations

import json
import re
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlsplit

_BUCKET = re.compile(r"^/storage/v1/b/([^/]+)$")
_OBJECTS = re.compile(r"^/storage/v1/b/([^/]+)/o$")
_OBJECT = re.compile(r"^/(?:storage|download/storage)/v1/b/([^/]+)/o/(.+)$")
_UPLOAD = re.compile(r"^/upload/storage/v1/b/([^/]+)/o$")


class GcsIam:
    def __init__(self, upstream: str, permissions: frozenset[str] | set[str]):
        self.upstream, self.permissions = upstream.rstrip("/"), set(permissions)
        self.used: set[str] = set()
        self.denied: list[tuple[str, str, str]] = []  # (method, path, permission)
        owner = self

        class Handler(_Handler):
            iam = owner

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> "GcsIam":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    def exists(self, bucket: str, name: str) -> bool:
        try:
            with urllib.request.urlopen(f"{self.upstream}/storage/v1/b/{bucket}/o/{quote(name, safe='')}", timeout=10):
                return True
        except urllib.error.HTTPError:
            return False

    def needed(self, method: str, path: str, query: dict, body: bytes) -> list[str]:
        """The permissions GCS checks for one request (empty list: an unknown request)."""
        if m := _BUCKET.match(path):
            return ["storage.buckets.get"] if method == "GET" else []
        if _OBJECTS.match(path):
            return ["storage.objects.list"] if method == "GET" else []
        if m := _OBJECT.match(path):
            return {"GET": ["storage.objects.get"], "DELETE": ["storage.objects.delete"],
                    "PATCH": ["storage.objects.update"], "PUT": ["storage.objects.update"]}.get(method, [])
        if m := _UPLOAD.match(path):
            if method == "PUT" or "upload_id" in query:  # the later requests of a resumable upload
                return ["storage.objects.create"]
            name = query.get("name")
            if not name:  # multipart / resumable start: the object's metadata is JSON in the body
                found = re.search(rb'"name"\s*:\s*("(?:[^"\\]|\\.)*")', body)
                name = json.loads(found.group(1)) if found else None
            perms = ["storage.objects.create"]
            # overwriting an existing object also needs delete (a create-only write fails with 412 instead)
            if name and query.get("ifGenerationMatch") != "0" and self.exists(m.group(1), name):
                perms.append("storage.objects.delete")
            return perms
        return []


class _Handler(BaseHTTPRequestHandler):
    iam: GcsIam
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        needed = self.iam.needed(self.command, parts.path, query, body)
        missing = [p for p in needed if p not in self.iam.permissions] if needed else ["<unknown request>"]
        if missing:
            self.iam.denied.append((self.command, parts.path, missing[0]))
            data = json.dumps({"error": {"code": 403, "message": f"caller does not have {missing[0]} access",
                                         "errors": [{"reason": "forbidden"}]}}).encode()
            return self._reply(403, {"Content-Type": "application/json"}, data)
        self.iam.used.update(needed)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
        req = urllib.request.Request(self.iam.upstream + self.path, data=body if length else None,
                                     method=self.command, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                self._reply(r.status, dict(r.headers), r.read())
        except urllib.error.HTTPError as e:
            self._reply(e.code, dict(e.headers), e.read())

    def _reply(self, code: int, headers: dict, data: bytes) -> None:
        self.send_response(code)
        for k, v in headers.items():
            if k.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle
