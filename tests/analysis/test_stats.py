import math

import pandas as pd
import pytest

from spotshield.analysis import stats

# two-sided 95% Student t quantiles from a printed table (df: t_0.975)
T_TABLE = {1: 12.706, 2: 4.303, 4: 2.776, 5: 2.571, 9: 2.262, 11: 2.201, 15: 2.131, 30: 2.042, 60: 2.000, 120: 1.980}


@pytest.mark.parametrize("df, t", sorted(T_TABLE.items()))
def test_t_quantile_matches_the_printed_table(df, t):
    assert stats.t975(df) == pytest.approx(t, abs=1.5e-3)


def test_t_quantile_matches_scipy_everywhere():
    sp = pytest.importorskip("scipy.stats")
    for df in range(1, 300):
        assert stats.t975(df) == pytest.approx(sp.t.ppf(0.975, df), abs=5e-4), df


def test_mean_ci_is_student_t_on_the_sample_sd():
    ci = stats.mean_ci([1, 2, 3, 4, 5, float("nan")])  # NaN dropped
    half = 2.7764 * math.sqrt(2.5) / math.sqrt(5)
    assert (ci.n, ci.mean) == (5, 3.0)
    assert (ci.low, ci.high) == (pytest.approx(3 - half), pytest.approx(3 + half))
    assert ci.text(fmt=".2f", unit=" s") == f"3.00 s ± {half:.2f} s"


def test_one_seed_has_no_interval_and_says_so():
    ci = stats.mean_ci([0.5])
    assert not ci.defined and not ci.contains(0.5)
    assert ci.text(100, ".1f", "%") == "50.0% (1 seed)"
    assert stats.mean_ci([]).text() == "n/a"


def test_pairing_by_seed_sees_a_difference_the_separate_intervals_hide():
    # seeds move both strategies a lot (different preemption schedules); A is always 2 points better
    b = {0: 0.30, 1: 0.45, 2: 0.55, 3: 0.40, 4: 0.50}
    a = {k: v + 0.02 + (0.001 if k % 2 else -0.001) for k, v in b.items()}
    c = stats.compare(a, b, "A", "B")
    assert c.a_ci.overlaps(c.b_ci)  # unpaired: the intervals overlap...
    assert not c.within_noise  # ...but paired by seed the difference is clear
    assert c.diff.low > 0 and "A is higher beyond the seeds' noise" in c.verdict()


def test_a_difference_that_flips_sign_between_seeds_is_within_noise():
    b = {0: 0.40, 1: 0.40, 2: 0.40}
    a = {0: 0.43, 1: 0.37, 2: 0.41}
    c = stats.compare(a, b, "A", "B")
    assert c.within_noise and c.diff.contains(0.0)
    assert "within the noise of the seeds" in c.verdict()
    one = stats.compare({0: 0.5}, {0: 0.4}, "A", "B")  # one common seed cannot tell
    assert one.within_noise and "cannot be told from noise" in one.verdict()


def _table(rows):
    cols = ["run_id", "strategy", "pattern", "seed", "baseline", "preemptions", "savings", "final_accuracy",
            "wasted_s", "recovery_s_mean", "checkpoint_overhead", "goodput", "cost_spot"]
    df = pd.DataFrame([dict(zip(cols, r)) for r in rows])
    df["accuracy_delta"] = stats.paired_accuracy_delta(df)
    return df


def _row(strategy, pattern, seed, preemptions, savings, acc):
    return (f"{strategy}-{pattern}-s{seed}", strategy, pattern, seed, False, preemptions, savings, acc,
            1.0, 5.0, 0.001, 0.9, 0.1)


BASE = [("ondemand-s0", "none", "none", 0, True, 0, 0.6, 0.90, 0, math.nan, 0, 1, 0.2),
        ("ondemand-s1", "none", "none", 1, True, 0, 0.6, 0.92, 0, math.nan, 0, 1, 0.2)]


def test_accuracy_delta_is_against_the_same_seeds_baseline():
    df = _table(BASE + [_row("naive", "poisson", 0, 1, 0.5, 0.90), _row("naive", "poisson", 1, 1, 0.5, 0.92),
                        _row("naive", "poisson", 2, 1, 0.5, 0.91)])
    runs = df[~df["baseline"]].set_index("seed")["accuracy_delta"]
    # each run equals its own seed's baseline exactly; against the mean baseline it would read -0.01 / +0.01
    assert runs[0] == 0.0 and runs[1] == 0.0
    assert math.isnan(runs[2])  # seed 2 has no baseline: no delta, not a cross-seed one


def test_condition_intervals_count_seeds_and_runs_without_preemption():
    df = _table(BASE + [_row("naive", "bursty", 0, 0, 0.60, 0.9), _row("naive", "bursty", 1, 2, 0.40, 0.92)])
    ci = stats.condition_intervals(df).iloc[0]
    assert (ci["seeds"], ci["zero_preemption_runs"]) == (2, 1)
    assert ci["savings"] == pytest.approx(0.5)
    assert ci["savings_high"] - ci["savings"] == pytest.approx(12.7062 * 0.1414214 / math.sqrt(2), rel=1e-4)


def test_best_condition_flags_an_uninterrupted_run_and_savings_above_the_discount():
    ceiling = 0.6
    df = _table(BASE + [_row("adaptive", "bursty", 0, 0, 0.614, 0.9), _row("adaptive", "bursty", 1, 2, 0.46, 0.92),
                        _row("naive", "bursty", 0, 0, 0.60, 0.9), _row("naive", "bursty", 1, 2, 0.43, 0.92)])
    flags = stats.best_condition(df, ceiling)
    assert (flags.strategy, flags.pattern) == ("adaptive", "bursty")
    text = " ".join(flags.warnings())
    assert "1 of its 2 runs met no preemption" in text
    assert "save more than the price discount (60.0%)" in text
    assert "cannot be told from the runner-up" in text


def test_a_clean_best_is_not_flagged():
    seeds = range(5)
    rows = BASE + [_row("adaptive", "poisson", s, 2, 0.50 + 0.01 * s, 0.9) for s in seeds]
    rows += [_row("naive", "poisson", s, 2, 0.40 + 0.01 * s + 0.002 * (s % 2), 0.9) for s in seeds]
    flags = stats.best_condition(_table(rows), 0.6)
    assert (flags.strategy, flags.zero_preemption_runs, flags.above_ceiling_runs) == ("adaptive", 0, 0)
    assert flags.warnings() == []


def test_strategy_comparisons_pair_within_patterns_and_pooled():
    rows = BASE + [_row(st, p, s, 1, 0.5 + (0.05 if st == "adaptive" else 0) + 0.01 * s * (p == "regular"), 0.9)
                   for st in ("adaptive", "naive") for p in ("poisson", "regular") for s in (0, 1, 2)]
    comps = stats.strategy_comparisons(_table(rows))
    assert [scope for scope, _ in comps] == ["poisson", "regular", "all patterns"]
    pooled = comps[-1][1]
    assert pooled.diff.n == 6 and pooled.diff.mean == pytest.approx(0.05)
