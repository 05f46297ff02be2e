"""The bucket and run-store layout: the one place that names every key SpotShield writes.

Bucket (gs://<bucket>/ on GCP, fake-gcs-server locally):
    builds/spotshield-<version>-<hash>.tar.gz   the published build (spotshield/buildinfo.py)
    workdirs/<sha256 prefix>.tar.gz              a user's packed workdir (command mode)
    runs/<run-id>/                               one run's store (below)

Run store (relative keys; the store URL is gs://<bucket>/runs/<run-id> or file://...):
    ckpt/step-NNNNNN/<files>, ckpt/step-NNNNNN/meta.json   a checkpoint; the marker is written last
                                                           (one process: state.pt; a distributed job,
                                                           marker "backend": "dcp": .metadata and one
                                                           __<rank>_<n>.distcp per rank)
    quarantine/step-NNNNNN-<id>/                           a checkpoint that failed verification
    events/<run-id>/<host>-<boot>[.NNNN].jsonl             event segments (spotshield/events.py)
    events/<run-id>/<host>-<boot>-vm.jsonl                 the boot scripts' events of that boot (vm_boot, ...)
    final/model.pt                                         the final weights
    DONE                                                   the run finished (JSON: step, accuracy, t, host, boot)
    STOPPED                                                the boot script stopped the group (JSON: reason,
                                                           error, boots, t; written by the crash-loop breaker)
    crashes.json                                           the crash-loop breaker's counter of failed boots
    deadline.json                                          the deadline controller's last tick (deadline, slack,
                                                           where it runs, the decision and its reason, moves)

The checkpoint rules here are torch-free, so the status view and the loader agree on what
"committed" means: a folder counts only when its marker parses, names this step, carries the
current format and lists its files. Checksums are verified by the loader, which reads the files.
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from spotshield.errors import NotFoundError

BUILDS_PREFIX = "builds"
WORKDIRS_PREFIX = "workdirs"
RUNS_PREFIX = "runs"

CKPT_PREFIX = "ckpt"
QUARANTINE_PREFIX = "quarantine"
EVENTS_PREFIX = "events"
MARKER = "meta.json"
FORMAT = 1  # bump when the checkpoint layout changes incompatibly
DCP_BACKEND = "dcp"  # marker "backend" of a torch.distributed.checkpoint folder; absent: one state.pt
DONE_KEY = "DONE"
FINAL_KEY = "final/model.pt"
STOPPED_KEY = "STOPPED"
CRASHES_KEY = "crashes.json"  # startup.sh: {"failures", "step", "build", "error", "t", "host", "boot"}
DEADLINE_KEY = "deadline.json"  # the deadline controller's last tick (spotshield/deadline/service.py)
VM_EVENTS_SUFFIX = "-vm.jsonl"  # startup.sh / shutdown.sh write events/<run-id>/<host>-<boot>-vm.jsonl

_FOLDER_RE = re.compile(r"^step-(\d+)$")


def bucket_url(bucket: str) -> str:
    """gs://<bucket> for a bucket name or a gs:// URL."""
    return bucket.rstrip("/") if bucket.startswith("gs://") else f"gs://{bucket}"


def runs_store_url(bucket: str, run_id: str) -> str:
    """The store every VM of a run trains into (boot contract: metadata spotshield-store)."""
    return f"{bucket_url(bucket)}/{RUNS_PREFIX}/{run_id}"


def run_prefix(run_id: str) -> str:
    """The run's store, as a key prefix relative to the bucket."""
    return f"{RUNS_PREFIX}/{run_id}"


def build_key(archive_name: str) -> str:
    return f"{BUILDS_PREFIX}/{archive_name}"


def workdir_key(digest: str) -> str:
    return f"{WORKDIRS_PREFIX}/{digest}.tar.gz"


def events_prefix(run_id: str) -> str:
    return f"{EVENTS_PREFIX}/{run_id}"


def vm_events_key(run_id: str, host: str, boot: str) -> str:
    """The object the boot scripts rewrite after each of their events (one per host and boot)."""
    return f"{events_prefix(run_id)}/{host}-{boot}{VM_EVENTS_SUFFIX}"


# --- checkpoints --------------------------------------------------------------------------
def folder_for(step: int) -> str:
    return f"{CKPT_PREFIX}/step-{step:06d}"


def quarantine_folder(step: int, suffix: str) -> str:
    return f"{QUARANTINE_PREFIX}/step-{step:06d}-{suffix}"


def checkpoint_folders(keys) -> dict[int, set[str]]:
    """step -> file names present, from a listing of keys under ckpt/ (other keys are ignored)."""
    out: dict[int, set[str]] = {}
    for key in keys:
        parts = key.split("/")
        if len(parts) != 3 or parts[0] != CKPT_PREFIX:
            continue
        m = _FOLDER_RE.match(parts[1])
        if m:
            out.setdefault(int(m.group(1)), set()).add(parts[2])
    return out


def list_checkpoints(store) -> dict[int, set[str]]:
    return checkpoint_folders(store.list(CKPT_PREFIX))


def parse_marker(data: bytes, step: int) -> dict:
    """The marker of ckpt/step-<step>/, validated; ValueError says what is wrong with it."""
    try:
        meta = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValueError("meta.json is not valid JSON") from None
    if not isinstance(meta, dict) or meta.get("step") != step or not isinstance(meta.get("files"), dict):
        raise ValueError("meta.json does not describe this checkpoint")
    if meta.get("format") != FORMAT:
        raise ValueError(f"checkpoint format {meta.get('format')} is not {FORMAT}")
    return meta


def read_marker(store, step: int) -> dict:
    """parse_marker of the stored marker; ValueError when it is missing or invalid."""
    try:
        data = store.read(f"{folder_for(step)}/{MARKER}")
    except NotFoundError:
        raise ValueError("meta.json is missing") from None
    return parse_marker(data, step)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> tuple[str, int]:
    """(sha256 hex, bytes) of a file, read in chunks so a multi-GB shard never sits in memory."""
    h, n = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
            n += len(block)
    return h.hexdigest(), n


def check_file(name: str, size: int, digest, want: dict) -> None:
    """The marker's rule for one file: ValueError when its size or sha256 differs from `want`.
    `digest` is the sha256 hex, or a callable computing it (skipped when the size is already wrong)."""
    if size != want.get("bytes"):
        raise ValueError(f"{name} has {size} bytes, marker says {want.get('bytes')} (truncated)")
    if (digest() if callable(digest) else digest) != want.get("sha256"):
        raise ValueError(f"{name} sha256 mismatch (corrupt)")


def verify_files(store, step: int, meta: dict) -> dict[str, bytes]:
    """Read every file the marker lists and check its size and sha256: {name: bytes}.
    ValueError names the first file that is missing, truncated or corrupt."""
    folder = folder_for(step)
    blobs = {}
    for name, want in meta["files"].items():
        try:
            data = store.read(f"{folder}/{name}")
        except NotFoundError:
            raise ValueError(f"{name} is missing") from None
        check_file(name, len(data), lambda: sha256(data), want)
        blobs[name] = data
    return blobs


def newest_committed(store, folders: dict[int, set[str]] | None = None) -> tuple[int, dict] | None:
    """(step, marker) of the newest checkpoint whose marker is valid, without reading its files;
    None when there is none. The loader applies the same rule, then verifies checksums."""
    folders = list_checkpoints(store) if folders is None else folders
    for step in sorted((s for s, names in folders.items() if MARKER in names), reverse=True):
        try:
            return step, read_marker(store, step)
        except ValueError:
            continue
    return None


# --- folder operations: one writer at a time (the single trainer, or rank 0 of a job) -------
def partial_checkpoints(folders: dict[int, set[str]]) -> list[int]:
    """Steps whose folder has no marker: a persist that was killed before its commit."""
    return sorted(step for step, names in folders.items() if MARKER not in names)


def retention_victims(folders: dict[int, set[str]], keep: int) -> list[int]:
    """Steps with a marker beyond the newest `keep`, oldest first: what retention deletes."""
    steps = sorted(step for step, names in folders.items() if MARKER in names)
    return steps[: max(0, len(steps) - keep)]


def delete_checkpoint(store, step: int, names: set[str]) -> None:
    """Delete a checkpoint folder, marker first: a half-deleted folder must not look committed."""
    for name in sorted(names, key=lambda n: n != MARKER):
        store.delete(f"{folder_for(step)}/{name}")


def quarantine_checkpoint(store, step: int, names: set[str], suffix: str) -> str:
    """Copy a folder that failed verification to quarantine/step-N-<suffix>/, then delete it.
    Returns the quarantine folder."""
    dest = quarantine_folder(step, suffix)
    for name in names:
        try:
            store.write(f"{dest}/{name}", store.read(f"{folder_for(step)}/{name}"), create_only=True)
        except NotFoundError:
            pass
    delete_checkpoint(store, step, names)
    return dest


def main(argv: list[str] | None = None) -> int:
    """`python -m spotshield.layout newest-committed <store-url>`: the step of the newest committed
    checkpoint, or `none`. startup.sh's crash-loop breaker asks this to tell progress from none."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] != "newest-committed":
        print("usage: python -m spotshield.layout newest-committed <store-url>", file=sys.stderr)
        return 2
    from spotshield.errors import SpotShieldError
    from spotshield.storage import open_store

    try:
        found = newest_committed(open_store(args[1], check=False))
    except SpotShieldError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print("none" if found is None else found[0])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
