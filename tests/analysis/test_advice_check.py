"""`spotshield advise` validated against what it was not derived from: replays of the real
preemption traces and the study's emulator runs (docs/study, real runs), each with the
tolerance stated in spotshield/analysis/advice_check.py."""
from pathlib import Path

import pandas as pd
import pytest

from spotshield import youngdaly as yd
from spotshield.analysis import advice_check as ac
from spotshield.analysis.measured import measured_costs
from spotshield import spot_traces as traces
from spotshield.spot_traces import SpotTrace

REPO = Path(__file__).resolve().parents[2]
STUDY = REPO / "docs" / "study"
STUDY_EMERGENCY = STUDY / "seed"  # the trainer's default: a notice-triggered save keeps every step
# emergency checkpoint off: each strategy's own checkpoints protect the work
STUDY_OFF = {"hazard": STUDY / "hazard", "trace": STUDY / "trace"}
SHARED_TRACES = REPO.parent / "shared" / "data" / "spot-traces"
# (C, R) in real seconds: a small model and a fast boot, a typical one, a large model and a slow boot
COSTS = [(5.0, 120.0), (30.0, 300.0), (60.0, 600.0)]


@pytest.fixture(scope="module")
def trace_checks():
    return {(reading, C, R): ac.shipped_trace_checks(C, R, reading)
            for reading in ac.TRACE_READINGS for C, R in COSTS}


def test_the_shipped_traces_are_the_shared_real_traces():
    if not SHARED_TRACES.is_dir():
        pytest.skip(f"{SHARED_TRACES} is not in this checkout")
    for name, path in traces.shipped().items():
        shared, ours = traces.from_csv(SHARED_TRACES / f"{name}.csv", name), traces.from_csv(path, name)
        assert ours.outages == shared.outages, name
        # default.csv's header gives the span as 177.4 h, the shared one as 19961 ticks x 32 s
        assert ours.span_s == pytest.approx(shared.span_s, rel=1e-3), name


@pytest.mark.parametrize("reading", ac.TRACE_READINGS)
@pytest.mark.parametrize("C, R", COSTS)
def test_advise_matches_replays_of_the_real_traces(trace_checks, reading, C, R):
    checks = trace_checks[(reading, C, R)]
    # the two AWS V100 traces (41 and 45 capacity losses); the GCP ones have 1 and 4, too few for a rate
    assert len(checks) == 2
    for c in checks:
        where = (f"{c.trace} ({reading}) C={C:g} s R={R:g} s: advised {c.advised_ratio:.4f} "
                 f"[{c.band[0]:.4f}, {c.band[1]:.4f}], replayed {c.replayed_ratio:.4f}, regret {c.regret:.2%}")
        assert c.cost_ok, where
        assert c.interval_ok, where
        assert c.advised_interval_s == pytest.approx(yd.advise(c.rate_per_h, C, R, 1, 1).optimal_s)


def test_the_interval_check_tells_a_wrong_interval_apart(trace_checks):
    # 4x too long or too short must cost more than the stated regret, or the check would pass anything
    for checks in trace_checks.values():
        for c in checks:
            best = min(c.by_multiple.values())
            assert c.by_multiple[0.25] / best - 1 > c.regret_tolerance, c.trace
            assert c.by_multiple[4.0] / best - 1 > c.regret_tolerance, c.trace


def test_a_trace_far_from_poisson_fails_the_check():
    # 10 bursts of 6 capacity losses two minutes apart: Poisson at the same mean rate is far off
    H = 3600.0
    outs = tuple((b * 10 * H + 5 * H + k * 120, b * 10 * H + 5 * H + k * 120 + 30) for b in range(10) for k in range(6))
    c = ac.check_trace(SpotTrace("bursts", 100 * H, outs), 30.0, 300.0)
    assert c.losses == 60
    assert not c.cost_ok and c.replayed_ratio < c.band[0]  # a burst costs about one loss, not six
    assert not c.interval_ok  # and the advised interval is too short for it


def _study(folder: Path):
    if not (folder / "metrics_summary.csv").is_file():
        pytest.fail(f"{folder}/metrics_summary.csv is the fixture of this test (real emulator runs); it is missing")
    df = pd.read_csv(folder / "metrics_summary.csv")
    C, R = measured_costs(folder)
    return ac.check_study(df, C, R, float(df["spot_price"].iloc[0]), float(df["ondemand_price"].iloc[0]))


def test_advise_matches_the_emulator_runs_with_emergency_checkpoints():
    # the seed regime: no work is lost beyond the restart, advise's assumption. Measured on the committed
    # runs (rate per VM hour, R billed): -0.5% (95% CI -0.7..-0.3%), all of it inside the 5% tolerance
    chk = _study(STUDY_EMERGENCY)
    assert chk.preempted_runs >= 5
    assert chk.ok, f"measured - advised = {chk.gap.mean:+.1%} of the advised cost, tolerance {chk.tolerance:.0%}"
    assert -chk.tolerance <= chk.gap.low and chk.gap.high <= chk.tolerance


@pytest.mark.parametrize("regime", sorted(STUDY_OFF))
def test_without_emergency_checkpoints_the_runs_cost_more_than_advised(regime):
    # advise prices the optimal interval; the strategies checkpoint less often and lose more work per
    # preemption. Measured on the committed runs: hazard +15.1% (95% CI +2.0..+28.2%), trace +11.7%
    # (+1.0..+22.4%): advise is optimistic there.
    chk = _study(STUDY_OFF[regime])
    assert chk.preempted_runs >= 5
    assert not chk.ok and chk.gap.low > 0


@pytest.mark.parametrize("regime", sorted(STUDY_OFF))
def test_daly_at_the_runs_own_intervals_matches_the_emulator_runs(regime):
    # the same runs against Daly's expectation at each run's own checkpoint interval: hazard +0.9% (95% CI
    # -5.5..+7.3%), trace +2.2% (-1.1..+5.5%), within the 5% tolerance (before the billed R and the
    # per-VM-hour rate, the earlier study's runs gave +5.3% and this was a strict xfail)
    chk = _study(STUDY_OFF[regime])
    assert abs(chk.gap_own_interval.mean) <= chk.tolerance
    assert chk.gap_own_interval.contains(0.0)


def _table(ratios_over_advised, C=1.0, R=300.0, spot=0.3, od=0.7):
    """Spot runs of 1 emulated hour each with 1 preemption, billed at `x` times advise's expectation."""
    advised = yd.advise(1.0, C, R, spot, od).cost_ratio
    rows = [{"baseline": False, "preemptions": 1, "wall_s": 60.0, "billable_s": 60.0, "time_scale": 60.0, "checkpoints": 10,
             "useful_s": 50.0, "cost_ondemand": 1.0, "cost_spot": advised * x} for x in ratios_over_advised]
    rows.append({"baseline": True, "preemptions": 0, "wall_s": 50.0, "billable_s": 50.0, "time_scale": 60.0, "checkpoints": 0,
                 "useful_s": 50.0, "cost_ondemand": 1.0, "cost_spot": 0.4})
    return ac.check_study(pd.DataFrame(rows), C, R, spot, od)


def test_check_study_passes_agreement_and_fails_a_gap():
    ok = _table([0.98, 1.0, 1.02])
    assert ok.runs == 3 and ok.ok and ok.gap.mean == pytest.approx(0.0, abs=1e-12)
    bad = _table([1.10, 1.12, 1.08])
    assert not bad.ok and bad.gap.mean == pytest.approx(0.10)


def test_the_study_check_reads_the_emulated_clock_of_the_runs_time_model():
    # under guest_time real a start-up counts 1x: billable_emulated_s is not billable_s x time_scale
    advised = yd.advise(2.0, 1.0, 300.0, 0.3, 0.7).cost_ratio
    row = {"baseline": False, "preemptions": 1, "billable_s": 100.0, "billable_emulated_s": 1800.0, "time_scale": 60.0,
           "checkpoints": 10, "useful_s": 90.0, "useful_emulated_s": 1500.0, "cost_ondemand": 1.0,
           "cost_spot": advised}
    assert ac.run_rate_per_h(row) == pytest.approx(2.0)  # 1 preemption in 1800 emulated VM s, not in 6000
    chk = ac.check_study(pd.DataFrame([row]), 1.0, 300.0, 0.3, 0.7)
    assert chk.gap.mean == pytest.approx(0.0, abs=1e-12)
