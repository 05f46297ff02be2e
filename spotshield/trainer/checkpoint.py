"""CheckpointManager: two-phase asynchronous checkpoints in a Store, committed by a marker.

Layout (keys relative to the store root):
    ckpt/step-000123/state.pt    torch.save of the whole training state (weights_only-loadable)
    ckpt/step-000123/meta.json   written LAST: the commit marker (step, epoch, sha256 and
                                 bytes of each file, wall time, strategy, reason, and the
                                 caller's small run state)
A framework's own format (a Lightning .ckpt, a Hugging Face checkpoint folder) is committed the
same way: its files go under ckpt/step-N/ and the marker lists them (save_files / load_files).
A folder without a valid meta.json does not exist. Every write is create-only
(ifGenerationMatch=0 on GCS), so nothing committed is ever overwritten. The newest `keep`
committed checkpoints are kept; a corrupt one found on load is moved to quarantine/.

Saving has two phases, as in CheckFreq and torch.distributed.checkpoint's async_save:
  1. snapshot (training thread): copy every tensor into CPU buffers that are reused
     across saves (pinned on CUDA). This copy is the only stall training pays...
  2. persist (background thread): serialise, checksum, write the files, then the marker,
     then apply retention. At most one persist is in flight: a new save first waits for
     the previous one (that wait is counted as stall).
"""
from __future__ import annotations

import io
import json
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import torch

from spotshield.errors import NotFoundError, SpotShieldError, StoreError
from spotshield.layout import (DCP_BACKEND, FORMAT, MARKER, check_file, folder_for, list_checkpoints, parse_marker,
                               quarantine_folder, sha256, sha256_file, verify_files)
from spotshield.storage import Store, join
from spotshield.trainer.config import CheckpointConfig

STATE_FILE = "state.pt"
__all__ = ["CheckpointManager", "CheckpointInfo", "LoadProblem", "folder_for", "STATE_FILE", "MARKER"]


@dataclass
class CheckpointInfo:
    """One committed (or attempted) checkpoint, as reported to the trainer and benchmarks."""

    step: int
    epoch: int
    reason: str
    path: str  # folder key, relative to the store
    stall_s: float = 0.0  # training-thread time: waiting for the previous persist + snapshot copy
    wait_s: float = 0.0  # the part of stall_s spent waiting for the previous persist
    persist_s: float = 0.0  # background time: serialise + checksum + write files + marker
    bytes: int = 0
    snapshot_t: float = 0.0  # unix time of the step boundary the snapshot captures
    committed: bool = False
    error: str | None = None


@dataclass
class LoadProblem:
    path: str
    problem: str


class _Buffers:
    """CPU tensors reused across snapshots, keyed by their position in the state tree."""

    def __init__(self, pin: bool):
        self.pin = pin
        self.by_key: dict[str, torch.Tensor] = {}

    def copy(self, key: str, t: torch.Tensor) -> torch.Tensor:
        buf = self.by_key.get(key)
        if buf is None or buf.shape != t.shape or buf.dtype != t.dtype:
            buf = torch.empty(t.shape, dtype=t.dtype, pin_memory=self.pin and t.is_cuda)
            self.by_key[key] = buf
        buf.copy_(t.detach(), non_blocking=t.is_cuda)
        return buf


def _snapshot_tree(obj: Any, buffers: _Buffers, key: str = "") -> Any:
    if isinstance(obj, torch.Tensor):
        return buffers.copy(key, obj)
    if isinstance(obj, dict):
        return {k: _snapshot_tree(v, buffers, f"{key}/{k}") for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        items = [_snapshot_tree(v, buffers, f"{key}/{i}") for i, v in enumerate(obj)]
        return items if isinstance(obj, list) else tuple(items)
    return obj  # ints, floats, strings, None: immutable, no copy needed


class CheckpointManager:
    """save() / load() / wait() / close(); everything else is an implementation detail."""

    def __init__(self, store: Store, config: CheckpointConfig | None = None, *, strategy: str = "",
                 extra_meta: dict | None = None, on_commit: Callable[[CheckpointInfo], None] | None = None):
        self.store = store
        self.config = config or CheckpointConfig()
        if self.config.keep < 2:
            raise ValueError("keep must be >= 2 so that a corrupt newest checkpoint has a fallback")
        self.strategy = strategy
        self.extra_meta = dict(extra_meta or {})
        self.on_commit = on_commit
        self._buffers = _Buffers(pin=torch.cuda.is_available())
        self._thread: threading.Thread | None = None
        self._inflight: CheckpointInfo | None = None
        self._error: BaseException | None = None
        self.last: CheckpointInfo | None = None  # the newest committed by this process
        self.committed_steps: set[int] = set()

    # --- phase 1 + 2 -------------------------------------------------------------------------
    def save(self, state: dict, *, step: int, epoch: int, reason: str, block: bool = False,
             meta: dict | None = None, filename: str = STATE_FILE) -> CheckpointInfo:
        """Snapshot `state` now (the only stall), then persist it in the background as `filename`.

        `meta` (small, JSON) goes into the marker. With block=True the call returns once the
        checkpoint is committed.
        """
        t0 = time.perf_counter()
        self.wait()  # at most one persist in flight; it also owns the buffers we reuse
        wait_s = time.perf_counter() - t0
        info = CheckpointInfo(step=step, epoch=epoch, reason=reason, path=folder_for(step), snapshot_t=time.time())
        tree = self.snapshot(state)
        info.stall_s = time.perf_counter() - t0
        info.wait_s = wait_s

        def write() -> dict:
            # serialise and checksum, then the file, create-only: a leftover from a crashed boot is an
            # error, not overwritten
            buf = io.BytesIO()
            torch.save(tree, buf)
            data = buf.getvalue()
            self.store.write(join(info.path, filename), data, create_only=True)
            return {filename: {"sha256": sha256(data), "bytes": len(data)}}

        return self._start(write, info, meta, block)

    def save_files(self, files: Mapping[str, str | Path], *, step: int, epoch: int, reason: str,
                   block: bool = False, meta: dict | None = None, snapshot_s: float = 0.0) -> CheckpointInfo:
        """Commit files a framework has already written locally (phase 1 was its own save,
        `snapshot_s` seconds long): upload each under ckpt/step-N/<name>, then the marker.
        The files must stay in place until the persist is done (wait())."""
        t0 = time.perf_counter()
        self.wait()
        wait_s = time.perf_counter() - t0
        info = CheckpointInfo(step=step, epoch=epoch, reason=reason, path=folder_for(step),
                              snapshot_t=time.time() - snapshot_s, wait_s=wait_s, stall_s=wait_s + snapshot_s)
        local = {name: Path(path) for name, path in files.items()}
        for name in local:
            if not name or "/" in name:
                raise ValueError(f"checkpoint file name {name!r} must be a plain file name")

        def write() -> dict:
            out = {}
            for name, path in sorted(local.items()):
                digest, size = sha256_file(path)
                out[name] = {"sha256": digest, "bytes": size}
                self.store.upload(join(info.path, name), path, create_only=True)
            return out

        return self._start(write, info, meta, block)

    def _start(self, write: Callable[[], dict], info: CheckpointInfo, meta: dict | None, block: bool) -> CheckpointInfo:
        self._inflight = info
        self._thread = threading.Thread(target=self._persist, args=(write, info, dict(meta or {})),
                                        name="ckpt-persist", daemon=True)
        self._thread.start()
        if block:
            self.wait()
        return info

    def snapshot(self, state: dict) -> dict:
        """Copy every tensor of `state` into reused CPU buffers (pinned on CUDA). Public for benchmarks."""
        tree = _snapshot_tree(state, self._buffers)
        if torch.cuda.is_available():
            torch.cuda.synchronize()  # the non-blocking device-to-host copies must land first
        return tree

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the in-flight persist. False if still running after `timeout` seconds.

        A failed persist is raised here, in the training thread, as a StoreError.
        """
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                return False
            self._thread = None
            self._inflight = None
        if self._error is not None:
            err, self._error = self._error, None
            raise StoreError(f"checkpoint persist failed: {err}") from None
        return True

    @property
    def in_flight(self) -> CheckpointInfo | None:
        return self._inflight if self._thread is not None and self._thread.is_alive() else None

    def _persist(self, write: Callable[[], dict], info: CheckpointInfo, meta: dict) -> None:
        t0 = time.perf_counter()
        try:
            # 1. the files (serialised and checksummed by `write`)
            files = write()
            # 2. emulate a slow store when asked (the marker is what makes the folder count)
            pace = self.config.persist_pace_s - (time.perf_counter() - t0)
            if pace > 0:
                time.sleep(pace)
            # 3. the marker, last
            info.bytes = sum(f["bytes"] for f in files.values())
            info.persist_s = time.perf_counter() - t0
            marker = {
                **meta, "format": FORMAT, "step": info.step, "epoch": info.epoch, "reason": info.reason,
                "strategy": self.strategy, "wall_time": info.snapshot_t, "committed_t": time.time(),
                "stall_s": info.stall_s, "persist_s": info.persist_s, "bytes": info.bytes,
                "files": files, **self.extra_meta,
            }
            self.store.write(join(info.path, MARKER), json.dumps(marker, indent=1).encode(), create_only=True)
            info.committed = True
            self.committed_steps.add(info.step)
            self.last = info
            # 4. retention, only after the new one is committed
            self._apply_retention()
            if self.on_commit is not None:
                self.on_commit(info)
        except BaseException as e:  # surfaced by wait() in the training thread
            info.error = str(e)
            self._error = e

    # --- listing, retention, loading -----------------------------------------------------------
    def _folders(self) -> dict[int, set[str]]:
        """step -> file names present under ckpt/step-N/."""
        return list_checkpoints(self.store)

    def committed(self) -> list[int]:
        """Steps that have a marker, oldest first (validity is checked by load())."""
        return sorted(step for step, names in self._folders().items() if MARKER in names)

    def _delete_folder(self, step: int, names: set[str] | None = None) -> None:
        folder = folder_for(step)
        names = names if names is not None else self._folders().get(step, set())
        # The marker goes first: a half-deleted folder must not look committed.
        for name in sorted(names, key=lambda n: n != MARKER):
            self.store.delete(join(folder, name))

    def _apply_retention(self) -> None:
        steps = self.committed()
        for step in steps[: max(0, len(steps) - self.config.keep)]:
            self._delete_folder(step)

    def discard_partial(self) -> list[int]:
        """Delete folders that never got a marker (a persist killed midway). Call before training."""
        dropped = []
        for step, names in self._folders().items():
            if MARKER not in names:
                self._delete_folder(step, names)
                dropped.append(step)
        return dropped

    def _quarantine(self, step: int, names: set[str]) -> str:
        dest = quarantine_folder(step, uuid.uuid4().hex[:8])
        for name in names:
            try:
                self.store.write(join(dest, name), self.store.read(join(folder_for(step), name)), create_only=True)
            except NotFoundError:
                pass
        self._delete_folder(step, names)
        return dest

    def _marker(self, step: int) -> dict:
        try:
            return parse_marker(self.store.read(join(folder_for(step), MARKER)), step)
        except NotFoundError:
            raise ValueError("meta.json is missing") from None

    def _read_verified(self, step: int, map_location, filename: str) -> tuple[dict, dict]:
        meta = self._marker(step)
        if meta.get("backend") == DCP_BACKEND:
            # sound, but another format: quarantining it would throw away the job's progress
            raise SpotShieldError(f"{self.store.url}/{folder_for(step)} is a distributed (DCP) checkpoint; "
                                  "resume it under torchrun (docs/distributed.md) or use a new store")
        blobs = verify_files(self.store, step, meta)
        if filename not in blobs:
            raise ValueError(f"{filename} is not in this checkpoint")
        try:
            state = torch.load(io.BytesIO(blobs[filename]), map_location=map_location, weights_only=True)
        except Exception as e:  # a checksum-valid file that torch cannot read: treat as corrupt
            raise ValueError(f"{filename} does not load: {type(e).__name__}") from None
        return state, meta

    def _download_verified(self, step: int, dest: Path) -> tuple[Path, dict]:
        meta = self._marker(step)
        folder = dest / f"step-{step:06d}"
        folder.mkdir(parents=True, exist_ok=True)
        for name, want in meta["files"].items():
            path = folder / name
            try:
                self.store.download(join(folder_for(step), name), path)
            except NotFoundError:
                raise ValueError(f"{name} is missing") from None
            check_file(name, path.stat().st_size, lambda: sha256_file(path)[0], want)
        return folder, meta

    def _newest_valid(self, read: Callable[[int], tuple[Any, dict]]):
        problems: list[LoadProblem] = []
        folders = self._folders()
        for step in sorted((s for s, n in folders.items() if MARKER in n), reverse=True):
            try:
                payload, meta = read(step)
            except ValueError as e:
                dest = self._quarantine(step, folders[step])
                problems.append(LoadProblem(folder_for(step), f"{e}; moved to {dest}"))
                continue
            self.committed_steps.add(step)
            return payload, meta, problems
        return None, None, problems

    def load(self, map_location="cpu", filename: str = STATE_FILE) -> tuple[dict | None, dict | None, list[LoadProblem]]:
        """The newest checkpoint whose marker and checksums are valid: (state, meta, problems).

        Corrupt or truncated newer checkpoints are moved to quarantine/ and reported in
        `problems`, then the previous one is tried. state and meta are None when no valid
        checkpoint exists.
        """
        return self._newest_valid(lambda step: self._read_verified(step, map_location, filename))

    def load_files(self, dest: str | Path) -> tuple[Path | None, dict | None, list[LoadProblem]]:
        """Like load(), for a framework's files: download the newest valid checkpoint's files into
        dest/step-NNNNNN/, each checked against the marker: (that folder, meta, problems)."""
        return self._newest_valid(lambda step: self._download_verified(step, Path(dest)))

    def close(self, timeout: float | None = None) -> bool:
        """Finish the in-flight persist (if any). True when nothing is left running."""
        return self.wait(timeout)
