"""`python -m bench` (make bench): SpotShield's own speed, printed as a table and written as JSON.

  python -m bench                       full size (ResNet-50/100-class state), device auto
  python -m bench --device cuda         on a GPU
  python -m bench --size tiny           seconds; what the test suite runs
"""
from __future__ import annotations

import argparse
import json
import os
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
            "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(), "device": device,
            "loadavg_start": os.getloadavg()}  # a shared host: how busy it was tells how far to trust the times
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


def checkpoint_cost_s(stall: dict) -> tuple[float, str]:
    """C for the goodput simulation: what one SpotShield save costs training, in seconds.

    The training time lost per save (stall + the extra time of the steps its persist
    overlapped) when that was measured; never below the isolated stall, since a negative
    extra is noise of the shared machine, not a gain.
    """
    ss = stall["methods"]["spotshield"]
    tr = stall.get("training", {}).get("spotshield", {})
    if "lost_per_save" in tr and tr["lost_per_save"]["median"] > ss["stall_ms"]:
        return tr["lost_per_save"]["median"] / 1000.0, "training time lost per save (stall + slowdown of overlapped steps)"
    return ss["stall_ms"] / 1000.0, "isolated stall per save"


def _print(res: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    from bench import spread

    con = Console(width=160)
    s = res["stall"]
    t = Table(title=f"Checkpoint stall per save, each save alone ({s['state_mb']:.0f} MB state, "
                    f"{res['machine']['device']}; real ms)")
    for c in ("method", "first save ms", "later saves ms: median (IQR, min-max, n)", "persist ms in background"):
        t.add_column(c)
    for name, m in s["methods"].items():
        if "error" in m:
            t.add_row(name, "-", m["error"][:70], "")
        else:
            t.add_row(name, f"{m['first_ms']:.1f}", spread.text(m["stall"]),
                      spread.text(m["persist"], 0) if "persist" in m else "")
    con.print(t)
    for name, note in s.get("notes", {}).items():
        con.print(f"  {name}: {note}")
    if s.get("spotshield_vs_copy"):
        con.print(f"spotshield stall (later saves, medians) = {s['spotshield_vs_copy']:.2f}x plain copy, "
                  f"{s['spotshield_vs_torch_save']:.3f}x torch.save"
                  + (f", {s['spotshield_vs_dcp_cached']:.2f}x DCP with cached staging" if s.get("spotshield_vs_dcp_cached") else ""))
    t = Table(title="Training while a save persists: step time with and without a persist in flight (real ms)")
    for c in ("method", "step ms, none in flight", "step ms, persist in flight", "slowdown x (per save, paired)",
              "steps in flight per save", "training lost per save ms"):
        t.add_column(c)
    for name, m in s.get("training", {}).items():
        if "error" in m:
            t.add_row(name, m["error"][:70], "", "", "", "")
            continue
        t.add_row(name, spread.text(m["step_base"]), spread.text(m["step_inflight"]) if m["step_inflight"] else "none",
                  spread.text(m["slowdown_per_save"], 2) if m["slowdown"] else "-",
                  f"{m['inflight_steps_per_save']['median']:g} ({m['inflight_steps_per_save']['min']:g}-"
                  f"{m['inflight_steps_per_save']['max']:g})", spread.text(m["lost_per_save"]))
    con.print(t)
    r = res["recovery"]
    t = Table(title="Recovery: new process -> first resumed training step (real s, medians)")
    for c in ("path", "total s (IQR, min-max, n)", "startup s", "load s", "first step s"):
        t.add_column(c)
    for mode in ("spotshield", "bare"):
        m = r[mode]
        t.add_row(mode, spread.text(m["total"], 2), f"{m['startup_s']:.2f}", f"{m['load_s']:.3f}",
                  f"{m['first_step_s']:.3f}")
    con.print(t)
    g = res["goodput"]
    t = Table(title=f"Goodput under Poisson preemptions: excess waste over the R floor, percentage points of wall time "
                    f"(C = {g['checkpoint_s'] * 1000:.1f} ms, R = {g['restart_s']:.0f} s; +- 95% interval; "
                    f"x = excess / the optimum's excess)")
    cols = ("rate/h", "R floor pts (sim | Daly)", "optimum pts (sim | Daly)", "adaptive", "naive", "milestone",
            f"fixed {g['off_optimum']:g}x optimum", "adaptive+emerg.", "adaptive waste (old x opt)")
    for c in cols:
        t.add_column(c)
    for row in g["rows"]:
        def cell(k):
            x = row.get(f"{k}_excess_vs_optimum")
            return (f"{row[f'{k}_excess_pts']:.2f} +- {row[f'{k}_excess_ci_pts']:.2f}"
                    + (f" ({x:.2f}x)" if x is not None else ""))
        t.add_row(f"{row['rate_per_h']:g}", f"{row['floor_pts']:.2f} | {row['daly_floor_pts']:.2f}",
                  f"{row['optimum_excess_pts']:.2f} | {row['daly_excess_pts']:.2f}", cell("adaptive"), cell("naive"),
                  cell("milestone"), cell("fixed_4x"), cell("adaptive+emergency"),
                  f"{row['adaptive_waste']:.2%} ({row['adaptive_vs_optimal']:.2f}x)")
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
        res = {"size": args.size, "machine": _machine(device), "repeats": REPEATS[args.size],
               "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0))}
        res["stall"] = stall.run(args.size, device, REPEATS[args.size], work)
        res["recovery"] = recovery.run(args.size, device, RECOVERY_REPEATS[args.size], work)
        res["distributed"] = distributed.run(args.size, REPEATS[args.size], work / "distributed")  # CPU, gloo
    ss = res["stall"]["methods"]["spotshield"]
    if "error" in ss:
        raise SystemExit(f"error: the SpotShield checkpoint benchmark failed: {ss['error']}")
    C, source = checkpoint_cost_s(res["stall"])
    res["goodput"] = goodput.run(args.size, C, res["recovery"]["spotshield"]["total_s"],
                                 persist_s=ss["persist_ms"] / 1000.0) | {"checkpoint_source": source}
    res["seconds"] = time.time() - t0
    res["machine"]["loadavg_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2))
    _print(res)
    distributed.show(res["distributed"])
    print(f"wrote {args.out} in {res['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
