"""Checkpoint stall per save, and the slowdown of training while a save persists.

Side by side, same state, same process:
  spotshield           CheckpointManager.save(): snapshot into reused (pinned on CUDA) CPU
                       buffers; the persist (serialise, sha256, write, marker) runs in a
                       background thread
  torch.save           synchronous: torch.save to a temp file, fsync, rename
  dcp_async_save       torch.distributed.checkpoint.async_save with its default staging: a
                       fresh CPU copy of the state per call (time until the call returns)
  dcp_cached_staging   async_save with one DefaultStager kept across saves: its staging
                       buffers are cached (and pinned on CUDA), so it is SpotShield's peer;
                       the staging is synchronous, as SpotShield's snapshot is, so that the
                       next optimizer step cannot race the copy
  copy                 a plain copy into preallocated (pinned on CUDA) CPU tensors: the floor

Two measurements:
  isolated   each save alone, waiting for its persist before the next one, so a stall is the
             snapshot alone. The first save is reported on its own (it allocates the buffers
             that later saves reuse) and the later ones as a median with spread.
  training   the background methods while a training loop runs: steps are timed back to back;
             a step counts as "in flight" when a persist was still running at its start. Each
             save is preceded by BASE_STEPS steps with nothing in flight, so both kinds of step
             alternate and a drift of the shared machine's load hits both. Reported: median step
             time with and without a persist in flight, their ratio, and the training time lost
             per save = its stall + the extra time of the steps it overlapped.
"""
from __future__ import annotations

import os
import statistics
import tempfile
import time
import warnings
from pathlib import Path

from bench import spread
from bench import state as bstate

BASE_STEPS = 3  # steps with nothing in flight before each save of the training measurement
TRAIN_BATCH = {"cpu": 8, "cuda": 128}  # a step's batch: small on CPU, a real one on a GPU
MAX_INFLIGHT_STEPS = 500  # a persist that outlasts this many steps is reported as it stands


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


class _Saver:
    """One method: save() returns once training may go on; busy() while its persist runs."""

    background = False

    def save(self, state) -> None: ...

    def busy(self) -> bool:
        return False

    def wait(self) -> float | None:
        """Wait for the persist; its duration in seconds when the method runs one."""
        return None

    def close(self) -> None: ...


class _SpotShield(_Saver):
    background = True

    def __init__(self, root: Path, device: str):
        from spotshield.storage import FileStore
        from spotshield.trainer.checkpoint import CheckpointManager

        self.mgr = CheckpointManager(FileStore(root / "spotshield"))
        self.step = 0

    def save(self, state) -> None:
        self.step += 1
        self.info = self.mgr.save(state, step=self.step, epoch=0, reason="bench")

    def busy(self) -> bool:
        return self.mgr.in_flight is not None

    def wait(self) -> float:
        self.mgr.wait()
        return self.info.persist_s

    def close(self) -> None:
        self.mgr.close()


class _TorchSave(_Saver):
    def __init__(self, root: Path, device: str):
        self.d = root / "torch_save"
        self.d.mkdir(parents=True, exist_ok=True)

    def save(self, state) -> None:
        import torch

        fd, tmp = tempfile.mkstemp(dir=self.d, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.d / "state.pt")


def cached_stager(device: str):
    """(DCP stager that keeps its staging buffers across saves, pinned on CUDA; a note on which API).

    The current API is staging.DefaultStager(StagingOptions(...)); torch before 2.8 has only
    BlockingAsyncStager(cache_staged_state_dict=True). Neither: (None, note).
    """
    cuda = device.startswith("cuda")
    try:
        from torch.distributed.checkpoint.staging import DefaultStager, StagingOptions

        # shared memory only serves the process-based executor; async staging would let the next
        # optimizer step race the copy, so it stays off (SpotShield's snapshot is synchronous too)
        return (DefaultStager(StagingOptions(use_pinned_memory=cuda, use_shared_memory=False, use_async_staging=False,
                                             use_non_blocking_copy=cuda)),
                f"DefaultStager(StagingOptions(pinned={cuda}, shared=False, async staging=False))")
    except ImportError:
        pass
    try:
        from torch.distributed.checkpoint.staging import BlockingAsyncStager

        return BlockingAsyncStager(cache_staged_state_dict=True), "BlockingAsyncStager(cache_staged_state_dict=True)"
    except ImportError:
        return None, "this torch has no cached DCP stager (neither DefaultStager nor BlockingAsyncStager)"


class _DCP(_Saver):
    background = True

    def __init__(self, root: Path, device: str, cached: bool):
        self.root = root / ("dcp_cached" if cached else "dcp")
        self.stager, self.note = cached_stager(device) if cached else (None, "default staging (a fresh copy per save)")
        if cached and self.stager is None:
            raise RuntimeError(self.note)
        self.i = 0
        self.fut = None
        # without a process group DCP warns on every save, from its upload thread too, that it
        # assumes a single process: that is the intent here (no_dist=True)
        warnings.filterwarnings("ignore", message="torch.distributed is disabled", category=UserWarning)

    def save(self, state) -> None:
        import torch.distributed.checkpoint as dcp

        self.i += 1
        done: list[float] = []
        t0 = time.perf_counter()
        kw = {"async_stager": self.stager} if self.stager is not None else {}
        fut = dcp.async_save(bstate.flat_tensors(state), checkpoint_id=str(self.root / f"step-{self.i}"), no_dist=True,
                             **kw)
        self.fut = fut.upload_completion if hasattr(fut, "upload_completion") else fut
        self.t0, self.done = t0, done
        self.fut.add_done_callback(lambda _: done.append(time.perf_counter()))

    def busy(self) -> bool:
        return self.fut is not None and not self.fut.done()

    def wait(self) -> float:
        self.fut.result()
        while not self.done:  # the callback runs right after the result is set
            time.sleep(0.001)
        return self.done[0] - self.t0

    def close(self) -> None:
        if self.stager is not None:
            self.stager.close()


class _Copy(_Saver):
    def __init__(self, root: Path, device: str):
        self.pin = device.startswith("cuda")
        self.bufs = None

    def save(self, state) -> None:
        import torch

        flat = bstate.flat_tensors(state)
        if self.bufs is None:  # the first save allocates, as every reusing method's first save does
            self.bufs = {k: torch.empty(v.shape, dtype=v.dtype, pin_memory=self.pin) for k, v in flat.items()}
        for k, v in flat.items():
            self.bufs[k].copy_(v, non_blocking=self.pin)
        if self.pin:
            torch.cuda.synchronize()


METHODS = {"spotshield": _SpotShield, "torch.save": _TorchSave,
           "dcp_async_save": lambda root, device: _DCP(root, device, cached=False),
           "dcp_cached_staging": lambda root, device: _DCP(root, device, cached=True),
           "copy": _Copy}
TRAINING_METHODS = ("spotshield", "dcp_cached_staging", "dcp_async_save")


def isolated(saver: _Saver, state, device: str, repeats: int) -> dict:
    """repeats + 1 saves, each alone: the first one, then the median and spread of the others."""
    stalls, persists = [], []
    for _ in range(repeats + 1):
        _sync(device)
        t0 = time.perf_counter()
        saver.save(state)
        stalls.append(time.perf_counter() - t0)
        p = saver.wait()
        if p is not None:
            persists.append(p)
    later = spread.summary(stalls[1:])
    out = {"first_ms": stalls[0] * 1000, "stall": later, "stall_ms": later["median"],
           "all_saves": spread.summary(stalls), "samples": len(stalls)}
    if persists:
        out["persist"] = spread.summary(persists[1:])
        out["persist_ms"] = out["persist"]["median"]
        out["first_persist_ms"] = persists[0] * 1000
    return out


def _timed_step(model, opt, device: str, batch: int) -> float:
    t0 = time.perf_counter()
    bstate.train_step(model, opt, device, batch=batch)  # synchronises on CUDA
    return time.perf_counter() - t0


def under_training(saver: _Saver, model, opt, device: str, repeats: int) -> dict:
    """Step times with and without a persist in flight, and the training time each save costs."""
    batch = TRAIN_BATCH["cuda" if device.startswith("cuda") else "cpu"]
    _timed_step(model, opt, device, batch)  # the batch size's first step (allocator, kernels) is not a sample
    base, inflight, per_save = [], [], []
    for _ in range(repeats):
        base += [_timed_step(model, opt, device, batch) for _ in range(BASE_STEPS)]
        t0 = time.perf_counter()
        saver.save(bstate.state_of(model, opt))
        stall = time.perf_counter() - t0
        steps = []
        while saver.busy() and len(steps) < MAX_INFLIGHT_STEPS:
            steps.append(_timed_step(model, opt, device, batch))
        saver.wait()
        inflight += steps
        per_save.append((stall, steps))
    base_med = statistics.median(base)
    # lost per save: the stall, plus what the overlapped steps took beyond a step with nothing in flight
    lost = [stall + sum(s - base_med for s in steps) for stall, steps in per_save]
    out = {"batch": batch, "step_base": spread.summary(base), "lost_per_save": spread.summary(lost),
           "inflight_steps_per_save": spread.summary([len(s) for _, s in per_save], scale=1.0),
           "step_inflight": spread.summary(inflight) if inflight else None}
    out["slowdown"] = out["step_inflight"]["median"] / out["step_base"]["median"] if inflight else None
    return out


def run(size: str, device: str, repeats: int, workdir: Path) -> dict:
    import torch

    model, opt = bstate.build(size, device)
    state = bstate.state_of(model, opt)
    out = {"state_mb": bstate.state_bytes(state) / 1e6, "methods": {}, "training": {}, "notes": {},
           "base_steps": BASE_STEPS}
    savers = {}
    for name, make in METHODS.items():
        try:
            savers[name] = make(workdir, device)
            out["methods"][name] = isolated(savers[name], state, device, repeats)
        except Exception as e:  # one failing method must not hide the others' numbers
            out["methods"][name] = {"error": f"{type(e).__name__}: {str(e)[:200]}"}
            print(f"note: {name} not measured: {out['methods'][name]['error']}")
        if isinstance(savers.get(name), _DCP):
            out["notes"][name] = savers[name].note
    for name in TRAINING_METHODS:  # after the isolated saves: every buffer is already allocated
        if "error" in out["methods"].get(name, {"error": ""}):
            continue
        try:
            out["training"][name] = under_training(savers[name], model, opt, device, repeats)
        except Exception as e:
            out["training"][name] = {"error": f"{type(e).__name__}: {str(e)[:200]}"}
            print(f"note: {name} under training not measured: {out['training'][name]['error']}")
    for s in savers.values():
        s.close()
    out["torch"] = torch.__version__
    m = out["methods"]
    ss, ts, cp, dc = (m.get(k, {}).get("stall_ms") for k in ("spotshield", "torch.save", "copy", "dcp_cached_staging"))
    out["spotshield_vs_copy"] = ss / cp if ss and cp else None
    out["spotshield_vs_torch_save"] = ss / ts if ss and ts else None
    out["spotshield_vs_dcp_cached"] = ss / dc if ss and dc else None
    return out


def bench_spotshield(state, device: str, repeats: int, root: Path) -> dict:
    """SpotShield's isolated saves alone (the distributed benchmark's single-process reference)."""
    saver = _SpotShield(root, device)
    try:
        return isolated(saver, state, device, repeats)
    finally:
        saver.close()
