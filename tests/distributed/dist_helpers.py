"""Launch the rank processes of tests/distributed/ranks.py and collect what each rank observed."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

RANKS = Path(__file__).with_name("ranks.py")


def run_ranks(scenarios: list[str], world: int, root: Path, store_url: str, *, timeout: float = 180,
              env: dict | None = None) -> tuple[list[int], dict[str, list[dict]]]:
    """Run `scenarios` on `world` rank processes; (exit codes, {scenario: [rank 0's result, ...]})."""
    root.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", "RANKS_PG_FILE": str(root / f"pg-{uuid.uuid4().hex[:8]}"),
                **(env or {})}
    procs = []
    for rank in range(world):
        log = open(root / f"rank-{rank}.log", "wb")
        procs.append(subprocess.Popen([sys.executable, str(RANKS), ",".join(scenarios), str(rank), str(world), str(root),
                                       store_url], stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                      env=full_env))
    deadline = time.monotonic() + timeout
    try:
        for p in procs:
            p.wait(max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        pass
    finally:
        for p in procs:  # stop whatever is left, with its process group
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
    codes = [p.returncode for p in procs]
    results = {}
    for name in scenarios:
        files = [root / "out" / f"{name}-rank-{r}.json" for r in range(world)]
        results[name] = [json.loads(f.read_text()) if f.exists() else None for f in files]
    return codes, results


def logs(root: Path, world: int) -> str:
    return "\n".join(f"--- rank {r}:\n" + (root / f"rank-{r}.log").read_text(errors="replace")[-3000:]
                     for r in range(world) if (root / f"rank-{r}.log").exists())


def start_coordinator(root: Path, *args: str) -> tuple[subprocess.Popen, Path]:
    """`python -m spotshield.distributed.coordinator` on 127.0.0.1, waited for until it is ready (or exits)."""
    ready = root / "coordinator.ready"
    p = subprocess.Popen([sys.executable, "-m", "spotshield.distributed.coordinator", "--host", "127.0.0.1",
                          "--ready-file", str(ready), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, start_new_session=True)
    deadline = time.monotonic() + 60
    while not ready.exists() and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    return p, ready


def stop(p: subprocess.Popen) -> None:
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
