"""The `spotshield analyze` pipeline: load -> verify -> tables -> figures -> report."""
from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from spotshield import youngdaly
from spotshield.analysis import advice_check, figures, report, stats, tables, verify
from spotshield.analysis.emulated import GUEST_TIMES
from spotshield.analysis.metrics import BILLED_PARTS
from spotshield.analysis.runs import load_runs
from spotshield.billing import DEFAULT_GPU, DEFAULT_MACHINE, resolve_rate
from spotshield.errors import SpotShieldError

MEASURED_JSON = "measured.json"  # median C and R in emulated seconds, for `spotshield advise --from`
INTERVALS_CSV = "metrics_intervals.csv"  # per condition: mean and 95% interval bounds over seeds


@dataclass
class Analysis:
    out: Path
    runs: int
    summary_csv: Path
    conditions_csv: Path
    report: Path
    figures: dict[str, str]
    warnings: list[str] = field(default_factory=list)
    checkpoint_s: float = 0.0
    restart_s: float = 0.0
    restart_billed_s: float = 0.0
    break_even_per_h: float = math.inf


def measured_c_r(df) -> tuple[float, float, float]:
    """(C, R, R billed): the median stall per checkpoint, the median recovery (notice -> next
    step) and the median of its parts that a VM bills (notice -> exit and VM running -> first
    step: without the repair gap, in which no VM exists), in emulated seconds under each run's time
    model (metrics.py: a guest's own start-up and shutdown at 1x when guest_time is real).
    Cost follows R billed (youngdaly's R is time a VM bills); time to finish follows R."""
    cs = [v for v in df["stall_per_checkpoint_emulated_s"] if not math.isnan(v)]
    rs = [v for lst in df["recoveries_emulated_s"] for v in lst]
    exits, starts = (f"{p}_emulated_s" for p in BILLED_PARTS)
    billed = [a + b for xs, ys in zip(df[exits], df[starts]) for a, b in zip(xs, ys)] if exits in df else rs
    med = lambda xs: statistics.median(xs) if xs else 0.0  # noqa: E731
    return med(cs), med(rs), med(billed)


def run_analysis(source: str, out: Path, *, spot_price: float | None = None, ondemand_price: float | None = None,
                 machine: str = DEFAULT_MACHINE, gpu: str | None = DEFAULT_GPU,
                 force: bool = False, time_scale: float | None = None, guest_time: str | None = None) -> Analysis:
    if guest_time is not None and guest_time not in GUEST_TIMES:
        raise SpotShieldError(f"guest time must be one of {', '.join(GUEST_TIMES)}, not {guest_time!r}")
    rate = resolve_rate(spot_price, ondemand_price, machine, gpu)
    spot, od = rate.spot, rate.on_demand
    runs = load_runs(source, time_scale=time_scale, guest_time=guest_time)
    problems = verify.verify_runs(runs)
    warnings = []
    if problems:
        if not force:
            raise SpotShieldError(f"{len(problems)} of {len(runs)} runs fail verification: "
                                  f"{verify.summarize(problems)}; pass --force to analyse anyway")
        warnings = [f"{rid}: {ps[0]}" for rid, ps in problems.items()]
        # a run with malformed records or no start cannot be measured at all
        runs = [r for r in runs if not any(p.startswith(("record", "no start")) for p in problems.get(r.run_id, []))]
        if not runs:
            raise SpotShieldError("no run has well-formed events; nothing to analyse")
    df = tables.summary_frame(runs, rate)
    s_csv, c_csv = tables.write_tables(df, out)
    agg = tables.condition_frame(df)
    C, R, Rb = measured_c_r(df)
    be = youngdaly.break_even_rate(C, Rb, spot, od) if C > 0 else math.inf
    # the advice reads these back (`spotshield advise --from`), so both use the same C and R
    # the time model the emulated seconds follow (spotshield/analysis/emulated.py), said with them
    (out / MEASURED_JSON).write_text(json.dumps({"checkpoint_s": C, "restart_s": R, "restart_billed_s": Rb,
                                                 "spot_price": spot,
                                                 "ondemand_price": od, "break_even_per_h": None if math.isinf(be) else be,
                                                 "clock": "emulated", "guest_time": sorted(set(df["guest_time"]))},
                                                indent=1))
    ci = stats.condition_intervals(df)
    ci.to_csv(out / INTERVALS_CSV, index=False, float_format="%.6g")
    figs = figures.all_figures(runs, df, agg, out, max(C, 1e-6), Rb, spot, od, ci)
    # advise replayed on the real traces at this study's C and billed R (about a second of CPU)
    trace_checks = advice_check.shipped_trace_checks(C, Rb) if C > 0 else []
    rep = report.write_report(out, df, agg, figs, C=C, R=R, R_billed=Rb, break_even=be, spot=spot, od=od,
                              warnings=warnings, source=str(source), spot_estimated=rate.spot_estimated,
                              ci=ci, trace_checks=trace_checks)
    return Analysis(out, len(runs), s_csv, c_csv, rep, figs, warnings, C, R, Rb, be)
