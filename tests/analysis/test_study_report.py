"""report.md on small synthetic run tables: intervals, noise verdicts and the flags on "best"."""
import math

import pandas as pd

from spotshield.analysis import report, stats

SPOT, OD = 0.28, 0.70  # price discount 60%


def _run(strategy, pattern, seed, preemptions, savings, acc=0.9, baseline=False):
    rec = [7.0] * preemptions
    return {"run_id": f"{strategy}-{pattern}-s{seed}", "strategy": strategy, "pattern": pattern, "seed": seed,
            "baseline": baseline, "time_scale": 60.0, "model": "tiny-cnn", "data": "digits", "device": "cpu",
            "preemptions": preemptions, "savings": savings, "wall_s": 60.0 + 10 * preemptions, "useful_s": 55.0,
            "wasted_s": 2.0 * preemptions, "wasted_steps": 10 * preemptions, "checkpoints": 6,
            "stall_per_checkpoint_s": 0.001, "checkpoint_overhead": 0.0001, "goodput": 0.9,
            "emergency_ok": 0, "emergency_missed": 0, "recoveries_s": rec,
            "recovery_s_mean": sum(rec) / len(rec) if rec else math.nan,
            "cost_ondemand": 0.6, "cost_spot": 0.6 * (1 - savings), "final_accuracy": acc,
            # the emulated clock: R of 7 real s = 120 emulated s, in the three parts of metrics.RECOVERY_PARTS
            "wall_emulated_s": 3600.0 + 600 * preemptions, "wasted_emulated_s": 120.0 * preemptions,
            "billable_s": 60.0 + 10 * preemptions, "billable_emulated_s": 3600.0 + 600 * preemptions,
            "recoveries_emulated_s": [120.0] * preemptions,
            "recovery_emulated_s_mean": 120.0 if preemptions else math.nan,
            "notice_to_exit_emulated_s": [5.0] * preemptions, "exit_to_vm_running_emulated_s": [100.0] * preemptions,
            "vm_running_to_first_step_emulated_s": [15.0] * preemptions, "guest_time": "real"}


def _write(tmp_path, rows):
    df = pd.DataFrame(rows)
    df["accuracy_delta"] = stats.paired_accuracy_delta(df)
    report.write_report(tmp_path, df, None, {}, C=0.05, R=470.0, break_even=6.9, spot=SPOT, od=OD,
                        warnings=[], source="synthetic")
    return (tmp_path / "report.md").read_text()


def _baselines(seeds, acc=lambda s: 0.9 + 0.01 * s):
    return [_run("none", "none", s, 0, 0.6, acc(s), baseline=True) for s in seeds]


def test_a_best_resting_on_an_uninterrupted_run_above_the_ceiling_is_flagged(tmp_path):
    # the audit's case: 2 seeds, the best condition's seed-0 run met no preemption and beat the discount
    rows = _baselines((0, 1)) + [
        _run("adaptive", "bursty", 0, 0, 0.614, 0.90), _run("adaptive", "bursty", 1, 2, 0.46, 0.91),
        _run("naive", "bursty", 0, 0, 0.60, 0.90), _run("naive", "bursty", 1, 2, 0.43, 0.91),
        _run("adaptive", "regular", 0, 2, 0.41, 0.90), _run("adaptive", "regular", 1, 2, 0.40, 0.91),
        _run("naive", "regular", 0, 3, 0.26, 0.90), _run("naive", "regular", 1, 2, 0.43, 0.91)]
    text = _write(tmp_path, rows)
    assert "best adaptive/bursty 53.7% ± " in text
    assert "**Caution:** best adaptive/bursty: 1 of its 2 runs met no preemption" in text
    assert "1 of its 2 runs save more than the price discount (60.0%)" in text
    assert "| adaptive | bursty | 2 | **1** |" in text  # the condition table marks it too
    assert "t = 12.71 for 2 seeds" in text
    assert "bursty: adaptive − naive = +2.2 points" in text and "within the noise of the seeds" in text
    # every run equals its own seed's baseline: the true claim is exactly 0, not "-0.01 to +0.01"
    assert "every one of the 8 runs ends with exactly the baseline's accuracy (Δ = 0)" in text
    assert "baselines of different seeds differ by up to 0.0100" in text


def test_a_clear_winner_over_five_seeds_is_not_flagged(tmp_path):
    seeds = range(5)
    rows = _baselines(seeds)
    rows += [_run("adaptive", "poisson", s, 2, 0.50 + 0.02 * s + 0.001 * (s % 2), 0.9 + 0.01 * s) for s in seeds]
    rows += [_run("naive", "poisson", s, 2, 0.45 + 0.02 * s, 0.9 + 0.01 * s - 0.002) for s in seeds]
    text = _write(tmp_path, rows)
    assert "Caution" not in text
    assert "t = 2.78 for 5 seeds" in text
    assert "adaptive − naive = +5.0 points, 95% CI [+5.0, +5.1] over 5 paired seeds: adaptive is higher" in text
    assert "0 of 1 strategy differences are within the noise of the seeds" in text
    assert "Δ -0.0010 ± 0.0008 (95% CI)" in text  # naive runs are 0.002 below their seed's baseline, adaptive equal


def test_restart_table_spans_30_s_to_10_min_with_the_studys_r_marked(tmp_path):
    text = _write(tmp_path, _baselines((0,)) + [_run("naive", "poisson", 0, 1, 0.5)])
    section = text.split("## Restart time R as a variable")[1].split("##")[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "R (s)" not in line]
    assert rows[0].startswith("| 30 |") and rows[-1].startswith("| 600 |")
    assert any(r.startswith("| **470 (this study)** | 6.9") for r in rows)
    assert "real seconds on a real VM" in section
    assert "50.0% (1 seed)" in text  # one seed: a number without an interval, said so


def test_the_report_splits_r_into_its_three_parts_in_emulated_seconds(tmp_path):
    seeds = range(5)
    rows = _baselines(seeds) + [_run("adaptive", "poisson", s, 2, 0.5) for s in seeds]
    text = _write(tmp_path, rows)
    assert "## Restart time R, in three parts" in text
    assert "R = 470 emulated s is the median of the 10 recoveries" in text and "their mean, 120 s" in text
    assert "| notice → exit (shutdown.sh, the emergency checkpoint, the exit) | 5 | 5 ± 0 | 4.2% |" in text
    assert "| exit → VM running (the group's repair and the VM's boot, modelled) | 100 | 100 ± 0 | 83.3% |" in text
    assert "wasted (emulated s)" in text and "real s)" not in text.split("## Restart time R as a variable")[0] \
        .replace("real s), reaches", "")
    assert "time model guest_time real" in text


def test_a_report_without_a_resumed_preemption_says_there_is_nothing_to_split(tmp_path):
    rows = _baselines((0, 1)) + [_run("adaptive", "poisson", s, 0, 0.6) for s in (0, 1)]
    assert "No run was preempted and resumed: nothing to split." in _write(tmp_path, rows)
