"""Moving DCP files between a rank's local staging folder and the run's Store.

Why a local folder and then the Store, rather than a DCP StorageWriter that writes to the
Store directly: DCP's FileSystemWriter/Reader own the byte layout (.metadata, one
__<rank>_<n>.distcp per rank, the offsets that resharding reads). Re-implementing them over
the Store would copy private DCP code that changes between torch releases. The Store then
adds what DCP's writers do not have: create-only objects on GCS (ifGenerationMatch=0) and
the same code path for file:// and gs://. The cost is one write to the VM's local disk per
shard before its upload.

Loading goes the other way, lazily: a rank fetches `.metadata` and only the shard files its
load plan reads, and checks each against the marker's sha256 before DCP unpickles it.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from torch.distributed.checkpoint import FileSystemReader

from spotshield.errors import NotFoundError
from spotshield.layout import check_file, folder_for, sha256_file
from spotshield.storage import Store, join

METADATA_FILE = ".metadata"  # DCP's global metadata file, written by the coordinator rank


def reset_dir(path: Path) -> Path:
    """An empty folder at `path` (leftovers of a killed process are removed)."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)
    return path


def upload_dir(store: Store, local: Path, step: int) -> dict[str, dict]:
    """Upload every file of `local` into ckpt/step-N/, create-only. Returns the marker entries
    {name: {"sha256", "bytes"}} of what was uploaded; an upload is durable when it returns."""
    files = {}
    for path in sorted(p for p in local.iterdir() if p.is_file()):
        digest, size = sha256_file(path)
        # create-only: a leftover of an earlier boot under the same name is an error, never overwritten
        store.upload(join(folder_for(step), path.name), path, create_only=True)
        files[path.name] = {"sha256": digest, "bytes": size}
    return files


class VerifyingReader(FileSystemReader):
    """A DCP reader over a local folder that it fills from the Store on demand, verifying each
    file against the marker before DCP reads it. A missing, truncated or corrupt file raises
    ValueError, which DCP turns into the same CheckpointException on every rank."""

    def __init__(self, store: Store, step: int, meta: dict, local: Path):
        super().__init__(reset_dir(local))
        self.store, self.step, self.meta, self.local = store, step, meta, local
        self.fetched: set[str] = set()

    def _fetch(self, name: str) -> None:
        if name in self.fetched:
            return
        want = self.meta["files"].get(name)
        if want is None:
            raise ValueError(f"{name} is not listed in the marker")
        dest = self.local / name
        try:
            self.store.download(join(folder_for(self.step), name), dest)
        except NotFoundError:
            raise ValueError(f"{name} is missing") from None
        digest, size = sha256_file(dest)
        check_file(name, size, digest, want)
        self.fetched.add(name)

    def read_metadata(self, *args, **kwargs):
        if kwargs.get("rank") is not None:  # rank-local metadata: a format SpotShield never writes
            raise ValueError("rank-local DCP metadata is not used")
        self._fetch(METADATA_FILE)
        return super().read_metadata(*args, **kwargs)

    def read_data(self, plan, planner):
        # every file first, so a corrupt one fails before any tensor is overwritten in place
        for name in sorted({self.storage_data[item.storage_index].relative_path for item in plan.items}):
            self._fetch(name)
        return super().read_data(plan, planner)

    def cleanup(self) -> None:
        shutil.rmtree(self.local, ignore_errors=True)
