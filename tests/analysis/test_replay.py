import pytest

from spotshield.analysis import replay
from spotshield.spot_traces import SpotTrace
from spotshield.errors import SpotShieldError

H = 3600.0


def test_without_outages_a_job_pays_work_and_checkpoints_only():
    tr = SpotTrace("always", 10 * H, ())
    r = replay.replay(tr, start_s=0, work_s=1000, interval_s=100, checkpoint_s=2, restart_s=50)
    assert r.preemptions == 0 and r.wasted_s == 0 and r.waited_s == 0
    assert r.billed_s == pytest.approx(1000 + 10 * 2) and r.wall_s == pytest.approx(r.billed_s)


def test_one_outage_loses_the_segment_waits_unbilled_and_bills_the_restart():
    # capacity goes at 250 s for 100 s: segments of 100 + 2 s end at 102, 204; the third is lost after 46 s
    tr = SpotTrace("one", 10 * H, ((250.0, 350.0),))
    r = replay.replay(tr, start_s=0, work_s=500, interval_s=100, checkpoint_s=2, restart_s=30)
    assert r.preemptions == 1
    assert r.wasted_s == pytest.approx(46)
    assert r.waited_s == pytest.approx(100)
    # 2 segments before, the lost 46 s, the 30 s restart, then the 3 remaining segments
    assert r.billed_s == pytest.approx(204 + 46 + 30 + 3 * 102)
    assert r.wall_s == pytest.approx(r.billed_s + r.waited_s)


def test_a_restart_cut_short_is_billed_until_capacity_goes_and_counts_again():
    tr = SpotTrace("two", 10 * H, ((100.0, 110.0), (130.0, 140.0)))
    r = replay.replay(tr, start_s=0, work_s=200, interval_s=50, checkpoint_s=0, restart_s=30)
    # 2 segments, loss at 100 (nothing in progress), restart 110..130 cut short, restart 140..170, 4 segments
    assert r.preemptions == 2
    assert r.billed_s == pytest.approx(100 + 20 + 30 + 200 - 100)
    assert r.wall_s == pytest.approx(170 + 100)


def test_a_start_without_capacity_waits_for_it():
    tr = SpotTrace("late", 10 * H, ((0.0, 600.0),))
    r = replay.replay(tr, start_s=0, work_s=100, interval_s=100, checkpoint_s=0, restart_s=30)
    assert (r.waited_s, r.billed_s, r.preemptions) == (600, 100, 0)


def test_the_rate_counts_losses_per_hour_with_capacity_and_the_repeat():
    tr = SpotTrace("t", 10 * H, ((0.0, H), (5 * H, 6 * H)))
    assert replay.capacity_losses(tr) == 2  # at 5 h, and at the repeat (10 h -> 0)
    assert replay.preemptions_per_hour(tr) == pytest.approx(2 / 8)
    with pytest.raises(SpotShieldError, match="never has spot capacity"):
        replay.preemptions_per_hour(SpotTrace("never", H, ((0.0, H),)))


def test_fast_forward_keeps_losses_to_one_segment_each():
    # many short segments per stretch are skipped in bulk; a loss still costs at most the segment in progress
    tr = SpotTrace("t", 20 * H, tuple((k * H + 0.37 * H, k * H + 0.4 * H) for k in range(20)))
    a = replay.replay(tr, start_s=123.0, work_s=8 * H, interval_s=7.0, checkpoint_s=0.05, restart_s=40)
    assert a.preemptions >= 8 and a.wasted_s / a.preemptions <= 7.05 + 1e-6
    # every second billed is compute, a checkpoint (4115 of them), a lost segment or a restart
    assert a.billed_s == pytest.approx(8 * H + 4115 * 0.05 + a.wasted_s + 40 * a.preemptions, abs=1e-6)


def test_a_segment_that_never_fits_is_one_clear_error():
    tr = SpotTrace("t", 10 * H, tuple((k * H, k * H + 60) for k in range(10)))
    with pytest.raises(SpotShieldError, match="never finishes"):
        replay.replay(tr, start_s=0, work_s=5 * H, interval_s=2 * H, checkpoint_s=10, restart_s=30)
