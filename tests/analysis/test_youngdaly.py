import math

import pytest

from spotshield.analysis import youngdaly as yd
from spotshield.errors import SpotShieldError


def test_young_is_sqrt_2cm():
    assert yd.young_interval(20, 900) == pytest.approx(math.sqrt(2 * 20 * 900))


def test_daly_is_below_young_and_close_when_c_small():
    # Daly's correction subtracts C and adds higher-order terms: for C << M it is ~Young - C
    young, daly = yd.young_interval(1, 1e6), yd.daly_interval(1, 1e6)
    assert daly == pytest.approx(young - 1 + young * math.sqrt(1 / 2e6) / 3, rel=1e-6)
    assert yd.daly_interval(50, 20) == 20  # C >= 2M: the interval saturates at M


def test_exact_optimum_minimises_and_matches_daly():
    C, R, M = 20, 60, 900
    opt = yd.optimal_interval(C, R, M)
    f = lambda tau: yd.expected_wall_ratio(tau, C, R, M)  # noqa: E731
    assert f(opt) <= f(opt * 0.9) and f(opt) <= f(opt * 1.1)
    assert opt == pytest.approx(yd.daly_interval(C, M), rel=0.01)  # Daly is accurate here


def test_first_order_waste_agrees_when_rates_are_low():
    C, R, M = 5, 30, 36000
    tau = yd.young_interval(C, M)
    assert yd.waste_fraction(tau, C, R, M) == pytest.approx(yd.first_order_waste(tau, C, R, M), rel=0.05)


def test_break_even_rate_makes_costs_equal():
    C, R, spot, od = 20, 60, 0.25, 0.70
    be = yd.break_even_rate(C, R, spot, od)
    ratio = yd.cost_ratio(yd.best_wall_ratio(C, R, 3600 / be), spot, od)
    assert ratio == pytest.approx(1.0, rel=1e-6)
    # cheaper below, dearer above
    assert yd.cost_ratio(yd.best_wall_ratio(C, R, 3600 / (be / 2)), spot, od) < 1
    assert yd.cost_ratio(yd.best_wall_ratio(C, R, 3600 / (be * 2)), spot, od) > 1
    assert yd.break_even_rate(C, R, 1.0, 1.0) == 0.0  # no discount: never worth it


def test_bad_inputs_raise_one_line_errors():
    with pytest.raises(SpotShieldError):
        yd.young_interval(-1, 10)
    with pytest.raises(SpotShieldError):
        yd.advise(0, 1, 1, 1, 2)
    with pytest.raises(SpotShieldError):
        yd.expected_wall_ratio(10, 1, -5, 100)
