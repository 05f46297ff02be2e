"""Manual GPU check (not collected by pytest): python3 tests/trainer/gpu_smoke.py OUT_DIR

1. CheckpointManager on a CUDA ResNet-50 state: snapshot stall (first save allocates the
   pinned buffers, later saves reuse them) versus background persist time.
2. ResNet-50 on synthetic data with AMP + GradScaler: SIGTERM mid-run -> exit 75 with an
   emergency checkpoint, then resume to completion; reports images/s, stall and persist.
"""
from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def bench_checkpoint(out: Path) -> dict:
    import torch

    from spotshield.storage import FileStore
    from spotshield.trainer.checkpoint import CheckpointManager
    from spotshield.trainer.config import CheckpointConfig
    from spotshield.trainer.models import build_model

    model = build_model("resnet50", 3, 100).cuda()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(8, 3, 32, 32, device="cuda")).sum().backward()
    opt.step()
    mgr = CheckpointManager(FileStore(out / "bench-store"), CheckpointConfig(keep=2))
    rows = []
    for i in range(6):
        state = {"model": model.state_dict(), "optimizer": opt.state_dict()}
        info = mgr.save(state, step=i + 1, epoch=0, reason="bench")
        t0 = time.perf_counter()
        mgr.wait()
        rows.append({"stall_s": info.stall_s, "persist_s": info.persist_s, "bytes": info.bytes,
                     "waited_after_save_s": time.perf_counter() - t0})
    return {"saves": rows, "median_stall_reused_s": statistics.median(r["stall_s"] for r in rows[1:]),
            "median_persist_s": statistics.median(r["persist_s"] for r in rows[1:])}


def trainer_run(out: Path) -> dict:
    store = out / "run-store"
    env = dict(os.environ, SPOTSHIELD_HEALTH_PORT="0", PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    code = ("import sys; from spotshield.trainer.config import load_config; from spotshield.trainer.run import train;"
            f"sys.exit(train(load_config([], {{'store': 'file://{store}', 'model': 'resnet50', 'data': 'synthetic',"
            "'synthetic_size': 25600, 'epochs': 2, 'strategy': 'naive', 'strategies.naive.every_steps': 50,"
            "'log_every_s': 2.0, 'metadata_watch': False})))")
    results = {}
    p = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=REPO)
    # SIGTERM once training is well under way (a step event exists and ~8 s passed)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and p.poll() is None:
        logs = list(store.glob("events/*/*.jsonl"))
        if logs and sum('"event": "step"' in line for line in logs[0].read_text().splitlines()) >= 3:
            break
        time.sleep(0.5)
    time.sleep(3)
    p.send_signal(signal.SIGTERM)
    results["first_rc"] = p.wait(timeout=120)
    p = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=REPO)
    results["second_rc"] = p.wait(timeout=400)
    events = []
    for log in store.glob("events/*/*.jsonl"):
        events += [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    events.sort(key=lambda e: e["t"])
    keep = ("start", "resume", "checkpoint", "preempt_notice", "emergency_checkpoint", "epoch_end", "exit", "done")
    results["events"] = [{k: v for k, v in e.items() if k not in ("config", "strategy_params", "strategy_state")}
                         for e in events if e["event"] in keep]
    results["step_images_per_s"] = [e["images_per_s"] for e in events if e["event"] == "step"]
    return results


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/gpu-smoke")
    out.mkdir(parents=True, exist_ok=True)
    import torch

    report = {"torch": torch.__version__, "device": torch.cuda.get_device_name(0)}
    work = Path("/tmp/gpu-smoke-work")
    report["checkpoint_bench"] = bench_checkpoint(work)
    print(json.dumps(report, indent=1), flush=True)
    report["trainer"] = trainer_run(work)
    text = json.dumps(report, indent=1)
    (out / "gpu_smoke.json").write_text(text)
    print(text)
