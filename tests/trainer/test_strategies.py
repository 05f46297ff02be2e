import math

import pytest

from spotshield.errors import SpotShieldError
from spotshield.trainer.strategies import DEFAULT, NAMES, Progress, make
from spotshield.youngdaly import estimate_mtbp as estimate_mtbp_s


def test_registry_names_and_default():
    assert set(NAMES) == {"naive", "adaptive", "milestone", "none"}
    assert make().name == DEFAULT == "adaptive"


def test_unknown_strategy_and_parameter_are_clear_errors():
    with pytest.raises(SpotShieldError, match="unknown strategy 'sometimes'"):
        make("sometimes")
    with pytest.raises(SpotShieldError, match="unknown parameter 'every_min'"):
        make("naive", every_min=3)


@pytest.mark.parametrize("name,params", [
    ("naive", {"every_steps": -5}), ("naive", {"every_s": -1.0}), ("naive", {"every_steps": 0, "every_s": 0}),
    ("adaptive", {"mtbp_prior_s": -1}), ("adaptive", {"min_interval_s": -2}), ("adaptive", {"cost": "wall"}),
    ("milestone", {"max_gap_s": 0}),
])
def test_bad_parameters_rejected(name, params):
    with pytest.raises(SpotShieldError):
        make(name, **params)


def test_naive_every_steps():
    s = make("naive", every_steps=10)
    s.on_start(now=0.0, step=0)
    decisions = [s.should_save(Progress(now=0.0, step=k, epoch=0)) for k in range(1, 10)]
    assert decisions == [None] * 9
    assert s.should_save(Progress(now=0.0, step=10, epoch=0)) == "interval"
    s.on_save(now=0.0, step=10)
    assert s.should_save(Progress(now=0.0, step=15, epoch=0)) is None
    assert s.should_save(Progress(now=0.0, step=20, epoch=0)) == "interval"


def test_naive_every_seconds_counts_from_resume():
    s = make("naive", every_steps=0, every_s=30.0)
    s.on_start(now=100.0, step=500)
    assert s.should_save(Progress(now=129.9, step=900, epoch=3)) is None
    assert s.should_save(Progress(now=130.0, step=901, epoch=3)) == "interval"


def test_none_never_saves():
    s = make("none")
    s.on_start(now=0.0)
    assert all(s.should_save(Progress(now=t, step=t, epoch=t, epoch_end=True, metric=1.0)) is None
               for t in range(0, 10_000, 97))


def test_milestone_saves_on_improvement_and_max_gap():
    s = make("milestone", min_delta=0.01, max_gap_s=100.0)
    s.on_start(now=0.0)
    assert s.should_save(Progress(now=1, step=10, epoch=1, epoch_end=True, metric=0.50)) == "milestone"
    s.on_save(1, 10)
    assert s.should_save(Progress(now=2, step=20, epoch=2, epoch_end=True, metric=0.505)) is None  # < min_delta
    assert s.should_save(Progress(now=3, step=25, epoch=2)) is None  # no metric mid-epoch
    assert s.should_save(Progress(now=4, step=30, epoch=3, epoch_end=True, metric=0.52)) == "milestone"
    s.on_save(4, 30)
    assert s.should_save(Progress(now=103.9, step=40, epoch=3)) is None
    assert s.should_save(Progress(now=104.0, step=41, epoch=3)) == "max_gap"
    s.on_save(104, 41)
    # a validation result between epoch ends (a metrics call) counts as well
    assert s.should_save(Progress(now=105, step=45, epoch=3, metric=0.6)) == "milestone"


def test_milestone_best_survives_restart():
    s = make("milestone")
    s.on_start(0.0)
    s.should_save(Progress(now=1, step=1, epoch=1, epoch_end=True, metric=0.9))
    t = make("milestone")
    t.load_state_dict(s.state_dict())
    t.on_start(0.0)
    assert t.should_save(Progress(now=1, step=2, epoch=2, epoch_end=True, metric=0.85)) is None


def test_adaptive_interval_matches_young_daly_for_given_c_and_m():
    s = make("adaptive", mtbp_prior_s=1800.0, prior_weight=1.0, cost_prior_s=5.0, min_interval_s=0.0)
    s.on_start(now=0.0, step=0, preemptions=0, exposure_s=0.0)
    assert s.interval_s == pytest.approx(math.sqrt(2 * 5.0 * 1800.0))  # prior C and M
    # measured cost replaces the prior; the interval is recomputed after the save
    s.on_save(0.0, 0)
    s.on_checkpoint(now=0.0, step=0, stall_s=2.0, persist_s=0.5)
    assert s.interval_s == pytest.approx(math.sqrt(2 * 2.0 * 1800.0))
    # EMA of cost: 0.3 * 4 + 0.7 * 2 = 2.6
    s.on_checkpoint(now=0.0, step=0, stall_s=4.0, persist_s=0.5)
    assert s.cost_s == pytest.approx(2.6)
    assert s.interval_s == pytest.approx(math.sqrt(2 * 2.6 * 1800.0))


def test_adaptive_uses_run_history_and_preemptions():
    s = make("adaptive", mtbp_prior_s=3600.0, prior_weight=1.0, cost_prior_s=1.0, min_interval_s=0.0)
    s.on_start(now=0.0, step=0, preemptions=4, exposure_s=400.0)  # earlier boots of this run
    m = estimate_mtbp_s(4, 400.0, 3600.0, 1.0)
    assert s.interval_s == pytest.approx(math.sqrt(2 * 1.0 * m))
    s.on_preemption(now=100.0)  # a fifth preemption after 100 s more exposure
    m2 = estimate_mtbp_s(5, 500.0, 3600.0, 1.0)
    assert s.interval_s == pytest.approx(math.sqrt(2 * 1.0 * m2))
    assert s.interval_s < math.sqrt(2 * 1.0 * m)


def test_adaptive_decision_and_bounds():
    s = make("adaptive", mtbp_prior_s=50.0, cost_prior_s=1.0, min_interval_s=0.0, max_interval_s=1e9)
    s.on_start(now=0.0)
    assert s.interval_s == pytest.approx(10.0)
    assert s.should_save(Progress(now=9.99, step=5, epoch=0)) is None
    assert s.should_save(Progress(now=10.0, step=6, epoch=0)) == "adaptive"
    # never more often than a persist takes (at most one persist in flight)
    s.on_checkpoint(now=10.0, step=6, stall_s=0.0001, persist_s=7.0)
    assert s.interval_s == pytest.approx(7.0)
    capped = make("adaptive", mtbp_prior_s=1e9, cost_prior_s=100.0, max_interval_s=600.0)
    capped.on_start(0.0)
    assert capped.interval_s == 600.0


def test_adaptive_total_cost_includes_persist():
    s = make("adaptive", cost="total", mtbp_prior_s=1000.0, min_interval_s=0.0)
    s.on_start(0.0)
    s.on_checkpoint(now=0.0, step=1, stall_s=0.5, persist_s=1.5)
    assert s.interval_s == pytest.approx(math.sqrt(2 * 2.0 * 1000.0))
