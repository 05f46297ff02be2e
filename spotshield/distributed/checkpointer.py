"""DistributedCheckpointer: CheckpointManager's rules for a job of many ranks, on torch.distributed.checkpoint.

Layout (keys relative to the run's store, spotshield/layout.py):
    ckpt/step-000123/.metadata          DCP's global metadata (rank 0)
    ckpt/step-000123/__<rank>_0.distcp   each rank's shard of the state
    ckpt/step-000123/meta.json           written LAST, by rank 0, only when every rank's files
                                         are durable: format, backend "dcp", step, world_size,
                                         and sha256 + bytes of every file of every rank
Saving has CheckpointManager's two phases:
  1. stage (training thread, every rank): dcp.async_save copies the state into CPU buffers
     that one DefaultStager keeps across saves (pinned on CUDA); that copy is the stall.
  2. persist (a background thread per rank): DCP writes the rank's shard to a local folder,
     the rank uploads it create-only, then every rank reports its files and digests to rank 0
     (gather on the checkpoint group); rank 0 writes the marker, applies keep-k and
     broadcasts the outcome, so every rank agrees whether the step committed.
At most one persist is in flight; a failed one is raised by the next wait() or save(), in the
training thread, on every rank alike.

All checkpoint collectives run on a dedicated gloo group: the persist thread's collectives
must never interleave with the training thread's (DDP's all-reduce, the stop agreement).
"""
from __future__ import annotations

import json
import os
import shutil
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Callable

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.api import CheckpointException
from torch.distributed.checkpoint.staging import DefaultStager, StagingOptions

from spotshield.distributed.shards import METADATA_FILE, VerifyingReader, reset_dir, upload_dir
from spotshield.distributed.stateful import RankLocal
from spotshield.errors import SpotShieldError, StoreError
from spotshield.layout import (DCP_BACKEND, FORMAT, MARKER, delete_checkpoint, folder_for, list_checkpoints,
                               parse_marker, partial_checkpoints, quarantine_checkpoint, retention_victims)
from spotshield.storage import Store, join
from spotshield.trainer.checkpoint import CheckpointInfo, LoadProblem
from spotshield.trainer.config import CheckpointConfig

__all__ = ["DistributedCheckpointer", "CheckpointInfo", "LoadProblem", "default_staging_dir"]

STAGING_ENV = "SPOTSHIELD_DCP_STAGING"
# A persist or load collective that waits longer than this for a peer fails instead of hanging.
DEFAULT_TIMEOUT_S = 300.0


def default_staging_dir() -> Path:
    """Where each rank stages its shard before the upload: $SPOTSHIELD_DCP_STAGING, else the
    user cache. The VM's boot disk must hold one shard per local rank."""
    return Path(os.environ.get(STAGING_ENV) or "~/.cache/spotshield/dcp-staging").expanduser()


def _reason(e: BaseException) -> str:
    """One line for an exception; DCP's CheckpointException names the first failing rank."""
    failures = getattr(e, "failures", None)
    if isinstance(failures, dict) and failures:
        rank, wrapped = sorted(failures.items())[0]
        inner = wrapped[0] if isinstance(wrapped, tuple) else wrapped
        return f"rank {rank}: {inner}"
    return f"{type(e).__name__}: {e}".splitlines()[0][:300]


class DistributedCheckpointer:
    """save() / load() / wait() / close() for every rank of a job; each call is collective."""

    def __init__(self, store: Store, config: CheckpointConfig | None = None, *, staging_dir: str | Path | None = None,
                 group=None, strategy: str = "", extra_meta: dict | None = None,
                 on_commit: Callable[[CheckpointInfo], None] | None = None, timeout_s: float = DEFAULT_TIMEOUT_S):
        if not (dist.is_available() and dist.is_initialized()):
            raise SpotShieldError("the distributed checkpointer needs torch.distributed initialised; launch with torchrun")
        self.store = store
        self.config = config or CheckpointConfig()
        if self.config.keep < 2:
            raise ValueError("keep must be >= 2 so that a corrupt newest checkpoint has a fallback")
        self.strategy = strategy
        self.extra_meta = dict(extra_meta or {})
        self.on_commit = on_commit
        # new_group is itself collective: every rank constructs its checkpointer at the same point
        self.group = group or dist.new_group(backend="gloo", timeout=timedelta(seconds=timeout_s))
        # ranks within the checkpoint group: DCP names shards and picks its coordinator by them
        self.rank, self.world = dist.get_rank(self.group), dist.get_world_size(self.group)
        self.staging = reset_dir(Path(staging_dir or default_staging_dir()).expanduser() / f"rank-{self.rank}")
        cuda = torch.cuda.is_available()
        # One stager for the checkpointer's life: it caches the staged CPU storages (pinned on CUDA)
        # and refills them on each save, so only the first save allocates.
        self._stager = DefaultStager(StagingOptions(use_pinned_memory=cuda, use_shared_memory=False,
                                                    use_async_staging=False, use_non_blocking_copy=cuda))
        self._thread: threading.Thread | None = None
        self._inflight: CheckpointInfo | None = None
        self._error: BaseException | None = None
        self.last: CheckpointInfo | None = None  # the newest committed by this job since start
        self.committed_steps: set[int] = set()

    # --- phase 1 + 2 -------------------------------------------------------------------------
    def save(self, state: dict, *, step: int, epoch: int, reason: str, block: bool = False,
             meta: dict | None = None) -> CheckpointInfo:
        """Stage `state` now (the only stall), then persist and commit it in the background.
        Every rank calls it at the same step. With block=True it returns once committed.
        `meta` goes into the marker (rank 0's; spotshield.Run's run state), as CheckpointManager's."""
        t0 = time.perf_counter()
        self.wait()  # one persist in flight: it also owns the staged buffers we refill
        wait_s = time.perf_counter() - t0
        info = CheckpointInfo(step=step, epoch=epoch, reason=reason, path=folder_for(step), snapshot_t=time.time())
        local = reset_dir(self.staging / f"step-{step:06d}")
        future = dcp.async_save(state, storage_writer=dcp.FileSystemWriter(local), process_group=self.group,
                                async_stager=self._stager)
        info.stall_s = time.perf_counter() - t0
        info.wait_s = wait_s
        self._inflight = info
        self._thread = threading.Thread(target=self._persist, args=(future, local, info, dict(meta or {})), name="dcp-persist",
                                        daemon=True)
        self._thread.start()
        if block:
            self.wait()
        return info

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the in-flight persist. False if still running after `timeout` seconds.
        A failed persist is raised here, in the training thread, as a StoreError."""
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

    def _persist(self, future, local: Path, info: CheckpointInfo, meta: dict | None = None) -> None:
        t0 = time.perf_counter()
        files, error = {}, None
        try:
            future.result()  # DCP wrote this rank's shard (and rank 0 the .metadata) to `local`
            files = upload_dir(self.store, local, info.step)
            pace = self.config.persist_pace_s - (time.perf_counter() - t0)
            if pace > 0:  # emulate a slow store (demo, tests): the marker is what makes it count
                time.sleep(pace)
        except BaseException as e:  # reported to rank 0, which then writes no marker
            error = f"rank {self.rank}: {_reason(e)}"
        finally:
            shutil.rmtree(local, ignore_errors=True)
        info.persist_s = time.perf_counter() - t0
        try:
            outcome = self._agree(info, files, error, meta or {})
        except BaseException as e:  # a peer vanished mid-commit: nothing was committed by us
            info.error = _reason(e)
            self._error = e
            return
        info.bytes = outcome["bytes"]
        if outcome["committed"]:
            info.committed = True
            self.committed_steps.add(info.step)
            self.last = info
        if outcome["error"]:
            info.error = outcome["error"]
            self._error = StoreError(outcome["error"])
        elif self.on_commit is not None:
            self.on_commit(info)

    def _agree(self, info: CheckpointInfo, files: dict, error: str | None, meta: dict | None = None) -> dict:
        """Every rank reports its durable files to rank 0; rank 0 commits or not; all learn which."""
        report = {"files": files, "error": error, "stall_s": info.stall_s}
        reports = [None] * self.world if self.rank == 0 else None
        dist.gather_object(report, reports, group=self.group, group_dst=0)
        box = [self._commit(info, reports, meta or {}) if self.rank == 0 else None]
        dist.broadcast_object_list(box, group=self.group, group_src=0)
        return box[0]

    def _commit(self, info: CheckpointInfo, reports: list[dict], extra: dict | None = None) -> dict:
        """Rank 0: the marker, only when every rank's files are durable; then keep-k."""
        failed = next((r["error"] for r in reports if r["error"]), None)
        if failed:
            return {"committed": False, "error": failed, "bytes": 0}
        files: dict[str, dict] = {}
        for r in reports:
            for name, entry in r["files"].items():
                if name in files:
                    return {"committed": False, "error": f"{name} was written by two ranks", "bytes": 0}
                files[name] = entry
        if METADATA_FILE not in files:
            return {"committed": False, "error": f"no rank wrote {METADATA_FILE}", "bytes": 0}
        total = sum(f["bytes"] for f in files.values())
        meta = {
            **(extra or {}),
            "format": FORMAT, "backend": DCP_BACKEND, "step": info.step, "epoch": info.epoch, "reason": info.reason,
            "strategy": self.strategy, "world_size": self.world, "wall_time": info.snapshot_t,
            "committed_t": time.time(), "stall_s": max(r["stall_s"] for r in reports), "persist_s": info.persist_s,
            "bytes": total, "files": files, **self.extra_meta,
        }
        try:
            self.store.write(join(info.path, MARKER), json.dumps(meta, indent=1).encode(), create_only=True)
        except Exception as e:
            return {"committed": False, "error": f"marker: {_reason(e)}", "bytes": total}
        try:
            folders = list_checkpoints(self.store)
            for step in retention_victims(folders, self.config.keep):
                delete_checkpoint(self.store, step, folders[step])
        except Exception as e:  # committed all the same; the failure is raised like CheckpointManager's
            return {"committed": True, "error": f"retention: {_reason(e)}", "bytes": total}
        return {"committed": True, "error": None, "bytes": total}

    # --- listing, loading ------------------------------------------------------------------------
    def _broadcast(self, value):
        box = [value]
        dist.broadcast_object_list(box, group=self.group, group_src=0)
        return box[0]

    def discard_partial(self) -> list[int]:
        """Delete folders that never got a marker (a persist killed midway), on rank 0, before the
        first save: their create-only files would collide with the same step saved again."""
        self.wait()
        dropped = None
        if self.rank == 0:
            folders = list_checkpoints(self.store)
            dropped = partial_checkpoints(folders)
            for step in dropped:
                delete_checkpoint(self.store, step, folders[step])
        return self._broadcast(dropped)

    def _candidates(self) -> list[tuple[int, dict | None, str | None]]:
        """Rank 0: (step, marker or None, problem) of each folder with a marker, newest first."""
        out = []
        for step, names in sorted(list_checkpoints(self.store).items(), reverse=True):
            if MARKER not in names:
                continue
            try:
                out.append((step, parse_marker(self.store.read(join(folder_for(step), MARKER)), step), None))
            except (ValueError, StoreError) as e:
                out.append((step, None, str(e)))
        return out

    def _quarantine(self, step: int) -> str:
        names = list_checkpoints(self.store).get(step, set())
        return quarantine_checkpoint(self.store, step, names, uuid.uuid4().hex[:8])

    def load(self, state: dict) -> tuple[dict | None, list[LoadProblem]]:
        """Load, in place into `state`, the newest checkpoint that every rank reads and verifies:
        (marker, problems). A corrupt or partial newer one is moved to quarantine/ by rank 0 and
        reported, and the previous one is tried. marker is None when none is valid.

        At another world size than the checkpoint's, DCP reshards the sharded state and the
        RankLocal entries of `state` are skipped (their on_world_change is called instead)."""
        self.wait()
        problems: list[LoadProblem] = []
        for step, meta, problem in self._broadcast(self._candidates() if self.rank == 0 else None):
            if meta is not None and meta.get("backend") != DCP_BACKEND:
                raise SpotShieldError(f"{self.store.url}/{folder_for(step)} is a single-process checkpoint; "
                                      "resume it with the single-process trainer or use a new store")
            if meta is not None:
                problem = self._try_load(state, step, meta)
                if problem is None:
                    self.committed_steps.add(step)
                    return meta, problems
            dest = self._quarantine(step) if self.rank == 0 else None
            dest = self._broadcast(dest)  # also: nobody reads the folder while rank 0 moves it
            problems.append(LoadProblem(folder_for(step), f"{problem}; moved to {dest}"))
        return None, problems

    def _try_load(self, state: dict, step: int, meta: dict) -> str | None:
        """Load one checkpoint on every rank; the first rank's problem, agreed by all, or None."""
        resharded = meta.get("world_size") != self.world
        target = {k: v for k, v in state.items() if not (resharded and isinstance(v, RankLocal))}
        reader = VerifyingReader(self.store, step, meta, self.staging / f"load-{step:06d}")
        problem = None
        try:
            dcp.load(target, storage_reader=reader, process_group=self.group)
        except SpotShieldError:
            raise  # the checkpoint is sound but belongs to another run (raised on every rank alike)
        except (CheckpointException, Exception) as e:  # DCP raises the same CheckpointException on every rank
            problem = _reason(e)
        finally:
            reader.cleanup()
        problems = [None] * self.world
        dist.all_gather_object(problems, problem, group=self.group)
        problem = next((p for p in problems if p), None)
        if problem is None and resharded:
            for v in state.values():
                if isinstance(v, RankLocal):
                    v.on_world_change(meta)
        return problem

    def close(self, timeout: float | None = None) -> bool:
        """Finish the in-flight persist (if any) and release the staging buffers."""
        done = self.wait(timeout)
        if done:
            self._stager.close()
        return done
