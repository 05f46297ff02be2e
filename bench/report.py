"""Markdown tables of a results.json, for bench/RESULTS.md: `python -m bench.report FILE`."""
from __future__ import annotations

import json
import sys


def markdown(res: dict) -> str:
    m, s, r, g = res["machine"], res["stall"], res["recovery"], res["goodput"]
    where = f"{m.get('gpu') or m['cpu']} ({m['cpu_count']} CPUs), torch {m['torch']}, device {m['device']}"
    out = [f"Machine: {where}; size {res['size']}; started {res['started']}; {res['seconds']:.0f} s in all.", "",
           f"Checkpoint stall per save, {s['state_mb']:.0f} MB state (median):", "",
           "| method | stall ms | note |", "|---|---|---|"]
    for name, v in s["methods"].items():
        if "error" in v:
            out.append(f"| {name} | - | {v['error']} |")
        else:
            note = f"persist {v['persist_ms']:.0f} ms in the background" if "persist_ms" in v else ""
            out.append(f"| {name} | {v['stall_ms']:.1f} | {note} |")
    if s.get("spotshield_vs_copy"):
        out += ["", f"SpotShield stall = {s['spotshield_vs_copy']:.2f}x the plain copy, "
                    f"{s['spotshield_vs_torch_save']:.2f}x torch.save."]
    out += ["", "Recovery, new process -> first resumed training step (median):", "",
            "| path | total s | startup s | load s | first step s |", "|---|---|---|---|---|"]
    for mode in ("spotshield", "bare"):
        v = r[mode]
        out.append(f"| {mode} | {v['total_s']:.2f} | {v['startup_s']:.2f} | {v['load_s']:.3f} | {v['first_step_s']:.3f} |")
    out += ["", f"Goodput under Poisson preemptions (C = {g['checkpoint_s'] * 1000:.1f} ms, R = {g['restart_s']:.0f} s, "
                f"persist {g.get('persist_s', 0):.2f} s, {g['runs_per_point']} runs of {g['work_h']:g} h per point): "
                "waste share, and x the simulated optimum:", "",
            "| rate/h | Daly formula | optimum (sim) | adaptive | naive | milestone | adaptive + emergency |",
            "|---|---|---|---|---|---|---|"]
    for row in g["rows"]:
        out.append(f"| {row['rate_per_h']:g} | {row['optimal_waste']:.2%} | {row['optimum_waste']:.2%} | "
                   f"{row['adaptive_waste']:.2%} ({row['adaptive_vs_optimal']:.2f}x) | "
                   f"{row['naive_waste']:.2%} ({row['naive_vs_optimal']:.2f}x) | "
                   f"{row['milestone_waste']:.2%} ({row['milestone_vs_optimal']:.2f}x) | "
                   f"{row['adaptive+emergency_waste']:.2%} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m bench.report RESULTS.json")
    try:
        print(markdown(json.loads(open(sys.argv[1]).read())))
    except (OSError, json.JSONDecodeError, KeyError) as e:
        sys.exit(f"error: cannot read {sys.argv[1]}: {type(e).__name__}: {e}")
