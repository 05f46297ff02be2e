"""Checkpoint and event storage behind one small Protocol.

Two backends, chosen by URL:
  file:///abs/path        a local directory (atomic rename, create-only via link)
  gs://bucket/prefix      Google Cloud Storage through google-cloud-storage
                          (create-only via ifGenerationMatch=0, so nothing committed
                          is ever overwritten)

The GCS backend honours STORAGE_EMULATOR_HOST exactly like Google's own client, which
is how the local emulator's fake-gcs-server stands in for the real service.
Keys are '/'-separated and relative to the store root.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse

from spotshield.errors import NotFoundError, PreconditionFailedError, StoreError

# An unreachable store must fail in seconds with one line, not retry for minutes.
_GCS_TIMEOUT_S = 30
_GCS_PROBE_TIMEOUT_S = 5


class Store(Protocol):
    url: str

    def read(self, key: str) -> bytes: ...
    def write(self, key: str, data: bytes, *, create_only: bool = False) -> None: ...
    def upload(self, key: str, path: str | Path, *, create_only: bool = False) -> None: ...
    def download(self, key: str, path: str | Path) -> None: ...
    def list(self, prefix: str = "") -> list[str]: ...
    def exists(self, key: str) -> bool: ...
    def delete(self, key: str) -> None: ...


def join(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))


class FileStore:
    """A directory on the local filesystem. Writes are temp file + fsync + rename."""

    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser().absolute()
        self.url = f"file://{self.root}"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"cannot create store directory {self.root}: {e.strerror}") from None

    def _path(self, key: str) -> Path:
        return self.root / key.strip("/")

    def read(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"{self.url}/{key} not found") from None

    def _commit(self, tmp: Path, dest: Path, create_only: bool) -> None:
        if create_only:
            try:
                os.link(tmp, dest)  # atomic create-or-fail, like ifGenerationMatch=0
            except FileExistsError:
                raise PreconditionFailedError(f"{dest} already exists") from None
            finally:
                tmp.unlink(missing_ok=True)
        else:
            os.replace(tmp, dest)

    def write(self, key: str, data: bytes, *, create_only: bool = False) -> None:
        dest = self._path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        self._commit(Path(tmp), dest, create_only)

    def upload(self, key: str, path: str | Path, *, create_only: bool = False) -> None:
        dest = self._path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.parent / f".{dest.name}.{uuid.uuid4().hex}.tmp"
        shutil.copyfile(path, tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        self._commit(tmp, dest, create_only)

    def download(self, key: str, path: str | Path) -> None:
        try:
            shutil.copyfile(self._path(key), path)
        except FileNotFoundError:
            raise NotFoundError(f"{self.url}/{key} not found") from None

    def list(self, prefix: str = "") -> list[str]:
        base = self._path(prefix) if prefix else self.root
        if not base.exists():
            return []
        if base.is_file():
            return [prefix.strip("/")]
        keys = []
        for p in base.rglob("*"):
            if p.is_file() and not p.name.endswith(".tmp"):
                keys.append(p.relative_to(self.root).as_posix())
        return sorted(keys)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        p = self._path(key)
        p.unlink(missing_ok=True)
        # Drop now-empty folders so a deleted checkpoint leaves no husk behind.
        parent = p.parent
        while parent != self.root and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent


class GCSStore:
    """A bucket prefix in Google Cloud Storage (or fake-gcs-server via STORAGE_EMULATOR_HOST)."""

    def __init__(self, bucket: str, prefix: str = "", *, client=None, check: bool = True):
        from google.api_core import exceptions as gexc
        from google.cloud import storage

        self._gexc = gexc
        self.prefix = prefix.strip("/")
        self.url = f"gs://{bucket}/{self.prefix}".rstrip("/")
        self._client = client or gcs_client()
        self._bucket = self._client.bucket(bucket)
        self._storage = storage
        if check:
            self._probe(bucket)

    def _probe(self, bucket: str) -> None:
        """Fail fast, with one line, on a bucket that is missing or out of reach. A one-object
        listing needs storage.objects.list, which the VMs hold (roles/storage.objectUser on the
        bucket); bucket.exists() would need storage.buckets.get, which no object role grants, so
        every VM would get 403, report the store unreachable and crash-loop (issue 12)."""
        try:
            pages = self._client.list_blobs(self._bucket, prefix=self.prefix or None, max_results=1,
                                            timeout=_GCS_PROBE_TIMEOUT_S, retry=None).pages
            next(pages, None)
        except self._gexc.NotFound:
            raise StoreError(f"bucket gs://{bucket} does not exist; create it first (make up does)") from None
        except self._gexc.Forbidden:
            raise StoreError(f"no permission to list {self.url} (storage.objects.list); grant the caller "
                             "roles/storage.objectUser on the bucket") from None
        except Exception as e:  # transport errors come in many types; all mean unreachable
            raise StoreError(f"cannot reach {self.url}: {type(e).__name__}; check network and credentials") from None

    def _name(self, key: str) -> str:
        return join(self.prefix, key)

    def _wrap(self, fn, key: str):
        try:
            return fn()
        except self._gexc.PreconditionFailed:
            raise PreconditionFailedError(f"{self.url}/{key} already exists") from None
        except self._gexc.NotFound:
            raise NotFoundError(f"{self.url}/{key} not found") from None
        except self._gexc.GoogleAPIError as e:
            raise StoreError(f"{self.url}/{key}: {e}") from None

    def read(self, key: str) -> bytes:
        blob = self._bucket.blob(self._name(key))
        return self._wrap(lambda: blob.download_as_bytes(timeout=_GCS_TIMEOUT_S), key)

    def write(self, key: str, data: bytes, *, create_only: bool = False) -> None:
        blob = self._bucket.blob(self._name(key))
        kw = {"if_generation_match": 0} if create_only else {}
        self._wrap(lambda: blob.upload_from_string(data, timeout=_GCS_TIMEOUT_S, **kw), key)

    def upload(self, key: str, path: str | Path, *, create_only: bool = False) -> None:
        blob = self._bucket.blob(self._name(key))
        kw = {"if_generation_match": 0} if create_only else {}
        self._wrap(lambda: blob.upload_from_filename(str(path), timeout=_GCS_TIMEOUT_S * 10, **kw), key)

    def download(self, key: str, path: str | Path) -> None:
        blob = self._bucket.blob(self._name(key))
        self._wrap(lambda: blob.download_to_filename(str(path), timeout=_GCS_TIMEOUT_S * 10), key)

    def list(self, prefix: str = "") -> list[str]:
        full = self._name(prefix)
        if full and not full.endswith("/") and prefix:
            full += "/" if not prefix.endswith("/") else ""
        blobs = self._wrap(lambda: list(self._client.list_blobs(self._bucket, prefix=full or None, timeout=_GCS_TIMEOUT_S)), prefix)
        cut = len(self.prefix) + 1 if self.prefix else 0
        return sorted(b.name[cut:] for b in blobs)

    def exists(self, key: str) -> bool:
        blob = self._bucket.blob(self._name(key))
        return bool(self._wrap(lambda: blob.exists(timeout=_GCS_TIMEOUT_S), key))

    def delete(self, key: str) -> None:
        blob = self._bucket.blob(self._name(key))
        try:
            self._wrap(lambda: blob.delete(timeout=_GCS_TIMEOUT_S), key)
        except NotFoundError:
            pass


# google-cloud-storage >= 3.x reads each bucket's metadata once, in a background thread, only to
# label its trace spans. That is storage.buckets.get, which the VMs do not hold (a 403 in the audit
# log at every trainer start, though the client then falls back): off unless the caller set it.
_BUCKET_METADATA_ENV = "DISABLE_GCS_PYTHON_CLIENT_OTEL_BUCKET_METADATA"


def gcs_client(project: str | None = None):
    """A storage client; anonymous against an emulator, ADC against real GCS."""
    from google.cloud import storage

    os.environ.setdefault(_BUCKET_METADATA_ENV, "true")

    emulator = os.environ.get("STORAGE_EMULATOR_HOST")
    if emulator:
        from google.auth.credentials import AnonymousCredentials

        return storage.Client(
            project=project or "spotshield-local",
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": emulator},
        )
    try:
        return storage.Client(project=project)
    except Exception as e:
        raise StoreError(
            f"no Google credentials ({type(e).__name__}); run 'gcloud auth application-default login'"
        ) from None


def open_store(url: str, *, check: bool = True) -> Store:
    """Open a store from its URL: file:///path or gs://bucket/prefix."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise StoreError(f"bad store URL {url!r}: use file:///absolute/path")
        return FileStore(parsed.path)
    if parsed.scheme == "gs":
        if not parsed.netloc:
            raise StoreError(f"bad store URL {url!r}: use gs://bucket/prefix")
        return GCSStore(parsed.netloc, parsed.path, check=check)
    raise StoreError(f"unsupported store URL {url!r}: use file:///path or gs://bucket/prefix")
