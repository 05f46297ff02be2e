"""Recovery time: a new process -> its first resumed training step.

The same checkpoint (written by CheckpointManager) is resumed by SpotShield's verified
load and by a bare torch.load + load_state_dict, each in fresh processes, alternating so
that page-cache warmth favours neither. Interpreter and torch import time are part of
both, as they are of every real restart.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench import spread
from bench import state as bstate

CHILD_TIMEOUT_S = 240  # a cold CUDA init plus a ResNet-50 load stays well under this


def _child(mode: str, store: Path, size: str, device: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    t0 = time.time()
    p = subprocess.run([sys.executable, "-m", "bench.resume_child", mode, str(store), size, device],
                       capture_output=True, text=True, timeout=CHILD_TIMEOUT_S, env=env)
    if p.returncode != 0:
        raise RuntimeError(f"{mode} child failed: {p.stderr.strip().splitlines()[-1] if p.stderr.strip() else p.returncode}")
    ts = json.loads(p.stdout.strip().splitlines()[-1])
    return {"total_s": ts["step"] - t0, "startup_s": ts["built"] - t0, "load_s": ts["loaded"] - ts["built"],
            "first_step_s": ts["step"] - ts["loaded"]}


def run(size: str, device: str, repeats: int, workdir: Path) -> dict:
    from spotshield.storage import FileStore
    from spotshield.trainer.checkpoint import CheckpointManager

    model, opt = bstate.build(size, device)
    store = workdir / "recovery-store"
    mgr = CheckpointManager(FileStore(store))
    mgr.save(bstate.state_of(model, opt), step=1, epoch=0, reason="bench", block=True)
    mgr.close()
    runs: dict[str, list[dict]] = {"spotshield": [], "bare": []}
    for _ in range(repeats):
        for mode in runs:
            runs[mode].append(_child(mode, store, size, device))
    out = {}
    for mode, rs in runs.items():
        out[mode] = {k: statistics.median(r[k] for r in rs) for k in rs[0]} | {"samples": len(rs)}
        out[mode]["total"] = spread.summary([r["total_s"] for r in rs], scale=1.0)  # seconds
        out[mode]["load"] = spread.summary([r["load_s"] for r in rs], scale=1.0)
    out["spotshield_minus_bare_s"] = out["spotshield"]["total_s"] - out["bare"]["total_s"]
    return out
