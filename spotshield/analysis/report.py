"""report.md: one page that embeds the figures and states the findings with numbers."""
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


def _table(agg) -> str:
    head = "| strategy | pattern | runs | preemptions | wasted s | ckpt overhead | recovery s | savings | accuracy Δ |"
    lines = [head, "|" + "---|" * 9]
    for _, r in agg.sort_values(["pattern", "strategy"]).iterrows():
        lines.append(f"| {r['strategy']} | {r['pattern']} | {int(r['runs'])} | {_num(r['preemptions'])} | "
                     f"{_num(r['wasted_s'])} | {_pct(r['checkpoint_overhead'])} | {_num(r['recovery_s_mean'])} | "
                     f"{_pct(r['savings'])} | {_num(r['accuracy_delta'], '+.3f')} |")
    return "\n".join(lines)


def _model_check(runs, C: float, R: float, spot: float, od: float) -> str:
    """Measured spot/on-demand cost vs what the advice model predicts at the observed rate."""
    from spotshield import youngdaly

    parts = []
    for pattern, g in runs.groupby("pattern"):
        hours = float((g["wall_s"] * g["time_scale"]).sum()) / 3600.0
        rate = float(g["preemptions"].sum()) / hours if hours > 0 else 0.0
        measured = float((g["cost_spot"] / g["cost_ondemand"]).mean())
        if rate > 0:
            predicted = youngdaly.cost_ratio(youngdaly.best_wall_ratio(C, R, 3600.0 / rate), spot, od)
            parts.append(f"{pattern} {rate:.2g}/h: measured {measured:.2f}, model {predicted:.2f}")
    if not parts:
        return "- **Model check:** no preemptions observed, nothing to compare."
    return ("- **Model check** (spot/on-demand cost at the observed preemption rate; the model assumes the "
            "optimal interval, no emergency checkpoint, and the baseline's step speed): " + "; ".join(parts) + ".")


def write_report(out: Path, df, agg, figs: dict[str, str], *, C: float, R: float, break_even: float,
                 spot: float, od: float, warnings: list[str], source: str, spot_estimated: bool = False) -> Path:
    base = df[df["baseline"]]
    runs = df[~df["baseline"]]
    by_s = runs.groupby("strategy")
    recov = sorted(v for lst in runs["recoveries_s"] for v in lst)
    lines = [
        "# SpotShield study report",
        "",
        f"Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by `spotshield analyze` from `{source}`: "
        f"{len(runs)} spot runs and {len(base)} on-demand baseline runs "
        f"({', '.join(sorted(set(df['model'].dropna())))} on {', '.join(sorted(set(df['data'].dropna())))}, "
        f"device {', '.join(sorted(set(df['device'].dropna().astype(str))))}). "
        f"Prices: spot ${spot:g}/h{' (an estimate)' if spot_estimated else ''}, on-demand ${od:g}/h "
        f"(price discount {1 - spot / od:.1%}). Costs use the emulated clock "
        f"(time scale {', '.join(sorted({f'{x:g}' for x in df['time_scale']}))} emulated s per real s). "
        "Savings compare each run's spot spent (every boot, start-up included) with an uninterrupted "
        "on-demand run of the same work (one start-up plus the training of the kept steps): "
        "spotshield/billing.py.",
        "",
    ]
    if warnings:
        lines += ["> **Verification warnings (analysed with --force):** " + "; ".join(warnings), ""]
    lines += ["## Findings", ""]
    if len(base):
        lines.append(f"- **Baseline:** the uninterrupted run takes {_num(base['wall_s'].mean())} s, reaches accuracy "
                     f"{_num(base['final_accuracy'].mean(), '.3f')} and costs ${base['cost_ondemand'].mean():.4f} on demand.")
    if len(runs):
        best = agg.sort_values("savings", ascending=False).iloc[0]
        worst = agg.sort_values("savings").iloc[0]
        lines.append(f"- **Savings:** spot saves {_pct(runs['savings'].mean())} on average; best "
                     f"{best['strategy']}/{best['pattern']} {_pct(best['savings'])}, worst "
                     f"{worst['strategy']}/{worst['pattern']} {_pct(worst['savings'])}.")
        parts = [f"{s} {_num(g['wasted_s'].mean())} s ({_num(g['wasted_steps'].mean(), '.0f')} steps)" for s, g in by_s]
        lines.append(f"- **Wasted compute** per run (re-done work), by strategy: {', '.join(parts)}.")
        parts = [f"{s} {_pct(g['checkpoint_overhead'].mean())} ({_num(g['checkpoints'].mean(), '.0f')} saves, "
                 f"{_num(g['stall_per_checkpoint_s'].mean() * 1000, '.0f')} ms each)" for s, g in by_s]
        lines.append(f"- **Checkpoint overhead** (training stall share): {', '.join(parts)}.")
        ok, missed = int(runs["emergency_ok"].sum()), int(runs["emergency_missed"].sum())
        emerg = (f"emergency checkpoints {ok} made the deadline, {missed} missed it" if ok + missed
                 else "no emergency checkpoint was taken (turned off in these runs)")
        lines.append(f"- **Preemptions:** {int(runs['preemptions'].sum())} in all; {emerg}.")
        if recov:
            p90 = recov[min(len(recov) - 1, int(0.9 * len(recov)))]
            lines.append(f"- **Recovery** (notice -> next training step): median {statistics.median(recov):.1f} s, "
                         f"p90 {p90:.1f} s, max {recov[-1]:.1f} s over {len(recov)} restarts.")
        lines.append(f"- **Accuracy:** runs differ from the baseline by {_num(runs['accuracy_delta'].min(), '+.3f')} to "
                     f"{_num(runs['accuracy_delta'].max(), '+.3f')} (mean {_num(runs['accuracy_delta'].mean(), '+.3f')}).")
    be = "never (spot stays cheaper)" if math.isinf(break_even) else f"{break_even:.3g} preemptions per hour"
    lines.append(f"- **Break-even:** with the measured checkpoint cost C = {C:.3g} s and restart R = {R:.3g} s "
                 f"(emulated seconds) and the optimal Young/Daly interval, Spot stops being cheaper at {be}.")
    if len(runs) and C > 0:
        lines.append(_model_check(runs, C, R, spot, od))
    lines += ["", "## By condition", "", _table(agg), ""]
    titles = {"cost": "Cost by condition vs on-demand", "wasted": "Wasted compute", "accuracy": "Accuracy vs baseline",
              "timeline": "Run timelines", "overhead": "Checkpoint overhead", "recovery": "Recovery time",
              "break_even": "Break-even curve"}
    lines += ["## Figures", ""]
    for key, png in figs.items():
        lines.append(f"![{titles.get(key, key)}]({png})")
    lines += ["", "Tables: `metrics_summary.csv` (one row per run), `metrics_by_condition.csv`. "
              "Figures also as PDF. Definitions: `spotshield/analysis/metrics.py`.", ""]
    p = out / REPORT
    p.write_text("\n".join(lines))
    return p
