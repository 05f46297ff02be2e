import math

import pytest

from spotshield import youngdaly as yd
from spotshield.analysis import restart_curve as rc

SPOT, OD = 0.2816, 0.70683  # the study's g2-standard-4 + L4 prices


def test_break_even_falls_as_restart_grows_and_is_youngdalys():
    pts = rc.curve(0.05, SPOT, OD)
    assert [p.restart_s for p in pts] == list(rc.R_VALUES_S)
    bes = [p.break_even_per_h for p in pts]
    assert all(a > b for a, b in zip(bes, bes[1:]))
    assert bes[2] == pytest.approx(yd.break_even_rate(0.05, 120.0, SPOT, OD))  # one model, not a second formula


def test_near_zero_checkpoint_cost_gives_the_closed_form():
    # C ~ 0: the wall ratio is exp(R/M), so spot breaks even at ln(od/spot) x 3600 / R (issue 14: ~25/h at 130 s)
    p = rc.curve(1e-4, SPOT, OD, r_values=(130.0,))[0]
    assert p.break_even_per_h == pytest.approx(math.log(OD / SPOT) * 3600 / 130, rel=0.02)
    assert 24 < p.break_even_per_h < 26


def test_savings_never_beat_the_discount_and_fall_with_rate_and_restart():
    pts = rc.curve(20.0, SPOT, OD)
    discount = 1 - SPOT / OD
    for p in pts:
        vals = [p.savings[r] for r in rc.RATES_PER_H]
        assert all(v < discount for v in vals)
        assert all(a > b for a, b in zip(vals, vals[1:]))
    for r in rc.RATES_PER_H:
        col = [p.savings[r] for p in pts]
        assert all(a > b for a, b in zip(col, col[1:]))


def test_the_measured_restart_is_a_marked_row():
    pts = rc.curve(0.05, SPOT, OD, measured_r=473.0)
    marked = [p for p in pts if p.measured]
    assert len(marked) == 1 and marked[0].restart_s == 473.0
    assert [p.restart_s for p in pts] == sorted(p.restart_s for p in pts)
