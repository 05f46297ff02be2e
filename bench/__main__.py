"""`python -m bench` (make bench): SpotShield's own speed, printed as a table and written as JSON.

  python -m bench                       full size (ResNet-50/100-class state), device auto
  python -m bench --device cuda         on a GPU (one run stays under 5 minutes)
  python -m bench --size tiny           seconds; what the test suite runs
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_OUT = Path(__file__).resolve().parent / "out" / "results.json"
REPEATS = {"tiny": 2, "full": 5}  # saves per method; resumes per mode (medians reported)
RECOVERY_REPEATS = {"tiny": 1, "full": 3}


def _machine(device: str) -> dict:
    import os

    import torch

    info = {"platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
            "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(), "device": device}
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def _device(arg: str) -> str:
    import torch

    if arg == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if arg == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda but no CUDA device is visible")
    return arg


def _print(res: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console(width=130)
    s = res["stall"]
    t = Table(title=f"Checkpoint stall per save ({s['state_mb']:.0f} MB state, {res['machine']['device']})")
    for c in ("method", "stall ms (median)", "note"):
        t.add_column(c)
    for name, m in s["methods"].items():
        if "error" in m:
            t.add_row(name, "-", m["error"][:60])
        else:
            note = f"persist {m['persist_ms']:.0f} ms in background" if "persist_ms" in m else ""
            t.add_row(name, f"{m['stall_ms']:.1f}", note)
    con.print(t)
    if s.get("spotshield_vs_copy"):
        con.print(f"spotshield stall = {s['spotshield_vs_copy']:.2f}x plain copy, "
                  f"{s['spotshield_vs_torch_save']:.3f}x torch.save")
    r = res["recovery"]
    t = Table(title="Recovery: new process -> first resumed training step (median)")
    for c in ("path", "total s", "startup s", "load s", "first step s"):
        t.add_column(c)
    for mode in ("spotshield", "bare"):
        m = r[mode]
        t.add_row(mode, f"{m['total_s']:.2f}", f"{m['startup_s']:.2f}", f"{m['load_s']:.3f}", f"{m['first_step_s']:.3f}")
    con.print(t)
    g = res["goodput"]
    t = Table(title=f"Goodput under Poisson preemptions: waste share (C={g['checkpoint_s'] * 1000:.1f} ms, "
                    f"R={g['restart_s']:.0f} s)")
    for c in ("rate/h", "Daly formula", "optimum sim", "adaptive", "x opt", "naive", "x opt", "milestone", "x opt",
              "adaptive+emerg."):
        t.add_column(c)
    for row in g["rows"]:
        t.add_row(f"{row['rate_per_h']:g}", f"{row['optimal_waste']:.2%}", f"{row['optimum_waste']:.2%}",
                  f"{row['adaptive_waste']:.2%}", f"{row['adaptive_vs_optimal']:.2f}",
                  f"{row['naive_waste']:.2%}", f"{row['naive_vs_optimal']:.2f}",
                  f"{row['milestone_waste']:.2%}", f"{row['milestone_vs_optimal']:.2f}",
                  f"{row['adaptive+emergency_waste']:.2%}")
    con.print(t)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    ap.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    ap.add_argument("--size", choices=("tiny", "full"), default="full")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON results file")
    ap.add_argument("--workdir", type=Path, default=None, help="scratch folder (default: a temp dir)")
    args = ap.parse_args(argv)
    device = _device(args.device)

    from bench import distributed, goodput, recovery, stall

    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="spotshield-bench-", dir=args.workdir) as tmp:
        work = Path(tmp)
        res = {"size": args.size, "machine": _machine(device),
               "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0))}
        res["stall"] = stall.run(args.size, device, REPEATS[args.size], work)
        res["recovery"] = recovery.run(args.size, device, RECOVERY_REPEATS[args.size], work)
        res["distributed"] = distributed.run(args.size, REPEATS[args.size], work / "distributed")  # CPU, gloo
    ss = res["stall"]["methods"]["spotshield"]
    if "error" in ss:
        raise SystemExit(f"error: the SpotShield checkpoint benchmark failed: {ss['error']}")
    res["goodput"] = goodput.run(args.size, ss["stall_ms"] / 1000.0, res["recovery"]["spotshield"]["total_s"],
                                 persist_s=ss["persist_ms"] / 1000.0)
    res["seconds"] = time.time() - t0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2))
    _print(res)
    distributed.show(res["distributed"])
    print(f"wrote {args.out} in {res['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
