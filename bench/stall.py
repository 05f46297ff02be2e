"""Checkpoint stall per save: how long training stops for one checkpoint.

Side by side, same state, same process:
  spotshield   CheckpointManager.save(): snapshot into reused (pinned) CPU buffers; the
               persist runs in a background thread and is waited for between saves so
               that each measured stall is the snapshot alone
  torch.save   synchronous: torch.save to a temp file, fsync, rename
  dcp_async    torch.distributed.checkpoint.async_save: time until the call returns
  copy         a plain copy into preallocated (pinned on CUDA) CPU tensors: the floor
"""
from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

from bench import state as bstate


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def _median_ms(xs: list[float]) -> float:
    return statistics.median(xs) * 1000.0


def bench_spotshield(state, device: str, repeats: int, root: Path) -> dict:
    from spotshield.storage import FileStore
    from spotshield.trainer.checkpoint import CheckpointManager

    mgr = CheckpointManager(FileStore(root / "spotshield"))
    stalls, persists, first = [], [], None
    for i in range(repeats + 1):
        _sync(device)
        info = mgr.save(state, step=i + 1, epoch=0, reason="bench")
        mgr.wait()
        if i == 0:
            first = info.stall_s  # allocates the reused buffers; later saves reuse them
            continue
        stalls.append(info.stall_s)
        persists.append(info.persist_s)
    mgr.close()
    return {"stall_ms": _median_ms(stalls), "first_stall_ms": first * 1000, "persist_ms": _median_ms(persists),
            "samples": len(stalls)}


def bench_torch_save(state, device: str, repeats: int, root: Path) -> dict:
    import torch

    d = root / "torch_save"
    d.mkdir(parents=True, exist_ok=True)
    stalls = []
    for i in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        fd, tmp = tempfile.mkstemp(dir=d, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, d / "state.pt")
        stalls.append(time.perf_counter() - t0)
    return {"stall_ms": _median_ms(stalls), "samples": len(stalls)}


def bench_dcp_async(state, device: str, repeats: int, root: Path) -> dict:
    import torch.distributed.checkpoint as dcp

    flat = bstate.flat_tensors(state)
    stalls = []
    for i in range(repeats + 1):
        _sync(device)
        t0 = time.perf_counter()
        fut = dcp.async_save(flat, checkpoint_id=str(root / "dcp" / f"step-{i}"), no_dist=True)
        stall = time.perf_counter() - t0
        (fut.result() if hasattr(fut, "result") else fut.upload_completion.result())
        if i:  # the first call sets up the stager and thread pool
            stalls.append(stall)
    return {"stall_ms": _median_ms(stalls), "samples": len(stalls)}


def bench_copy(state, device: str, repeats: int, root: Path) -> dict:
    import torch

    flat = bstate.flat_tensors(state)
    pin = device.startswith("cuda")
    bufs = {k: torch.empty(v.shape, dtype=v.dtype, pin_memory=pin) for k, v in flat.items()}
    stalls = []
    for i in range(repeats + 1):
        _sync(device)
        t0 = time.perf_counter()
        for k, v in flat.items():
            bufs[k].copy_(v, non_blocking=pin)
        _sync(device)
        if i:
            stalls.append(time.perf_counter() - t0)
    return {"stall_ms": _median_ms(stalls), "samples": len(stalls)}


METHODS = {"spotshield": bench_spotshield, "torch.save": bench_torch_save,
           "dcp_async_save": bench_dcp_async, "copy": bench_copy}


def run(size: str, device: str, repeats: int, workdir: Path) -> dict:
    model, opt = bstate.build(size, device)
    state = bstate.state_of(model, opt)
    out = {"state_mb": bstate.state_bytes(state) / 1e6, "methods": {}}
    for name, fn in METHODS.items():
        try:
            out["methods"][name] = fn(state, device, repeats, workdir)
        except Exception as e:  # one failing method must not hide the others' numbers
            out["methods"][name] = {"error": f"{type(e).__name__}: {str(e)[:200]}"}
    m = out["methods"]
    ss, ts, cp = (m.get(k, {}).get("stall_ms") for k in ("spotshield", "torch.save", "copy"))
    out["spotshield_vs_copy"] = ss / cp if ss and cp else None
    out["spotshield_vs_torch_save"] = ss / ts if ss and ts else None
    return out
