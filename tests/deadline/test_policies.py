import pytest

from spotshield.deadline.policies import DEFAULT, NAMES, make
from spotshield.deadline.state import State, Where
from spotshield.errors import SpotShieldError

H = 3600.0
D = 0.2 * H  # restart overhead


def st(now_h, done_h, *, total_h=48.0, deadline_h=60.0, spot=None, running=Where.NONE, zone=None,
       unavailable_min=0.0):
    """A State at now_h hours into a job that started at 0 with deadline_h."""
    return State(now=now_h * H, deadline=deadline_h * H, start=0.0, work_done_s=done_h * H, work_total_s=total_h * H,
                 restart_s=D, spot_available=spot if spot is not None else {"a": False},
                 running=running, zone=zone, spot_unavailable_s=unavailable_min * 60)


def test_registry():
    assert set(NAMES) == {"uniform-progress", "greedy", "fallback", "on-demand", "spot"}
    assert make().name == DEFAULT == "uniform-progress"
    assert make("fallback", after_min=5).after_min == 5


def test_unknown_policy_and_parameter_are_clear_errors():
    with pytest.raises(SpotShieldError, match="unknown deadline policy 'sometimes'"):
        make("sometimes")
    with pytest.raises(SpotShieldError, match="unknown parameter 'after' for deadline policy fallback"):
        make("fallback", after=3)
    with pytest.raises(SpotShieldError, match="it takes: none"):
        make("greedy", x=1)
    with pytest.raises(SpotShieldError, match="after_min must be >= 0"):
        make("fallback", after_min=-1)


@pytest.mark.parametrize("name", ["uniform-progress", "greedy", "fallback", "on-demand", "spot"])
def test_every_policy_runs_nothing_once_done(name):
    d = make(name).decide(st(10, 48, running=Where.ON_DEMAND, spot={"a": True}))
    assert d.where == Where.NONE


@pytest.mark.parametrize("name", ["uniform-progress", "greedy", "fallback", "spot"])
def test_exploitation_stays_on_live_spot(name):
    # even far behind schedule: leaving live spot gains nothing
    d = make(name).decide(st(30, 1, spot={"a": True, "b": True}, running=Where.SPOT, zone="b"))
    assert (d.where, d.zone) == (Where.SPOT, "b")


# --- Uniform Progress -----------------------------------------------------------------------------
# With total 48 h and deadline 60 h from 0, the uniform pace is 0.8 h of work per hour.

def test_up_idle_behind_pace_goes_on_demand():
    d = make().decide(st(10, 7.9))  # ep = 8 h of work
    assert d.where == Where.ON_DEMAND and "behind" in d.reason


def test_up_idle_on_pace_waits():
    assert make().decide(st(10, 8.0)).where == Where.NONE


def test_up_takes_risks_on_spot_even_when_behind():
    d = make().decide(st(10, 2.0, spot={"a": False, "b": True}))
    assert (d.where, d.zone) == (Where.SPOT, "b")


def test_up_hysteresis_keeps_on_demand_until_ahead_by_2d():
    # ep(t + 2d) at t = 10 h: 0.8 * 10.4 = 8.32 h of work
    up = make()
    assert up.decide(st(10, 8.31, spot={"a": True}, running=Where.ON_DEMAND)).where == Where.ON_DEMAND
    d = up.decide(st(10, 8.33, spot={"a": True}, running=Where.ON_DEMAND))
    assert (d.where, d.zone) == (Where.SPOT, "a")


def test_up_leaves_on_demand_only_for_spot():
    d = make().decide(st(10, 9.0, spot={"a": False}, running=Where.ON_DEMAND))
    assert d.where == Where.ON_DEMAND  # ahead, but no spot anywhere: stay rather than idle and come back


def test_up_safety_net_when_idle():
    # R = 60 - 50 = 10 h < C + 2d = 9.7 + 0.4 -> on-demand, and spot is not taken any more
    assert make().decide(st(50, 38.3, spot={"a": True})).where == Where.ON_DEMAND
    # just outside the net (R = 10 h >= 9.5 + 0.4): spot is still worth the risk
    assert make().decide(st(50, 38.5, spot={"a": True})).where == Where.SPOT


def test_up_safety_net_keeps_on_demand_to_the_end():
    d = make().decide(st(50, 38.3, spot={"a": True}, running=Where.ON_DEMAND))
    assert d.where == Where.ON_DEMAND and "safety net" in d.reason


def test_preempted_job_is_idle_and_picks_another_zone():
    # running SPOT in a zone without capacity = preempted
    d = make().decide(st(10, 9, spot={"a": False, "b": True}, running=Where.SPOT, zone="a"))
    assert (d.where, d.zone) == (Where.SPOT, "b")


def test_unknown_capacity_counts_as_none():
    assert make().decide(st(10, 9, spot={"a": None})).where == Where.NONE


# --- greedy -----------------------------------------------------------------------------------------

def test_greedy_waits_for_spot_until_the_safety_net():
    g = make("greedy")
    assert g.decide(st(10, 2)).where == Where.NONE  # far behind the uniform pace: greedy does not care
    assert g.decide(st(50, 38.3)).where == Where.ON_DEMAND
    # and never goes back to spot from on-demand
    assert g.decide(st(10, 9, spot={"a": True}, running=Where.ON_DEMAND)).where == Where.ON_DEMAND


# --- the plain fallback --------------------------------------------------------------------------

def test_fallback_after_n_minutes_without_spot():
    f = make("fallback", after_min=30)
    assert f.decide(st(1, 0, unavailable_min=29.9)).where == Where.NONE
    assert f.decide(st(1, 0, unavailable_min=30)).where == Where.ON_DEMAND


def test_fallback_goes_back_to_spot_when_capacity_returns():
    on_od = st(5, 3, spot={"a": True}, running=Where.ON_DEMAND)
    assert make("fallback").decide(on_od).where == Where.SPOT
    assert make("fallback", back_to_spot=False).decide(on_od).where == Where.ON_DEMAND


def test_fallback_knows_no_deadline():
    # in the safety net, with spot capacity: the plain fallback still takes spot
    assert make("fallback").decide(st(50, 38.3, spot={"a": True})).where == Where.SPOT


def test_fixed_baselines():
    assert make("on-demand").decide(st(0, 0, spot={"a": True})).where == Where.ON_DEMAND
    assert make("spot").decide(st(59, 1)).where == Where.NONE  # waits past any deadline
    assert make("spot").decide(st(0, 0, spot={"a": True})).where == Where.SPOT
