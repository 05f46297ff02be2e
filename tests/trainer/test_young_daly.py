import math

import pytest

from spotshield.trainer.strategies.young_daly import (
    daly_interval_s, estimate_mtbp_s, expected_waste_fraction, young_interval_s,
)


def test_young_interval_is_sqrt_2cm():
    assert young_interval_s(2.0, 900.0) == pytest.approx(60.0)
    assert young_interval_s(0.5, 3600.0) == pytest.approx(math.sqrt(3600.0))


def test_young_interval_minimises_first_order_waste():
    c, m = 3.0, 1800.0
    best = young_interval_s(c, m)
    for t in (best * 0.5, best * 0.9, best * 1.1, best * 2):
        assert expected_waste_fraction(best, c, m) < expected_waste_fraction(t, c, m)


def test_daly_close_to_young_for_small_cost_and_capped_at_m():
    assert daly_interval_s(1.0, 1e6) == pytest.approx(young_interval_s(1.0, 1e6), rel=1e-3)
    assert daly_interval_s(500.0, 100.0) == 100.0


def test_mtbp_estimate_moves_from_prior_to_history():
    assert estimate_mtbp_s(0, 0.0, prior_s=3600.0) == 3600.0
    # one prior pseudo-preemption over 3600 s, plus 9 seen in 900 s: (3600 + 900) / 10
    assert estimate_mtbp_s(9, 900.0, prior_s=3600.0, prior_weight=1.0) == pytest.approx(450.0)
    long_history = estimate_mtbp_s(1000, 100_000.0, prior_s=3600.0)
    assert long_history == pytest.approx(100.0, rel=0.05)


@pytest.mark.parametrize("args", [(-1.0, 10.0), (1.0, 0.0)])
def test_bad_inputs_rejected(args):
    with pytest.raises(ValueError):
        young_interval_s(*args)


def test_no_torch_import():
    import subprocess
    import sys

    code = ("import sys, spotshield.trainer.strategies.young_daly, spotshield.trainer.strategies;"
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
