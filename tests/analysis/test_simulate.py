import random

import pytest

from spotshield import youngdaly as yd
from spotshield.analysis import advice_check, simulate


@pytest.mark.parametrize("rate_per_h", [1.0, 6.0, 30.0])
def test_simulation_matches_daly_expectation(rate_per_h):
    C, R, M = 15.0, 45.0, 3600 / rate_per_h
    tau = yd.optimal_interval(C, R, M)
    sim = simulate.simulate_mean(tau * 40, C, R, 1 / M, simulate.Fixed(tau), runs=1500, seed=3)
    formula = yd.expected_wall_ratio(tau, C, R, M)
    assert abs(sim["wall_ratio"] - formula) / formula < advice_check.SIM_TOLERANCE
    assert abs(sim["wall_ratio"] - formula) < 5 * sim["wall_ratio_se"] + 1e-9


def test_simulation_is_seeded_and_accounts_for_every_second():
    args = (3000.0, 10.0, 30.0, 1 / 600, simulate.Fixed(200.0))
    a = simulate.simulate_run(*args, random.Random(7))
    b = simulate.simulate_run(*args, random.Random(7))
    assert a.wall_s == b.wall_s and a.preemptions > 0
    assert a.wall_s == pytest.approx(a.work_s + a.wasted_s + a.checkpoint_s + a.restart_s)


def test_emergency_checkpoint_removes_lost_compute():
    common = dict(work_s=5000.0, checkpoint_s=5.0, restart_s=20.0, rate_per_s=1 / 300, policy=simulate.Fixed(400.0))
    plain = simulate.simulate_run(**common, rng=random.Random(1))
    saved = simulate.simulate_run(**common, rng=random.Random(1), emergency=True)
    assert saved.wasted_s < plain.wasted_s


def test_no_preemptions_costs_only_checkpoints():
    r = simulate.simulate_run(1000.0, 2.0, 10.0, 0.0, simulate.Fixed(100.0), random.Random(0))
    assert r.wall_s == pytest.approx(1000 + 10 * 2.0) and r.preemptions == 0


def test_trainer_strategies_drive_the_step_simulation():
    from spotshield.trainer.strategies import make

    C, R, rate = 20.0, 60.0, 6 / 3600
    kw = dict(total_steps=6000, step_s=1.0, steps_per_epoch=600, checkpoint_s=C, restart_s=R, rate_per_s=rate)
    rng = random.Random(0)
    runs = [simulate.simulate_strategy(lambda: make("adaptive", mtbp_prior_s=3600.0, cost_prior_s=C), rng=rng, **kw)
            for _ in range(40)]
    for r in runs:
        assert r.wall_s == pytest.approx(r.work_s + r.wasted_s + r.checkpoint_s + r.restart_s)
    waste = 1 - sum(r.work_s for r in runs) / sum(r.wall_s for r in runs)
    best = yd.waste_fraction(yd.optimal_interval(C, R, 3600 / 6), C, R, 3600 / 6)
    assert best * 0.8 < waste < best * 1.3  # adaptive learns the rate and lands near the optimum
