"""report.md: one page that embeds the figures and states the findings with numbers.

Every per-condition figure is a mean over seeds with its 95% Student-t interval
(spotshield/analysis/stats.py); differences between strategies are judged paired by seed,
and the report says when they are within the noise of the seeds. The "best" condition is
flagged when it rests on runs without preemptions or saves more than the price discount.
"""
from __future__ import annotations

import math
import statistics
from datetime import datetime, timezone
from pathlib import Path

REPORT = "report.md"


def _pct(x: float) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.1%}"


def _num(x: float, fmt: str = ".1f") -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, fmt)


def _ci_table(ci) -> str:
    """The condition table: every figure as mean ± the half-width of its 95% interval over seeds."""
    from spotshield.analysis.stats import Interval

    cols = [("preemptions", 1, ".1f", ""), ("wasted_emulated_s", 1, ".0f", ""), ("recovery_emulated_s_mean", 1, ".0f", ""),
            ("checkpoint_overhead", 100, ".2f", "%"), ("savings", 100, ".1f", "%"), ("accuracy_delta", 1, "+.4f", "")]
    head = ("| strategy | pattern | seeds | runs without preemption | preemptions | wasted (emulated s) | "
            "recovery (emulated s) | ckpt overhead | savings | accuracy Δ (same seed) |")
    lines = [head, "|" + "---|" * 10]
    for _, r in ci.sort_values(["pattern", "strategy"]).iterrows():
        cells = [Interval(r[c], r[f"{c}_low"], r[f"{c}_high"], int(r["seeds"])).text(k, f, u) for c, k, f, u in cols]
        zero = f"**{int(r['zero_preemption_runs'])}**" if r["zero_preemption_runs"] else "0"
        lines.append(f"| {r['strategy']} | {r['pattern']} | {int(r['seeds'])} | {zero} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _noise_section(df, ci) -> list[str]:
    from spotshield.analysis import stats

    seeds = sorted({int(n) for n in ci["seeds"]}) if len(ci) else []
    t = ", ".join(f"t = {stats.t975(n - 1):.2f} for {n} seeds" for n in seeds if n >= 2) or "none: one seed each"
    lines = ["## Seeds and noise", "",
             f"Each figure is the mean over seeds ± the half-width of its two-sided 95% Student-t interval "
             f"(t quantile with seeds − 1 degrees of freedom: {t}); one seed gives no interval. "
             "Times are emulated seconds, the clock the bill and R use (spotshield/analysis/emulated.py). "
             "Conditions with runs that met no preemption are in bold: their "
             "savings are partly those of an uninterrupted run.", "", _ci_table(ci), "",
             "**Strategies compared on savings**, paired by seed (the seed fixes the preemption schedule, "
             "so both strategies met the same preemptions); a difference whose paired 95% interval includes 0 "
             "is within the noise of the seeds:", ""]
    comps = stats.strategy_comparisons(df, "savings")
    if not comps:
        lines.append("- only one strategy: nothing to compare.")
    for scope, c in comps:
        lines.append(f"- {scope}: {c.verdict()}.")
    if comps:
        noisy = sum(c.within_noise for _, c in comps)
        lines += ["", f"{noisy} of {len(comps)} strategy differences are within the noise of the seeds."]
    return lines + [""]


def _accuracy_line(df) -> str:
    runs, base = df[~df["baseline"]], df[df["baseline"]]
    d = runs["accuracy_delta"]
    unpaired = int(d.isna().sum())
    tail = f" ({unpaired} runs have no baseline of their seed and are left out)" if unpaired else ""
    gap = ""
    if base["seed"].nunique() > 1:
        b = base.groupby("seed")["final_accuracy"].mean()
        gap = (f" The baselines of different seeds differ by up to {b.max() - b.min():.4f}: that is the seed-to-seed "
               "gap a delta across seeds would report instead.")
    if not len(d.dropna()):
        return "- **Accuracy:** no run has a baseline of its own seed to compare with." + gap
    if (d.dropna() == 0).all():
        return (f"- **Accuracy** against the same seed's baseline: every one of the {len(d.dropna())} runs ends "
                f"with exactly the baseline's accuracy (Δ = 0){tail}.{gap}")
    from spotshield.analysis.stats import mean_ci

    return (f"- **Accuracy** against the same seed's baseline: Δ {mean_ci(d).text(1, '+.4f')} (95% CI), "
            f"from {d.min():+.4f} to {d.max():+.4f} over {len(d.dropna())} runs{tail}.{gap}")


PART_NAMES = {  # metrics.RECOVERY_PARTS, as the report names them
    "notice_to_exit": "notice → exit (shutdown.sh, the emergency checkpoint, the exit)",
    "exit_to_vm_running": "exit → VM running (the group's repair and the VM's boot, modelled)",
    "vm_running_to_first_step": "VM running → first step (boot script, Python, torch, data, checkpoint load)",
}


def _parts_section(runs, R: float, R_billed: float) -> list[str]:
    """R split into its three parts (metrics.RECOVERY_PARTS), emulated seconds, over every recovery."""
    from spotshield.analysis import stats
    from spotshield.analysis.metrics import RECOVERY_PARTS

    lines = ["## Restart time R, in three parts", ""]
    totals = [v for lst in runs.get("recoveries_emulated_s", []) for v in lst]
    if not totals:
        return lines + ["No run was preempted and resumed: nothing to split.", ""]
    mean_total = sum(totals) / len(totals)
    lines += [f"R = {R:.0f} emulated s is the median of the {len(totals)} recoveries (notice → next training "
              f"step, emulated s); their mean, {mean_total:.0f} s, is the sum of the parts' means below. "
              "A guest's own start-up and shutdown take real seconds at 1x under guest_time real; the repair "
              "gap is the emulator's model (on GCP, the managed group's). No VM exists in that gap, so it bills "
              f"nothing: the restart time VMs bill, the first and last parts, is R billed = {R_billed:.0f} "
              "emulated s (median over the recoveries), and that is the R of the cost model below. The emulator "
              "starts the boot script as soon as the VM is RUNNING; on a real VM the OS boot, the GPU driver and "
              "the build's install come first, billed (tens of seconds to minutes): read the curve below at your "
              "own VM's R.", "",
              "| part | median (emulated s) | mean ± 95% CI (emulated s) | share of the mean |", "|---|---|---|---|"]
    for p in RECOVERY_PARTS:
        vals = [v for lst in runs.get(f"{p}_emulated_s", []) for v in lst]
        if not vals:
            continue
        ci = stats.mean_ci(vals)
        share = ci.mean / mean_total if mean_total > 0 else math.nan
        lines.append(f"| {PART_NAMES[p]} | {statistics.median(vals):.0f} | {ci.text(1, '.0f')} | {_pct(share)} |")
    return lines + [""]


def _restart_section(C: float, R: float, spot: float, od: float) -> list[str]:
    from spotshield.analysis import restart_curve

    # C = 0 (no checkpoint measured) is Daly's limit tau -> 0, which overflows at high rates: a microsecond
    pts = restart_curve.curve(max(C, 1e-6), spot, od, measured_r=R if R > 0 else None)
    rates = restart_curve.RATES_PER_H
    head = "| R (s) | break-even (preemptions/h) | " + " | ".join(f"savings at {r:g}/h" for r in rates) + " |"
    lines = ["## Restart time R as a variable", "",
             "Savings and break-even depend on R, the restart time a preemption costs in VM time (the dying "
             "VM's shutdown and the new VM's start-up up to its first step; the gap with no VM bills nothing), "
             "and this study's R is the emulator's. Read off your own VM's R (seconds of the VM's clock: "
             "emulated seconds here, real seconds on a real VM). Model: spotshield/youngdaly.py (Daly's "
             f"expectation at the optimal interval) with this study's C = {C:.3g} s and prices; "
             f"the price discount, {1 - spot / od:.1%}, is the most spot can save. "
             "Figure: `break_even_vs_restart.png`.", "", head, "|" + "---|" * (2 + len(rates))]
    for p in pts:
        be = "never" if math.isinf(p.break_even_per_h) else f"{p.break_even_per_h:.3g}"
        name = f"**{p.restart_s:.0f} (this study)**" if p.measured else f"{p.restart_s:.0f}"
        lines.append(f"| {name} | {be} | " + " | ".join(_pct(p.savings[r]) for r in rates) + " |")
    return lines + [""]


def _advice_section(df, C: float, R: float, spot: float, od: float, trace_checks) -> list[str]:
    from spotshield.analysis import advice_check

    lines = ["## How far to trust `spotshield advise`", ""]
    runs = df[~df["baseline"]]
    if len(runs) and C > 0:
        chk = advice_check.check_study(df, C, R, spot, od)
        g, go = chk.gap, chk.gap_own_interval
        verdict = "agrees within" if chk.ok else "**disagrees beyond**"
        lines.append(
            f"- **Against these runs:** each run's billed spot/on-demand cost vs advise's expected cost at that run's "
            f"own preemption rate per VM hour (C = {C:.3g} s, R billed = {R:.3g} s, emulated): measured − advised = "
            f"{g.text(100, '+.1f', '%')} of the advised cost (mean and 95% CI over {chk.runs} runs, "
            f"{chk.preempted_runs} preempted); advise {verdict} "
            f"the stated tolerance of ±{chk.tolerance:.0%}. Advise prices its optimal interval; a strategy that "
            f"checkpoints less often loses more work per preemption, and Daly's expectation at each run's own "
            f"checkpoint interval gives {go.text(100, '+.1f', '%')}. "
            "(spotshield/analysis/advice_check.py)")
    if trace_checks:
        lines += [
            "- **Against real preemption traces:** a day of compute replayed at the advised interval from "
            f"{advice_check.TRACE_STARTS} start times in each trace, C and R as above taken as real seconds, rows read "
            "as stretches with capacity (docs/deadline.md). The replayed billed time must lie within advise's "
            "expectation at the two ends of the 95% interval of the trace's rate, and the advised interval must cost "
            f"within {advice_check.RECOMMENDATION_REGRET:.0%} of the best of "
            f"{', '.join(f'{m:g}' for m in advice_check.INTERVAL_MULTIPLES)} × it:",
            "", "| trace | capacity losses | rate (/h) | advised interval (s) | advised billed/work | band | "
                "replayed billed/work | regret of the advised interval | ok |", "|" + "---|" * 9]
        for c in trace_checks:
            lines.append(f"| {c.trace} | {c.losses} | {c.rate_per_h:.3f} | {c.advised_interval_s:.0f} | "
                         f"{c.advised_ratio:.4f} | {c.band[0]:.4f}-{c.band[1]:.4f} | {c.replayed_ratio:.4f} | "
                         f"{c.regret:.2%} | {'yes' if c.ok else '**no**'} |")
    return lines + [""]


def _savings_lines(df, ci, spot: float, od: float) -> list[str]:
    from spotshield.analysis import stats

    runs = df[~df["baseline"]]
    ceiling = 1 - spot / od
    iv = lambda r: stats.Interval(r["savings"], r["savings_low"], r["savings_high"], int(r["seeds"]))  # noqa: E731
    ranked = ci.sort_values("savings", ascending=False)
    best, worst = ranked.iloc[0], ranked.iloc[-1]
    overall = stats.mean_ci(runs["savings"])
    text = (f"- **Savings:** spot saves {overall.text(100, '.1f', '%')} (mean ± 95% CI over {len(runs)} runs)"
            if overall.defined else f"- **Savings:** spot saves {_pct(overall.mean)} in the one run")
    if len(ranked) > 1:
        text += (f"; best {best['strategy']}/{best['pattern']} {iv(best).text(100, '.1f', '%')}, "
                 f"worst {worst['strategy']}/{worst['pattern']} {iv(worst).text(100, '.1f', '%')}")
    lines = [f"{text}; the price discount, the most spot can save, is {ceiling:.1%}."]
    flags = stats.best_condition(df, ceiling)
    for w in flags.warnings() if flags else []:
        lines.append(f"  - **Caution:** {w}.")
    return lines


def write_report(out: Path, df, agg, figs: dict[str, str], *, C: float, R: float, break_even: float,
                 spot: float, od: float, warnings: list[str], source: str, spot_estimated: bool = False,
                 ci=None, trace_checks=(), R_billed: float | None = None) -> Path:
    """R: the median recovery (notice -> next step); R_billed: its median part that VMs bill (the
    cost model's R, analyze.measured_c_r), R when not given."""
    Rb = R if R_billed is None else R_billed
    from spotshield.analysis import stats

    ci = stats.condition_intervals(df) if ci is None else ci
    base = df[df["baseline"]]
    runs = df[~df["baseline"]]
    by_s = runs.groupby("strategy")
    recov = sorted(v for lst in runs["recoveries_emulated_s"] for v in lst)
    model = ", ".join(sorted(set(df["guest_time"]))) if "guest_time" in df else "scaled"
    lines = [
        "# SpotShield study report",
        "",
        f"Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by `spotshield analyze` from `{source}`: "
        f"{len(runs)} spot runs and {len(base)} on-demand baseline runs "
        f"({', '.join(sorted(set(df['model'].dropna())))} on {', '.join(sorted(set(df['data'].dropna())))}, "
        f"device {', '.join(sorted(set(df['device'].dropna().astype(str))))}). "
        f"Prices: spot ${spot:g}/h{' (an estimate)' if spot_estimated else ''}, on-demand ${od:g}/h "
        f"(price discount {1 - spot / od:.1%}). Costs use the emulated clock "
        f"(time scale {', '.join(sorted({f'{x:g}' for x in df['time_scale']}))} emulated s per real s; time "
        f"model guest_time {model}: under real a guest's own start-up and shutdown count 1x, "
        "spotshield/analysis/emulated.py). Every duration below is in emulated seconds unless it says real. "
        "Savings compare each run's spot spent (every boot, start-up included) with an uninterrupted "
        "on-demand run of the same work (one start-up plus the training of the kept steps): "
        "spotshield/billing.py. Intervals are 95% Student t over seeds (section Seeds and noise).",
        "",
    ]
    if warnings:
        lines += ["> **Verification warnings (analysed with --force):** " + "; ".join(warnings), ""]
    lines += ["## Findings", ""]
    if len(base):
        lines.append(f"- **Baseline:** the uninterrupted run takes {_num(base['wall_emulated_s'].mean(), '.0f')} "
                     f"emulated s ({_num(base['wall_s'].mean())} real s), reaches "
                     f"accuracy {_num(base['final_accuracy'].mean(), '.3f')} and costs "
                     f"${base['cost_ondemand'].mean():.4f} on demand.")
    if len(runs):
        lines += _savings_lines(df, ci, spot, od)
        parts = [f"{s} {stats.mean_ci(g['wasted_emulated_s']).text(1, '.0f')} emulated s "
                 f"({_num(g['wasted_steps'].mean(), '.0f')} steps)" for s, g in by_s]
        lines.append(f"- **Wasted compute** per run (re-done work), by strategy: {', '.join(parts)}.")
        parts = [f"{s} {_pct(g['checkpoint_overhead'].mean())} ({_num(g['checkpoints'].mean(), '.0f')} saves, "
                 f"{_num(g['stall_per_checkpoint_s'].mean() * 1000, '.0f')} ms each)" for s, g in by_s]
        lines.append(f"- **Checkpoint overhead** (training stall share): {', '.join(parts)}.")
        ok, missed = int(runs["emergency_ok"].sum()), int(runs["emergency_missed"].sum())
        emerg = (f"emergency checkpoints {ok} made the deadline, {missed} missed it" if ok + missed
                 else "no emergency checkpoint was taken (turned off in these runs)")
        none = int((runs["preemptions"] == 0).sum())
        lines.append(f"- **Preemptions:** {int(runs['preemptions'].sum())} in all; {none} of {len(runs)} runs met "
                     f"none; {emerg}.")
        if recov:
            p90 = recov[min(len(recov) - 1, int(0.9 * len(recov)))]
            lines.append(f"- **Recovery** (notice -> next training step, emulated s): median "
                         f"{statistics.median(recov):.0f} s, p90 {p90:.0f} s, max {recov[-1]:.0f} s over "
                         f"{len(recov)} restarts; its three parts are in Restart time R, in three parts.")
        lines.append(_accuracy_line(df))
    be = "never (spot stays cheaper)" if math.isinf(break_even) else f"{break_even:.3g} preemptions per hour"
    lines.append(f"- **Break-even:** with the measured checkpoint cost C = {C:.3g} s, the restart time VMs bill "
                 f"R billed = {Rb:.3g} s (of R = {R:.3g} s; the repair gap bills nothing) in emulated seconds, and "
                 f"the optimal Young/Daly interval, Spot stops being cheaper at {be}; "
                 "for other R see Restart time R as a variable.")
    lines.append("")
    if len(runs):
        lines += _noise_section(df, ci)
    lines += _parts_section(runs, R, Rb)
    lines += _restart_section(C, Rb, spot, od)
    lines += _advice_section(df, C, Rb, spot, od, trace_checks)
    titles = {"cost": "Cost by condition vs on-demand", "wasted": "Wasted compute", "accuracy": "Accuracy vs baseline",
              "timeline": "Run timelines", "overhead": "Checkpoint overhead", "recovery": "Recovery time",
              "break_even": "Break-even curve", "break_even_vs_restart": "Break-even and savings vs restart time R"}
    lines += ["## Figures", ""]
    for key, png in figs.items():
        lines.append(f"![{titles.get(key, key)}]({png})")
    lines += ["", "Tables: `metrics_summary.csv` (one row per run), `metrics_by_condition.csv` (means), "
              "`metrics_intervals.csv` (means with 95% interval bounds). Figures also as PDF. "
              "Definitions: `spotshield/analysis/metrics.py`, `spotshield/analysis/stats.py`.", ""]
    p = out / REPORT
    p.write_text("\n".join(lines))
    return p
