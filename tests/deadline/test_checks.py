import pytest

from spotshield.deadline.checks import check_feasible, check_not_past, check_on_demand_price, on_demand_time_s
from spotshield.errors import SpotShieldError

H = 3600.0


def test_deadline_already_past():
    with pytest.raises(SpotShieldError, match="already past"):
        check_not_past(1000.0, 1000.0)
    check_not_past(1001.0, 1000.0)


def test_on_demand_time_is_work_plus_one_start():
    assert on_demand_time_s(4 * H, 0.2 * H) == pytest.approx(4.2 * H)


def test_deadline_shorter_than_on_demand_time():
    now = 1.8e9
    check_feasible(now + 4.2 * H, now, 4 * H, 0.2 * H)  # exactly enough
    with pytest.raises(SpotShieldError) as e:
        check_feasible(now + 4.1 * H, now, 4 * H, 0.2 * H)
    msg = str(e.value)
    assert "\n" not in msg
    assert "4.10 h away" in msg and "4.20 h" in msg and "4.00 h of work" in msg and "0.20 h restart" in msg


def test_feasible_also_rejects_a_past_deadline():
    with pytest.raises(SpotShieldError, match="already past"):
        check_feasible(10.0, 20.0, 1.0, 1.0)


def test_machine_with_no_on_demand_price_against_the_real_price_table():
    from spotshield.billing import hourly

    def lookup(machine):
        rate = hourly(machine, None, 0, "us-central1")
        return None if rate is None else (rate.spot, rate.on_demand)

    assert check_on_demand_price("g2-standard-4", lookup) == pytest.approx(lookup("g2-standard-4")[1])
    with pytest.raises(SpotShieldError) as e:
        check_on_demand_price("n2-imaginary-96", lookup)
    assert "no on-demand price for n2-imaginary-96" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("found", [None, (0.1, None), (0.1, 0.0)])
def test_missing_or_zero_on_demand_price(found):
    with pytest.raises(SpotShieldError, match="no on-demand price"):
        check_on_demand_price("m", lambda m: found)
