import subprocess
import sys

import pandas as pd
import pytest

from .eventgen import gen_run

PRICES = ["--spot-price", "0.25", "--ondemand-price", "0.70"]


def _study(root):
    """A small grid: 2 strategies x 2 patterns x 2 seeds + 2 baselines, ground truth kept."""
    truths = {}
    for seed in (0, 1):
        truths[f"ondemand-s{seed}"] = gen_run(root / "runs" / f"ondemand-s{seed}", f"ondemand-s{seed}",
                                              strategy="none", ckpt_every=10**9, accuracy=0.90 + seed * 0.01)
        for strat, every in (("naive", 50), ("adaptive", 30)):
            for pattern, at in (("regular", (150, 300, 450)), ("poisson", (77 + seed, 401))):
                rid = f"{strat}-{pattern}-s{seed}"
                truths[rid] = gen_run(root / "runs" / rid, rid, strategy=strat, ckpt_every=every,
                                      preempt_at=at, accuracy=0.89)
    return truths


def _analyze(*args):
    return subprocess.run([sys.executable, "-m", "spotshield.cli.main", "analyze", *args], capture_output=True, text=True)


def test_analyze_writes_tables_figures_and_report(tmp_path):
    truths = _study(tmp_path)
    p = _analyze(str(tmp_path), *PRICES)
    assert p.returncode == 0, p.stderr
    out = tmp_path / "analysis"
    df = pd.read_csv(out / "metrics_summary.csv")
    assert len(df) == len(truths)
    for _, row in df.iterrows():
        assert row["wasted_steps"] == truths[row["run_id"]].wasted_steps
        assert row["preemptions"] == truths[row["run_id"]].preemptions
    base_cost = df[df["baseline"]]["cost_ondemand"].iloc[0]
    spot = df[~df["baseline"]]
    # spot pays 0.25/0.70 of on-demand per hour, for a longer wall time
    assert (spot["cost_spot"] / base_cost > 0.25 / 0.70).all()
    assert spot["savings"].between(0, 1).all()
    # against the same seed's baseline (0.90 for seed 0, 0.91 for seed 1), not the mean of both
    want = spot["seed"].map({0: round(0.89 - 0.90, 6), 1: round(0.89 - 0.91, 6)})
    assert spot["accuracy_delta"].round(6).eq(want).all()
    # one billing model: VM time, in emulated seconds (time scale 1 here), at the spot price
    assert ((spot["cost_spot"] / (spot["billable_emulated_s"] * 0.25 / 3600)) - 1).abs().max() < 1e-4
    assert (spot["billable_emulated_s"] < spot["wall_emulated_s"]).all()  # the repair gaps bill nothing
    agg = pd.read_csv(out / "metrics_by_condition.csv")
    assert len(agg) == 4 and (agg["runs"] == 2).all()
    for name in ("cost_by_condition", "wasted_by_condition", "accuracy_vs_baseline", "timeline",
                 "checkpoint_overhead", "recovery_distribution", "break_even", "break_even_vs_restart"):
        for ext in ("png", "pdf"):
            assert (out / f"{name}.{ext}").stat().st_size > 1000
    report = (out / "report.md").read_text()
    assert "![Break-even curve](break_even.png)" in report
    assert "| naive | poisson | 2 |" in report
    assert "Spot stops being cheaper at" in report
    # the sections of issue 14: intervals over seeds, noise verdicts, R as a variable, advise checked
    ci = pd.read_csv(out / "metrics_intervals.csv")
    assert len(ci) == 4 and {"savings_low", "savings_high"} <= set(ci.columns)
    for heading in ("## Seeds and noise", "## Restart time R as a variable", "## How far to trust `spotshield advise`"):
        assert heading in report
    assert "t = 12.71 for 2 seeds" in report and "within the noise of the seeds" in report
    assert "| 600 | " in report and "(this study)**" in report
    assert "Against real preemption traces" in report and "aws-04-22-2023_us-west-2b_v100_1" in report


def test_incomplete_run_blocks_analysis_unless_forced(tmp_path):
    _study(tmp_path)
    f = next((tmp_path / "runs" / "naive-poisson-s1" / "events" / "naive-poisson-s1").glob("*-b2.jsonl"))
    f.write_text("\n".join(l for l in f.read_text().splitlines() if '"done"' not in l) + "\n")
    p = _analyze(str(tmp_path), *PRICES)
    assert p.returncode == 1 and "naive-poisson-s1: incomplete" in p.stderr and "--force" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr
    p = _analyze(str(tmp_path), *PRICES, "--force")
    assert p.returncode == 0 and "warning: naive-poisson-s1: incomplete" in p.stderr
    assert "Verification warnings" in (tmp_path / "analysis" / "report.md").read_text()


@pytest.mark.parametrize("setup, args, needle", [
    (lambda d: None, (), "does not exist"),
    (lambda d: d.mkdir(), (), "no events found"),
    (lambda d: d.mkdir(), ("--guest-time", "sometimes"), "guest time must be one of scaled, real, not 'sometimes'"),
])
def test_analyze_bad_input_is_one_line(tmp_path, setup, args, needle):
    d = tmp_path / "results"
    setup(d)
    p = _analyze(str(d), *PRICES, *args)
    assert p.returncode == 1 and needle in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


def test_guest_time_relabels_the_runs_of_a_folder(tmp_path):
    from spotshield.analysis.runs import load_runs

    _study(tmp_path)
    assert {r.labels.get("guest_time") for r in load_runs(tmp_path)} == {None}  # no grid.json: unlabelled
    assert {r.labels["guest_time"] for r in load_runs(tmp_path, guest_time="real")} == {"real"}


def test_advise_from_an_analysis_uses_measured_c_and_r(tmp_path):
    import json
    import statistics

    _study(tmp_path)
    assert _analyze(str(tmp_path), *PRICES).returncode == 0
    df = pd.read_csv(tmp_path / "analysis" / "metrics_summary.csv")
    p = subprocess.run([sys.executable, "-m", "spotshield.cli.main", "advise", "--from", str(tmp_path / "analysis"),
                        "--rate", "3", *PRICES, "--simulate", "200", "--json"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    measured = json.loads((tmp_path / "analysis" / "measured.json").read_text())
    assert measured["clock"] == "emulated" and measured["guest_time"] == ["scaled"]  # no grid.json: scaled
    assert out["checkpoint_s"] == pytest.approx(measured["checkpoint_s"])
    # advise's R is the restart time VMs bill (the repair gap bills nothing): restart_billed_s
    assert out["restart_s"] == pytest.approx(measured["restart_billed_s"])
    assert 0 < measured["restart_billed_s"] < measured["restart_s"]
    # the stall of every (equal-stall) checkpoint, and a restart close to the generator's 5 s
    assert measured["checkpoint_s"] == pytest.approx(statistics.median(df["stall_per_checkpoint_s"].dropna()))
    assert 5.0 <= measured["restart_s"] < 5.5
    # without measured.json the per-run table gives the same C
    (tmp_path / "analysis" / "measured.json").unlink()
    p = subprocess.run([sys.executable, "-m", "spotshield.cli.main", "advise", "--from", str(tmp_path / "analysis"),
                        "--rate", "3", *PRICES, "--simulate", "0", "--json"], capture_output=True, text=True)
    billed = (df["notice_to_exit_emulated_s_mean"] + df["vm_running_to_first_step_emulated_s_mean"]).dropna()
    assert json.loads(p.stdout)["restart_s"] == pytest.approx(statistics.median(billed))
