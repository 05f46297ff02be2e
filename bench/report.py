"""Markdown tables of a results.json, for bench/RESULTS.md: `python -m bench.report FILE`."""
from __future__ import annotations

import json
import sys


def markdown(res: dict) -> str:
    from bench import spread

    m, s, r, g = res["machine"], res["stall"], res["recovery"], res["goodput"]
    where = f"{m.get('gpu') or m['cpu']} ({m['cpu_count']} CPUs), torch {m['torch']}, device {m['device']}"
    load = (f"; load average (1/5/15 min) {'/'.join(f'{x:.1f}' for x in m['loadavg_start'])} at the start, "
            f"{'/'.join(f'{x:.1f}' for x in m['loadavg_end'])} at the end") if "loadavg_end" in m else ""
    out = [f"Machine: {where}; size {res['size']}; started {res['started']}; {res['seconds']:.0f} s in all{load}.", "",
           f"Checkpoint stall per save, each save alone, {s['state_mb']:.0f} MB state (real ms; later saves as "
           "median (IQR p25-p75, min-max, n)):", "",
           "| method | first save ms | later saves ms | persist ms (background) |", "|---|---|---|---|"]
    for name, v in s["methods"].items():
        if "error" in v:
            out.append(f"| {name} | - | {v['error']} | |")
        else:
            persist = spread.text(v["persist"], 0) if "persist" in v else ""
            out.append(f"| {name} | {v['first_ms']:.1f} | {spread.text(v['stall'])} | {persist} |")
    if s.get("notes"):
        out += ["", "DCP staging: " + "; ".join(f"`{k}` {v}" for k, v in s["notes"].items()) + "."]
    if s.get("spotshield_vs_copy"):
        out += ["", f"SpotShield stall (later saves, medians) = {s['spotshield_vs_copy']:.2f}x the plain copy, "
                    f"{s['spotshield_vs_torch_save']:.3f}x torch.save"
                    + (f", {s['spotshield_vs_dcp_cached']:.2f}x DCP with cached staging" if s.get("spotshield_vs_dcp_cached")
                       else "") + "."]
    if s.get("training"):
        out += ["", "Training while a save persists (real ms; a step is *in flight* when a persist was running at its "
                    "start; slowdown = median in-flight step / median of the steps just before that save; lost per save = "
                    "stall + the overlapped steps' time beyond that median):", "",
                "| method | step ms, none in flight | step ms, persist in flight | slowdown x (per save, paired) | steps in flight per save "
                "(min-max) | training lost per save ms |", "|---|---|---|---|---|---|"]
        for name, v in s["training"].items():
            if "error" in v:
                out.append(f"| {name} | {v['error']} | | | | |")
                continue
            n = v["inflight_steps_per_save"]
            slow = spread.text(v["slowdown_per_save"], 2) if v["slowdown"] else "-"
            inflight = spread.text(v["step_inflight"]) if v["step_inflight"] else "none"
            out.append(f"| {name} | {spread.text(v['step_base'])} | {inflight} | {slow} | "
                       f"{n['median']:g} ({n['min']:g}-{n['max']:g}) | {spread.text(v['lost_per_save'])} |")
    out += ["", "Recovery, new process -> first resumed training step (real s, medians; total with IQR, min-max, n):", "",
            "| path | total s | startup s | load s | first step s |", "|---|---|---|---|---|"]
    for mode in ("spotshield", "bare"):
        v = r[mode]
        out.append(f"| {mode} | {spread.text(v['total'], 2)} | {v['startup_s']:.2f} | {v['load_s']:.3f} | "
                   f"{v['first_step_s']:.3f} |")
    out += ["", f"Goodput under Poisson preemptions (C = {g['checkpoint_s'] * 1000:.1f} ms: "
                f"{g.get('checkpoint_source', 'stall per save')}; R = {g['restart_s']:.0f} s; persist "
                f"{g.get('persist_s', 0):.2f} s; {g['runs_per_point']} runs of {g['work_h']:g} h per point): "
                "excess waste over the R floor in percentage points of wall time, +- a 95% interval over the runs, "
                "(x the optimum's excess on the same seed); the last column is the total waste and the old ratio "
                "of total wastes, for contrast:", "",
            f"| rate/h | R floor pts (sim / Daly) | optimum pts (sim / Daly) | adaptive | naive | milestone | "
            f"fixed {g['off_optimum']:g}x optimum | adaptive + emergency | adaptive waste (old x opt) |",
            "|---|---|---|---|---|---|---|---|---|"]

    def cell(row, k):
        x = row.get(f"{k}_excess_vs_optimum")
        return f"{row[f'{k}_excess_pts']:.2f} +- {row[f'{k}_excess_ci_pts']:.2f}" + (f" ({x:.2f}x)" if x is not None else "")

    for row in g["rows"]:
        out.append(f"| {row['rate_per_h']:g} | {row['floor_pts']:.2f} / {row['daly_floor_pts']:.2f} | "
                   f"{row['optimum_excess_pts']:.2f} / {row['daly_excess_pts']:.2f} | "
                   + " | ".join(cell(row, k) for k in ("adaptive", "naive", "milestone", "fixed_4x", "adaptive+emergency"))
                   + f" | {row['adaptive_waste']:.2%} ({row['adaptive_vs_optimal']:.2f}x) |")
    if res.get("distributed"):
        out += ["", *_distributed(res["distributed"])]
    return "\n".join(out) + "\n"


def _distributed(d: dict) -> list[str]:
    from bench import spread

    s = d["save"]
    out = [f"Distributed save, {s['world']} gloo ranks each holding the same {s['state_mb']:.0f} MB data-parallel state "
           f"({s['written_mb']:.0f} MB written), against CheckpointManager's save of it in one process (real ms):", "",
           "| path | first save ms | later saves ms |", "|---|---|---|",
           f"| DistributedCheckpointer (slowest rank) | {s['dcp_first_stall_ms']:.1f} | {spread.text(s['dcp_stall'])} |",
           f"| CheckpointManager | {s['single_first_ms']:.1f} | {spread.text(s['single_stall'])} |", "",
           f"Ratio of medians {s['dcp_vs_single']:.2f}x; stop agreement {s['stop_check_us']:.0f} us per check (median, "
           f"p90 {s['stop_check_p90_us']:.0f} us).", "",
           "Notice -> first step after torchrun re-forms the job (real s, one run each):", "",
           "| re-formed at | total s | emergency checkpoint s | exits + rendezvous + spawn s | Python + torch import s "
           "| group + load s | first step s |", "|---|---|---|---|---|---|---|"]
    for name, r in d.get("reform", {}).items():
        out.append(f"| {name} | {r['total_s']:.1f} | {r['emergency_s']:.2f} | {r['rendezvous_s']:.1f} | "
                   f"{r['import_s']:.1f} | {r['init_load_s']:.1f} | {r['first_step_s']:.2f} |")
    return out


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m bench.report RESULTS.json")
    try:
        print(markdown(json.loads(open(sys.argv[1]).read())))
    except (OSError, json.JSONDecodeError, KeyError) as e:
        sys.exit(f"error: cannot read {sys.argv[1]}: {type(e).__name__}: {e}")
