"""pandas tables: one row per run (metrics_summary.csv) and means by strategy x pattern."""
from __future__ import annotations

from pathlib import Path

from spotshield.analysis.metrics import run_metrics
from spotshield.analysis.runs import Run

SUMMARY_CSV = "metrics_summary.csv"
CONDITIONS_CSV = "metrics_by_condition.csv"
# columns averaged per condition, in the order the report reads them
AGG_COLUMNS = ["wall_s", "useful_s", "wasted_s", "stall_s", "checkpoint_overhead", "preemptions",
               "recovery_s_mean", "goodput", "cost_spot", "cost_ondemand", "savings",
               "final_accuracy", "accuracy_delta"]


def summary_frame(runs: list[Run], spot_price: float, ondemand_price: float):
    import pandas as pd

    rows = [run_metrics(r) for r in runs]
    df = pd.DataFrame(rows)
    hours = df["wall_s"] * df["time_scale"] / 3600.0
    base = df[df["baseline"]]
    # The on-demand reference is the same job run uninterrupted: the baseline's wall time
    # (mean over its seeds); without a baseline, the run's own useful + stall time.
    if len(base):
        ref_h = float((base["wall_s"] * base["time_scale"]).mean()) / 3600.0
        df["cost_ondemand"] = ref_h * ondemand_price
        base_acc = float(base["final_accuracy"].mean())
    else:
        df["cost_ondemand"] = (df["useful_s"] + df["stall_s"]) * df["time_scale"] / 3600.0 * ondemand_price
        base_acc = float("nan")
    df["cost_spot"] = hours * spot_price
    df.loc[df["baseline"], "cost_ondemand"] = hours[df["baseline"]] * ondemand_price
    df["savings"] = 1.0 - df["cost_spot"] / df["cost_ondemand"]
    df["accuracy_delta"] = df["final_accuracy"] - base_acc
    df["spot_price"] = spot_price
    df["ondemand_price"] = ondemand_price
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
