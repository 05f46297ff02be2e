"""pandas tables: one row per run (metrics_summary.csv) and means by strategy x pattern.

Costs are each run's spotshield.billing.Bill, the same as `spotshield status` shows: cost_spot is
the spot price of its billable VM time (boot to deletion, every boot), cost_ondemand what an
uninterrupted on-demand run of the same work costs (spotshield/boots.py on_demand_seconds), and
savings = 1 - cost_spot / cost_ondemand. Money uses the emulated clock (time_scale).
"""
from __future__ import annotations

from pathlib import Path

from spotshield.analysis.metrics import run_metrics
from spotshield.analysis.runs import Run
from spotshield.analysis.stats import paired_accuracy_delta
from spotshield.billing import Bill, Rate

SUMMARY_CSV = "metrics_summary.csv"
CONDITIONS_CSV = "metrics_by_condition.csv"
# columns averaged per condition, in the order the report reads them
AGG_COLUMNS = ["wall_s", "useful_s", "wasted_s", "stall_s", "checkpoint_overhead", "preemptions",
               "recovery_s_mean", "goodput", "cost_spot", "cost_ondemand", "savings",
               "final_accuracy", "accuracy_delta"]


def run_bill(metrics: dict, rate: Rate) -> Bill:
    return Bill(rate, metrics["billable_s"], metrics["on_demand_s"], metrics["time_scale"])


def summary_frame(runs: list[Run], rate: Rate):
    import pandas as pd

    rows = []
    for r in runs:
        m = run_metrics(r)
        bill = run_bill(m, rate)
        od = bill.on_demand_usd
        rows.append({**m, "cost_spot": bill.spot_usd, "cost_ondemand": float("nan") if od is None else od,
                     "savings": float("nan") if bill.savings_pct is None else bill.savings_pct / 100.0})
    df = pd.DataFrame(rows)
    df["accuracy_delta"] = paired_accuracy_delta(df)  # against the same seed's baseline
    df["spot_price"] = rate.spot
    df["ondemand_price"] = rate.on_demand
    df["price_discount"] = rate.price_discount_pct / 100.0
    df["spot_price_estimated"] = rate.spot_estimated
    return df


def condition_frame(df):
    g = df[~df["baseline"]].groupby(["strategy", "pattern"])
    agg = g[AGG_COLUMNS].mean()
    agg["runs"] = g.size()
    for col in ("savings", "wasted_s", "final_accuracy"):
        agg[f"{col}_std"] = g[col].std(ddof=1)
    return agg.reset_index()


def write_tables(df, out: Path) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    s, c = out / SUMMARY_CSV, out / CONDITIONS_CSV
    df.drop(columns=["recoveries_s"]).to_csv(s, index=False, float_format="%.6g")
    condition_frame(df).to_csv(c, index=False, float_format="%.6g")
    return s, c
