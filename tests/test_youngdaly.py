"""spotshield/youngdaly.py: the one home of the Young/Daly math (the strategies and the study import it)."""
import math

import pytest

from spotshield import youngdaly as yd
from spotshield.errors import SpotShieldError


def test_young_is_sqrt_2cm():
    assert yd.young_interval(20, 900) == pytest.approx(math.sqrt(2 * 20 * 900))
    assert yd.young_interval(2.0, 900.0) == pytest.approx(60.0)
    assert yd.young_interval(0.5, 3600.0) == pytest.approx(math.sqrt(3600.0))


def test_young_interval_minimises_first_order_waste_without_restart_cost():
    c, m = 3.0, 1800.0
    best = yd.young_interval(c, m)
    for t in (best * 0.5, best * 0.9, best * 1.1, best * 2):
        assert yd.first_order_waste(best, c, m) < yd.first_order_waste(t, c, m)


def test_restart_cost_adds_r_over_m_to_the_first_order_waste():
    tau, c, m = 60.0, 3.0, 1800.0
    assert yd.first_order_waste(tau, c, m, R=90.0) == pytest.approx(yd.first_order_waste(tau, c, m) + 90.0 / m)
    assert yd.first_order_waste(tau, c, m) == pytest.approx(c / tau + tau / (2 * m))  # R = 0: Young's waste


def test_daly_is_below_young_and_close_when_c_small():
    # Daly's correction subtracts C and adds higher-order terms: for C << M it is ~Young - C
    young, daly = yd.young_interval(1, 1e6), yd.daly_interval(1, 1e6)
    assert daly == pytest.approx(young - 1 + young * math.sqrt(1 / 2e6) / 3, rel=1e-6)
    assert daly == pytest.approx(young, rel=1e-3)
    assert yd.daly_interval(50, 20) == 20  # C >= 2M: the interval saturates at M
    assert yd.daly_interval(500.0, 100.0) == 100.0


def test_mtbp_estimate_moves_from_prior_to_history():
    assert yd.estimate_mtbp(0, 0.0, prior_s=3600.0) == 3600.0
    # one prior pseudo-preemption over 3600 s, plus 9 seen in 900 s: (3600 + 900) / 10
    assert yd.estimate_mtbp(9, 900.0, prior_s=3600.0, prior_weight=1.0) == pytest.approx(450.0)
    long_history = yd.estimate_mtbp(1000, 100_000.0, prior_s=3600.0)
    assert long_history == pytest.approx(100.0, rel=0.05)


def test_exact_optimum_minimises_and_matches_daly():
    C, R, M = 20, 60, 900
    opt = yd.optimal_interval(C, R, M)
    f = lambda tau: yd.expected_wall_ratio(tau, C, R, M)  # noqa: E731
    assert f(opt) <= f(opt * 0.9) and f(opt) <= f(opt * 1.1)
    assert opt == pytest.approx(yd.daly_interval(C, M), rel=0.01)  # Daly is accurate here


def test_first_order_waste_agrees_when_rates_are_low():
    C, R, M = 5, 30, 36000
    tau = yd.young_interval(C, M)
    assert yd.waste_fraction(tau, C, R, M) == pytest.approx(yd.first_order_waste(tau, C, M, R), rel=0.05)


def test_break_even_rate_makes_costs_equal():
    C, R, spot, od = 20, 60, 0.25, 0.70
    be = yd.break_even_rate(C, R, spot, od)
    ratio = yd.cost_ratio(yd.best_wall_ratio(C, R, 3600 / be), spot, od)
    assert ratio == pytest.approx(1.0, rel=1e-6)
    # cheaper below, dearer above
    assert yd.cost_ratio(yd.best_wall_ratio(C, R, 3600 / (be / 2)), spot, od) < 1
    assert yd.cost_ratio(yd.best_wall_ratio(C, R, 3600 / (be * 2)), spot, od) > 1
    assert yd.break_even_rate(C, R, 1.0, 1.0) == 0.0  # no discount: never worth it


@pytest.mark.parametrize("call", [
    lambda: yd.young_interval(-1, 10), lambda: yd.young_interval(1.0, 0.0), lambda: yd.daly_interval(1.0, 0.0),
    lambda: yd.advise(0, 1, 1, 1, 2), lambda: yd.expected_wall_ratio(10, 1, -5, 100),
    lambda: yd.first_order_waste(0, 1, 100), lambda: yd.estimate_mtbp(-1, 0.0, 3600.0),
    lambda: yd.estimate_mtbp(0, 0.0, 0.0),
])
def test_bad_inputs_raise_one_line_errors(call):
    with pytest.raises(SpotShieldError) as e:
        call()
    assert "\n" not in str(e.value)


def test_no_torch_import():
    import subprocess
    import sys

    code = ("import sys, spotshield.youngdaly, spotshield.trainer.strategies;"
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
