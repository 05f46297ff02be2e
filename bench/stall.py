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
             save is preceded by BASE_STEPS steps with nothing in flight and compared with them
             (paired). Reported: median step time with and without a persist in flight, the
             slowdown (median over saves of in-flight / preceding step time), and the training
             time lost per save = its stall + the extra time of the steps it overlapped.
In both, the methods take turns save by save (round robin), so that the load of a shared
machine, which drifts over minutes, hits every method alike.
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


def _rotated(names: list[str], i: int) -> list[str]:
    """Round i's order: each method takes each position in turn, so none always follows the slowest."""
    k = i % len(names) if names else 0
    return names[k:] + names[:k]


def _error(e: Exception) -> dict:
    return {"error": f"{type(e).__name__}: {str(e)[:200]}"}


def isolated(savers: dict, state, device: str, repeats: int) -> dict:
    """repeats + 1 saves per method, each alone, the methods taking turns (round robin) so that
    the shared machine's load drift hits all of them: the first save, then the others' spread."""
    stalls = {n: [] for n in savers}
    persists = {n: [] for n in savers}
    failed = {}
    for i in range(repeats + 1):
        for name in _rotated([n for n in savers if n not in failed], i):
            try:
                _sync(device)
                t0 = time.perf_counter()
                savers[name].save(state)
                stalls[name].append(time.perf_counter() - t0)
                p = savers[name].wait()
            except Exception as e:  # one failing method must not hide the others' numbers
                failed[name] = _error(e)
                continue
            if p is not None:
                persists[name].append(p)
    out = {}
    for name in savers:
        if name in failed:
            out[name] = failed[name]
            continue
        xs = stalls[name]
        later = spread.summary(xs[1:])
        out[name] = {"first_ms": xs[0] * 1000, "stall": later, "stall_ms": later["median"],
                     "all_saves": spread.summary(xs), "samples": len(xs)}
        if persists[name]:
            out[name] |= {"persist": spread.summary(persists[name][1:]), "first_persist_ms": persists[name][0] * 1000}
            out[name]["persist_ms"] = out[name]["persist"]["median"]
    return out


def _timed_step(model, opt, device: str, batch: int) -> float:
    t0 = time.perf_counter()
    bstate.train_step(model, opt, device, batch=batch)  # synchronises on CUDA
    return time.perf_counter() - t0


def _one_save_under_training(saver: _Saver, model, opt, device: str, batch: int) -> tuple[list[float], float, list[float]]:
    """BASE_STEPS steps with nothing in flight, a save, then steps until its persist is done."""
    base = [_timed_step(model, opt, device, batch) for _ in range(BASE_STEPS)]
    t0 = time.perf_counter()
    saver.save(bstate.state_of(model, opt))
    stall = time.perf_counter() - t0
    steps = []
    while saver.busy() and len(steps) < MAX_INFLIGHT_STEPS:
        steps.append(_timed_step(model, opt, device, batch))
    saver.wait()
    return base, stall, steps


def under_training(savers: dict, model, opt, device: str, repeats: int) -> dict:
    """Per method: step times with and without a persist in flight, and what each save costs training.

    The methods take turns save by save. Each save is compared with the BASE_STEPS steps just
    before it (paired): its slowdown = median of its in-flight steps / median of those, and the
    training it lost = its stall + its in-flight steps' time beyond that median. Pairing keeps
    a load change of the shared machine between saves out of the comparison.
    """
    batch = TRAIN_BATCH["cuda" if device.startswith("cuda") else "cpu"]
    _timed_step(model, opt, device, batch)  # the batch size's first step (allocator, kernels) is not a sample
    runs = {n: [] for n in savers}
    failed = {}
    for i in range(repeats):
        for name in _rotated([n for n in savers if n not in failed], i):
            try:
                runs[name].append(_one_save_under_training(savers[name], model, opt, device, batch))
            except Exception as e:
                failed[name] = _error(e)
    out = {}
    for name, per_save in runs.items():
        if name in failed:
            out[name] = failed[name]
            continue
        base = [b for bs, _, _ in per_save for b in bs]
        inflight = [s for _, _, steps in per_save for s in steps]
        lost = [stall + sum(s - statistics.median(bs) for s in steps) for bs, stall, steps in per_save]
        ratios = [statistics.median(steps) / statistics.median(bs) for bs, _, steps in per_save if steps]
        m = {"batch": batch, "step_base": spread.summary(base), "lost_per_save": spread.summary(lost),
             "inflight_steps_per_save": spread.summary([len(s) for _, _, s in per_save], scale=1.0),
             "step_inflight": spread.summary(inflight) if inflight else None,
             "slowdown_per_save": spread.summary(ratios, scale=1.0) if ratios else None}
        m["slowdown"] = m["slowdown_per_save"]["median"] if ratios else None
        out[name] = m
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
        except Exception as e:  # e.g. no cached DCP stager in this torch: say so, measure the rest
            out["methods"][name] = _error(e)
        if isinstance(savers.get(name), _DCP):
            out["notes"][name] = savers[name].note
    out["methods"] = {n: out["methods"].get(n) for n in METHODS} | isolated(savers, state, device, repeats)
    # after the isolated saves: every method's buffers are already allocated
    trainable = {n: savers[n] for n in TRAINING_METHODS if n in savers and "error" not in out["methods"][n]}
    out["training"] = under_training(trainable, model, opt, device, repeats)
    for group in ("methods", "training"):
        for name, m in out[group].items():
            if "error" in m:
                print(f"note: {name} ({group}) not measured: {m['error']}")
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
        return isolated({"spotshield": saver}, state, device, repeats)["spotshield"]
    finally:
        saver.close()
