"""bench/spread.py: a median with its quartiles and range, in the unit asked for."""
import pytest

from . import repo_module

spread = repo_module("spread")


def test_summary_of_seconds_is_in_ms_with_ordered_quartiles():
    s = spread.summary([0.004, 0.001, 0.002, 0.003, 0.010])
    assert s == pytest.approx({"median": 3.0, "p25": 2.0, "p75": 4.0, "min": 1.0, "max": 10.0, "n": 5})


def test_summary_keeps_seconds_when_asked_and_handles_one_or_two_samples():
    assert spread.summary([2.5], scale=1.0) == {"median": 2.5, "p25": 2.5, "p75": 2.5, "min": 2.5, "max": 2.5, "n": 1}
    two = spread.summary([1.0, 3.0], scale=1.0)
    assert two["median"] == 2.0 and two["p25"] == 1.5 and two["p75"] == 2.5 and (two["min"], two["max"]) == (1.0, 3.0)


def test_no_samples_is_an_error():
    with pytest.raises(ValueError, match="no samples"):
        spread.summary([])


def test_text_puts_median_iqr_range_and_count_in_one_cell():
    assert spread.text(spread.summary([0.001, 0.002, 0.003])) == "2.0 (IQR 1.5-2.5, min-max 1.0-3.0, n=3)"
