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


def _grouped(ax, agg, col, err=None):
    """Bars: x = pattern, one bar per strategy."""
    patterns = sorted(agg["pattern"].unique())
    strategies = [s for s in STRATEGY_COLORS if s in set(agg["strategy"])] or sorted(agg["strategy"].unique())
    width = 0.8 / max(1, len(strategies))
    for i, s in enumerate(strategies):
        sub = agg[agg["strategy"] == s].set_index("pattern")
        xs = [j + (i - (len(strategies) - 1) / 2) * width for j in range(len(patterns))]
        ys = [sub[col].get(p, math.nan) for p in patterns]
        es = [sub[err].get(p, 0.0) for p in patterns] if err and err in sub else None
        ax.bar(xs, ys, width, label=s, color=STRATEGY_COLORS.get(s), yerr=es, capsize=3)
    ax.set_xticks(range(len(patterns)), patterns)
    ax.set_xlabel("preemption pattern")
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))


def cost_by_condition(df, agg, out):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    _grouped(ax, agg, "cost_spot")
    base = df[df["baseline"]]
    if len(base):
        ax.axhline(float(base["cost_ondemand"].mean()), color="k", ls="--", lw=1, label="on-demand baseline")
        ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_ylabel("cost of the run (USD)")
    ax.set_title("Spot cost by condition vs on-demand")
    return _save(fig, out, "cost_by_condition")


def wasted_by_condition(df, agg, out):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    _grouped(ax, agg, "wasted_s", "wasted_s_std")
    ax.set_ylabel("wasted compute (s, re-done work)")
    ax.set_title("Wasted compute by condition (mean ± sd over seeds)")
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


def checkpoint_overhead(df, agg, out):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    agg = agg.assign(overhead_pct=agg["checkpoint_overhead"] * 100)
    _grouped(ax, agg, "overhead_pct")
    ax.set_ylabel("checkpoint stall (% of wall time)")
    ax.set_title("Checkpoint overhead by condition")
    return _save(fig, out, "checkpoint_overhead")


def recovery_distribution(df, agg, out):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    data, names = [], []
    for s in [s for s in STRATEGY_COLORS if s in set(df["strategy"])]:
        vals = [v for lst in df[df["strategy"] == s]["recoveries_s"] for v in lst]
        if vals:
            data.append(vals)
            names.append(f"{s} (n={len(vals)})")
    if data:
        ax.boxplot(data, showmeans=True)
        ax.set_xticks(range(1, len(names) + 1), names)
    else:
        ax.text(0.5, 0.5, "no preemptions in these runs", ha="center", transform=ax.transAxes)
    ax.set_ylabel("notice -> next training step (s)")
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


def all_figures(runs, df, agg, out: Path, C: float, R: float, spot: float, od: float) -> dict[str, str]:
    out.mkdir(parents=True, exist_ok=True)
    return {
        "cost": cost_by_condition(df, agg, out),
        "wasted": wasted_by_condition(df, agg, out),
        "accuracy": accuracy_vs_baseline(df, agg, out),
        "timeline": timeline(runs, df, out),
        "overhead": checkpoint_overhead(df, agg, out),
        "recovery": recovery_distribution(df, agg, out),
        "break_even": break_even(df, out, C, R, spot, od),
    }
