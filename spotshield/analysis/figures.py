"""matplotlib figures of a study, each written as PNG (for report.md) and PDF (for print)."""
from __future__ import annotations

import math
from pathlib import Path

from spotshield import youngdaly
from spotshield.boots import split_boots
from spotshield.analysis.runs import Run

DPI = 110  # ~700 px wide PNGs: readable on GitHub, small in git
STRATEGY_COLORS = {"naive": "#d62728", "adaptive": "#2ca02c", "milestone": "#1f77b4", "none": "#7f7f7f"}
TIMELINE_RUNS = 3  # one run per strategy, the one with most preemptions


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, out: Path, name: str) -> str:
    fig.tight_layout()
    for ext in ("png", "pdf"):
        fig.savefig(out / f"{name}.{ext}", dpi=DPI)
    _plt().close(fig)
    return f"{name}.png"


def _grouped(ax, agg, col, ci=None, scale=1.0):
    """Bars: x = pattern, one bar per strategy; with `ci` (stats.condition_intervals) the
    error bars are each condition's 95% Student-t interval over seeds."""
    patterns = sorted(agg["pattern"].unique())
    strategies = [s for s in STRATEGY_COLORS if s in set(agg["strategy"])] or sorted(agg["strategy"].unique())
    width = 0.8 / max(1, len(strategies))
    for i, s in enumerate(strategies):
        sub = agg[agg["strategy"] == s].set_index("pattern")
        xs = [j + (i - (len(strategies) - 1) / 2) * width for j in range(len(patterns))]
        ys = [sub[col].get(p, math.nan) * scale for p in patterns]
        es = None
        if ci is not None and f"{col}_low" in ci:
            c = ci[ci["strategy"] == s].set_index("pattern")
            lo = [c[f"{col}_low"].get(p, math.nan) * scale for p in patterns]
            hi = [c[f"{col}_high"].get(p, math.nan) * scale for p in patterns]
            # an undefined interval (one seed) draws no bar; matplotlib needs non-negative lengths
            es = [[0.0 if math.isnan(l) else max(0.0, y - l) for y, l in zip(ys, lo)],
                  [0.0 if math.isnan(h) else max(0.0, h - y) for y, h in zip(ys, hi)]]
        ax.bar(xs, ys, width, label=s, color=STRATEGY_COLORS.get(s), yerr=es, capsize=3)
    ax.set_xticks(range(len(patterns)), patterns)
    ax.set_xlabel("preemption pattern")
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))


def cost_by_condition(df, agg, out, ci=None):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    _grouped(ax, agg, "cost_spot", ci)
    base = df[df["baseline"]]
    if len(base):
        ax.axhline(float(base["cost_ondemand"].mean()), color="k", ls="--", lw=1, label="on-demand baseline")
        ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_ylabel("cost of the run (USD)")
    ax.set_title("Spot cost by condition vs on-demand (mean, 95% CI over seeds)")
    return _save(fig, out, "cost_by_condition")


def wasted_by_condition(df, agg, out, ci=None):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    _grouped(ax, agg, "wasted_emulated_s", ci)
    ax.set_ylabel("wasted compute (emulated s, re-done work)")
    ax.set_title("Wasted compute by condition (mean, 95% CI over seeds)")
    return _save(fig, out, "wasted_by_condition")


def accuracy_vs_baseline(df, agg, out):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    runs = df[~df["baseline"]].sort_values(["strategy", "pattern"])
    labels = sorted({f"{s}\n{p}" for s, p in zip(runs["strategy"], runs["pattern"])})
    for _, r in runs.iterrows():
        ax.scatter(labels.index(f"{r['strategy']}\n{r['pattern']}"), r["final_accuracy"],
                   color=STRATEGY_COLORS.get(r["strategy"], "k"), s=18)
    base = df[df["baseline"]]
    if len(base):
        ax.axhline(float(base["final_accuracy"].mean()), color="k", ls="--", lw=1, label="on-demand baseline")
        ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_xticks(range(len(labels)), labels, fontsize=7)
    ax.set_ylabel("final validation accuracy")
    ax.set_title("Accuracy of every run vs the uninterrupted baseline")
    return _save(fig, out, "accuracy_vs_baseline")


def checkpoint_overhead(df, agg, out, ci=None):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    _grouped(ax, agg, "checkpoint_overhead", ci, scale=100.0)
    ax.set_ylabel("checkpoint stall (% of wall time)")
    ax.set_title("Checkpoint overhead by condition")
    return _save(fig, out, "checkpoint_overhead")


def recovery_distribution(df, agg, out):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    data, names = [], []
    for s in [s for s in STRATEGY_COLORS if s in set(df["strategy"])]:
        vals = [v for lst in df[df["strategy"] == s]["recoveries_emulated_s"] for v in lst]
        if vals:
            data.append(vals)
            names.append(f"{s} (n={len(vals)})")
    if data:
        ax.boxplot(data, showmeans=True)
        ax.set_xticks(range(1, len(names) + 1), names)
    else:
        ax.text(0.5, 0.5, "no preemptions in these runs", ha="center", transform=ax.transAxes)
    ax.set_ylabel("notice -> next training step (emulated s)")
    ax.set_title("Recovery time per preemption")
    return _save(fig, out, "recovery_distribution")


def timeline(runs: list[Run], df, out):
    plt = _plt()
    picked = []
    for s in [s for s in STRATEGY_COLORS if s in set(df["strategy"])]:
        sub = df[(df["strategy"] == s) & ~df["baseline"]].sort_values("preemptions", ascending=False)
        if len(sub):
            picked.append(sub.iloc[0]["run_id"])
    picked = picked[:TIMELINE_RUNS] or list(df["run_id"][:1])
    by_id = {r.run_id: r for r in runs}
    fig, axes = plt.subplots(len(picked), 1, figsize=(6.4, 1.9 * len(picked) + 0.6), squeeze=False)
    for ax, rid in zip(axes[:, 0], picked):
        run = by_id[rid]
        t0 = run.events[0]["t"]
        prev_end = None
        for b in split_boots(run.events):
            pts = sorted(b.progress())
            ax.plot([t - t0 for t, _ in pts], [s for _, s in pts], color="k", lw=1)
            # restart: from the end of the previous process to this one's first step
            ax.axvspan((prev_end if prev_end is not None else b.t_begin) - t0,
                       (b.first_step_time() or b.t_begin) - t0, color="orange", alpha=0.3, lw=0)
            prev_end = b.events[-1]["t"]
            for e in b.all("checkpoint"):
                ax.plot(e["t"] - t0, e["step"], "|", color="#2ca02c" if e.get("reason") != "emergency" else "#9467bd", ms=8)
            for e in b.all("preempt_notice"):
                ax.axvline(e["t"] - t0, color="#d62728", lw=1)
        ax.set_title(f"{rid}", fontsize=9)
        ax.set_ylabel("step")
    axes[-1, 0].set_xlabel("seconds since start (black: steps; green |: checkpoint; purple |: emergency; "
                           "red: notice; orange: restart)", fontsize=7)
    return _save(fig, out, "timeline")


def break_even(df, out, C: float, R: float, spot: float, od: float):
    """Expected spot/on-demand cost vs preemption rate, with each measured run as a point."""
    plt = _plt()
    be = youngdaly.break_even_rate(C, R, spot, od)
    hi = (be * 3 if math.isfinite(be) and be > 0 else 100.0)
    rates = [hi * i / 200 for i in range(1, 201)]
    ratios = [youngdaly.cost_ratio(youngdaly.best_wall_ratio(C, R, 3600 / r), spot, od) for r in rates]
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    ax.plot(rates, ratios, color="k", lw=1.5, label=f"Young/Daly optimum (C={C:.3g} s, R={R:.3g} s)")
    ax.axhline(1.0, color="gray", lw=1, ls=":")
    if math.isfinite(be):
        ax.axvline(be, color="#d62728", ls="--", lw=1, label=f"break-even {be:.3g}/h")
    runs = df[~df["baseline"] & (df["preemptions"] > 0)]
    for s in sorted(set(runs["strategy"])):
        sub = runs[runs["strategy"] == s]
        rate = sub["preemptions"] / (sub["wall_s"] * sub["time_scale"] / 3600)
        ax.scatter(rate, sub["cost_spot"] / sub["cost_ondemand"], s=16, color=STRATEGY_COLORS.get(s), label=f"{s} runs")
    ax.set_xlabel("preemptions per hour")
    ax.set_ylabel("spot cost / on-demand cost")
    ax.set_title("When does Spot stop paying off?")
    ax.legend(frameon=False, fontsize=7)
    return _save(fig, out, "break_even")


def break_even_vs_restart(out, C: float, spot: float, od: float, measured_r: float | None = None):
    """Break-even preemption rate and expected savings as R varies (restart_curve's model)."""
    from spotshield.analysis import restart_curve

    plt = _plt()
    pts = restart_curve.dense(C, spot, od)
    rs = [p.restart_s for p in pts]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(8.4, 3.6))
    a1.plot(rs, [p.break_even_per_h for p in pts], color="k", lw=1.5)
    a1.set_xscale("log")
    a1.set_yscale("log")
    a1.set_xlabel("restart R (s of the VM's clock)")
    a1.set_ylabel("break-even (preemptions per hour)")
    a1.set_title("Spot stops paying off above", fontsize=9)
    for lam in restart_curve.RATES_PER_H:
        a2.plot(rs, [p.savings[lam] * 100 for p in pts], lw=1.5, label=f"{lam:g} preemptions/h")
    a2.axhline((1 - spot / od) * 100, color="gray", ls=":", lw=1, label="price discount")
    a2.axhline(0, color="k", lw=0.5)
    a2.set_xscale("log")
    a2.set_xlabel("restart R (s of the VM's clock)")
    a2.set_ylabel("expected savings vs on-demand (%)")
    a2.set_title(f"Savings at the optimal interval (C = {C:.3g} s)", fontsize=9)
    a2.legend(frameon=False, fontsize=7)
    lowest = min(p.savings[lam] for p in pts for lam in restart_curve.RATES_PER_H) * 100
    a2.set_ylim(max(lowest, -60.0) - 5, (1 - spot / od) * 100 + 5)  # below -60% only says "far worse"
    from matplotlib.ticker import NullFormatter

    for ax in (a1, a2):
        ticks = (30, 60, 120, 300, 600)  # seconds: 30 s to 10 min
        ax.set_xticks(ticks, [f"{r:g}" for r in ticks])
        ax.xaxis.set_minor_formatter(NullFormatter())
        if measured_r:
            ax.axvline(measured_r, color="#d62728", ls="--", lw=1)
    if measured_r:
        a1.text(measured_r, a1.get_ylim()[1], " this study's R", color="#d62728", fontsize=7, va="top")
    return _save(fig, out, "break_even_vs_restart")


def all_figures(runs, df, agg, out: Path, C: float, R: float, spot: float, od: float, ci=None) -> dict[str, str]:
    out.mkdir(parents=True, exist_ok=True)
    return {
        "cost": cost_by_condition(df, agg, out, ci),
        "wasted": wasted_by_condition(df, agg, out, ci),
        "accuracy": accuracy_vs_baseline(df, agg, out),
        "timeline": timeline(runs, df, out),
        "overhead": checkpoint_overhead(df, agg, out, ci),
        "recovery": recovery_distribution(df, agg, out),
        "break_even": break_even(df, out, C, R, spot, od),
        "break_even_vs_restart": break_even_vs_restart(out, C, spot, od, R if R > 0 else None),
    }
