"""One preemption flag, set by a SIGTERM handler or by a watcher on the GCE metadata server.

On a Spot VM, GCE gives 30 s of notice: instance/preempted turns TRUE and the guest gets
an ACPI shutdown, which systemd turns into SIGTERM for our process. Either source sets the
flag; the training loop checks it at each step boundary. Nothing here touches torch.
"""
from __future__ import annotations

import os
import signal
import socket
import threading
import time
import urllib.error
import urllib.request

DEFAULT_METADATA_HOST = "metadata.google.internal"  # what Google's client libraries use
PREEMPTED_PATH = "/computeMetadata/v1/instance/preempted"
# wait_for_change holds the request open until the value changes; the server answers after
# at most timeout_sec, and we allow a little more on the socket.
_HANG_S = 60
_SOCKET_SLACK_S = 10
_RETRY_S = 1.0  # between failed requests: a metadata server restarting must not spin a core


class PreemptionFlag:
    """Set once; remembers who set it first and when (monotonic and unix time)."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self.source: str | None = None
        self.notice_t: float | None = None  # time.time()
        self.notice_mono: float | None = None  # time.monotonic()

    def set(self, source: str) -> None:
        with self._lock:
            if self._event.is_set():
                return
            self.source = source
            self.notice_t = time.time()
            self.notice_mono = time.monotonic()
            self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._event.wait(timeout)


def install_sigterm(flag: PreemptionFlag):
    """Route SIGTERM to the flag. Returns the previous handler (to restore)."""

    def handler(signum, frame):  # signal handlers must be quick: only set the flag
        flag.set("sigterm")

    return signal.signal(signal.SIGTERM, handler)


def metadata_host() -> str:
    return os.environ.get("GCE_METADATA_HOST") or DEFAULT_METADATA_HOST


def metadata_available(host: str | None = None) -> bool:
    """Is there a metadata server to watch? True when GCE_METADATA_HOST is set or the GCE name resolves."""
    if os.environ.get("GCE_METADATA_HOST"):
        return True
    try:
        socket.getaddrinfo(host or DEFAULT_METADATA_HOST, 80)
        return True
    except OSError:
        return False


class MetadataWatcher:
    """A daemon thread that long-polls instance/preempted and sets the flag on TRUE."""

    def __init__(self, flag: PreemptionFlag, host: str | None = None, hang_s: int = _HANG_S,
                 only_if_available: bool = False):
        self.flag = flag
        # auto mode: the DNS probe for metadata.google.internal runs in the thread, off the start-up path
        self.only_if_available = only_if_available
        self.active = True
        self.host = host or metadata_host()
        self.hang_s = hang_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="metadata-watcher", daemon=True)
        self.requests = 0
        self.last_error: str | None = None

    def start(self) -> "MetadataWatcher":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _get(self, etag: str | None) -> tuple[str, str | None]:
        url = f"http://{self.host}{PREEMPTED_PATH}"
        timeout = 5.0
        if etag is not None:
            url += f"?wait_for_change=true&timeout_sec={self.hang_s}&last_etag={etag}"
            timeout = self.hang_s + _SOCKET_SLACK_S
        req = urllib.request.Request(url, headers={"Metadata-Flavor": "Google"})
        self.requests += 1
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.read().decode().strip(), r.headers.get("ETag")

    def _run(self) -> None:
        if self.only_if_available and not metadata_available(self.host):
            self.active = False  # not on GCE and no emulator: nothing to watch
            return
        etag: str | None = None
        while not self._stop.is_set() and not self.flag.is_set():
            try:
                # First a plain read (the VM may already be preempted), then long-polls.
                value, new_etag = self._get(etag)
                self.last_error = None
            except (urllib.error.URLError, OSError, ValueError) as e:
                self.last_error = f"{type(e).__name__}: {e}"
                etag = None
                self._stop.wait(_RETRY_S)
                continue
            if value.upper() == "TRUE":
                self.flag.set("metadata")
                return
            etag = new_etag or "0"
