"""pandas tables: one row per run (metrics_summary.csv) and means by strategy x pattern.

Costs are each run's spotshield.billing.Bill, the one billing model the emulator's meter and
`spotshield status` use: VM time per boot (boot to deletion, every boot), never wall time, so the
repair gap in which no VM runs is not billed. The seconds billed are the run's emulated seconds
(metrics.py: billable_emulated_s, under its time model guest_time), so the Bill's time scale is 1.
cost_spot is what the run's Spot VMs cost, cost_spent what all its VMs cost (a STANDARD baseline
is billed at the on-demand price, as GCE and the meter bill it), cost_ondemand what an
uninterrupted on-demand run of the same work costs (spotshield/boots.py on_demand_seconds), and
savings = 1 - cost_spent / cost_ondemand. accuracy_delta is against the same seed's baseline (the
mean baseline where that seed has none).
"""
from __future__ import annotations

from pathlib import Path

from spotshield.analysis.metrics import RECOVERY_PARTS, run_metrics
from spotshield.analysis.runs import Run
from spotshield.analysis.stats import paired_accuracy_delta
from spotshield.billing import Bill, Rate

SUMMARY_CSV = "metrics_summary.csv"
CONDITIONS_CSV = "metrics_by_condition.csv"
# columns averaged per condition, in the order the report reads them (emulated seconds where named so)
AGG_COLUMNS = ["wall_s", "useful_s", "wasted_s", "stall_s", "checkpoint_overhead", "preemptions",
               "recovery_s_mean", "goodput", "cost_spot", "cost_spent", "cost_ondemand", "savings",
               "final_accuracy", "accuracy_delta",
               "wall_emulated_s", "useful_emulated_s", "wasted_emulated_s", "stall_emulated_s",
               "recovery_emulated_s_mean", *(f"{p}_emulated_s_mean" for p in RECOVERY_PARTS),
               "startup_real_s_mean", "goodput_emulated"]
LIST_COLUMNS = ["recoveries_s", "recoveries_emulated_s", *(f"{p}_emulated_s" for p in RECOVERY_PARTS)]


def run_bill(metrics: dict, rate: Rate) -> Bill:
    """The run's bill in emulated seconds; a STANDARD (on-demand) run's VM time at the on-demand price."""
    billable = metrics["billable_emulated_s"]
    od_vm = billable if metrics.get("provisioning_model") == "STANDARD" else 0.0
    return Bill(rate, billable, metrics["on_demand_emulated_s"], 1.0, od_vm)


def summary_frame(runs: list[Run], rate: Rate):
    import pandas as pd

    rows = []
    for r in runs:
        m = run_metrics(r)
        bill = run_bill(m, rate)
        od = bill.on_demand_usd
        rows.append({**m, "cost_spot": bill.spot_usd, "cost_spent": bill.spent_usd,
                     "cost_ondemand": float("nan") if od is None else od,
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
    for col in ("savings", "wasted_emulated_s", "final_accuracy"):
        agg[f"{col}_std"] = g[col].std(ddof=1)
    return agg.reset_index()


def write_tables(df, out: Path) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    s, c = out / SUMMARY_CSV, out / CONDITIONS_CSV
    df.drop(columns=[c for c in LIST_COLUMNS if c in df.columns]).to_csv(s, index=False, float_format="%.6g")
    condition_frame(df).to_csv(c, index=False, float_format="%.6g")
    return s, c
