import pytest

from spotshield import spot_traces as traces
from spotshield.deadline import policies
from spotshield.deadline.policies.base import Policy
from spotshield.deadline.prices import fixed_prices
from spotshield.deadline.simulate import Job, compare, offsets, on_demand_cost, simulate
from spotshield.deadline.state import Decision, Where
from spotshield.errors import SpotShieldError
from spotshield.spot_traces import SpotTrace

H = 3600.0
PRICE = fixed_prices(spot=1.0, on_demand=3.0)  # USD per hour
ALWAYS = SpotTrace("always", 1000 * H, ())
NEVER = SpotTrace("never", 1000 * H, ((0.0, 1000 * H),))


def test_always_spot_on_a_trace_that_never_runs_dry():
    job = Job(work_s=10 * H, deadline_s=12 * H, restart_s=0.5 * H)
    r = simulate(policies.make("spot"), job, {"a": ALWAYS}, PRICE)
    assert r.finished_s == pytest.approx(10.5 * H) and r.met_deadline
    assert r.cost_usd == pytest.approx(10.5 * 1.0)  # one start + the work, at the spot price
    assert (r.changeovers, r.preemptions, r.on_demand_s) == (1, 0, 0)
    assert r.spot_work_s == pytest.approx(10 * H)


def test_no_spot_at_all():
    job = Job(work_s=10 * H, deadline_s=12 * H, restart_s=0.5 * H)
    ref = on_demand_cost(job, PRICE)
    assert ref == pytest.approx(10.5 * 3.0)
    up = simulate(policies.make(), job, {"a": NEVER}, PRICE)
    assert up.met_deadline and up.cost_usd == pytest.approx(ref)  # on-demand once it falls behind pace
    assert up.finished_s == pytest.approx(60 + 10.5 * H)  # one tick on pace at t=0, then behind
    greedy = simulate(policies.make("greedy"), job, {"a": NEVER}, PRICE)
    assert greedy.met_deadline and greedy.cost_usd == pytest.approx(ref)
    assert greedy.finished_s > 11.5 * H  # waited for the safety net
    spot = simulate(policies.make("spot"), job, {"a": NEVER}, PRICE)
    assert spot.finished_s is None and not spot.met_deadline and spot.cost_usd == 0


def test_greedy_through_one_stockout_by_hand():
    tr = SpotTrace("one", 100 * H, ((1 * H, 3 * H),))
    job = Job(work_s=2 * H, deadline_s=10 * H, restart_s=0.1 * H)
    r = simulate(policies.make("greedy"), job, {"a": tr}, PRICE)
    # 0-1 h on spot (0.1 h start + 0.9 h work), preempted at 1 h exactly, back at 3 h: 0.1 h + 1.1 h
    assert r.preemptions == 1 and r.changeovers == 2
    assert r.finished_s == pytest.approx(4.2 * H)
    assert r.spot_s == pytest.approx(2.2 * H) and r.cost_usd == pytest.approx(2.2)
    assert [m[1] for m in r.moves] == ["spot", "spot"]


def test_uniform_progress_moves_back_to_spot_when_capacity_returns():
    tr = SpotTrace("gap", 100 * H, ((0.5 * H, 6 * H),))
    job = Job(work_s=8 * H, deadline_s=10 * H, restart_s=0.1 * H)
    r = simulate(policies.make(), job, {"a": tr}, PRICE)
    where = [m[1] for m in r.moves]
    assert where[:3] == ["spot", "on_demand", "spot"]
    assert r.moves[2][0] == pytest.approx(6 * H)  # the first tick with capacity again
    assert r.met_deadline and r.cost_usd < on_demand_cost(job, PRICE)


def test_each_zone_is_billed_at_its_own_price():
    calls = []

    def price(where, zone):
        calls.append((where, zone))
        return {"a": 1.0, "b": 2.0}[zone] if where == Where.SPOT else 5.0

    a_dry = SpotTrace("a", 100 * H, ((0, 100 * H),))
    r = simulate(policies.make("spot"), Job(1 * H, 2 * H, 0.0), {"a": a_dry, "b": ALWAYS}, price)
    assert r.cost_usd == pytest.approx(2.0) and (Where.SPOT, "b") in calls and (Where.SPOT, "a") not in calls


def test_a_policy_that_picks_a_dry_zone_is_a_bug():
    class Bad(Policy):
        name = "bad"

        def decide(self, s):
            return Decision(Where.SPOT, "a")

    with pytest.raises(ValueError, match="no capacity"):
        simulate(Bad(), Job(H, 2 * H, 0.0), {"a": NEVER}, PRICE)


def test_late_runs_go_on_and_say_when_the_trace_repeated():
    tr = SpotTrace("short", 3 * H, ((1 * H, 2 * H),))
    r = simulate(policies.make("spot"), Job(3 * H, 3.5 * H, 0.0), {"a": tr}, PRICE)
    # 0-1 h work, 1-2 h dry, 2-3 h work, then the trace repeats: 3-4 h work
    assert r.finished_s == pytest.approx(4 * H) and r.late_s == pytest.approx(0.5 * H) and r.wrapped


def test_offsets_keep_the_deadline_window_inside_the_trace():
    assert offsets(100, 40, 4) == [0, 20, 40, 60]
    assert offsets(30, 40, 10) == [0.0]


def test_compare_on_demand_is_the_reference():
    job = Job(20 * H, 30 * H, 0.2 * H)
    tr = traces.load("aws-04-22-2023_us-east-1c_v100_1")
    (od,) = compare([policies.make("on-demand")], job, {"a": tr}, PRICE, n_offsets=5)
    assert od.runs == 5 and od.misses == 0 and od.cost_ratios == pytest.approx([1.0] * 5)


@pytest.mark.parametrize("reading", ["as documented", "inverted"])
def test_deadline_policies_never_miss_on_the_shipped_traces(reading):
    """The safety net's guarantee: with deadline >= work + d, UP, greedy and on-demand are never late."""
    made = [policies.make(n) for n in policies.NAMES if policies.REGISTRY[n].meets_deadlines]
    assert {p.name for p in made} == {"uniform-progress", "greedy", "on-demand"}
    for name in traces.shipped():
        tr = traces.load(name)
        tr = tr.inverted() if reading == "inverted" else tr
        for work_h, deadline_h, d_h in ((20, 21, 0.3), (20, 25, 0.2), (30, 40, 0.5)):
            job = Job(work_h * H, deadline_h * H, d_h * H)
            for s in compare(made, job, {"z": tr}, PRICE, n_offsets=6, tick_s=120):
                assert s.misses == 0, (name, reading, work_h, deadline_h, s.policy)


def test_prices_must_be_positive():
    with pytest.raises(SpotShieldError, match="spot price must be > 0"):
        fixed_prices(0, 1)


def test_leaving_on_demand_only_for_spot_beats_idling_ahead_of_the_pace():
    """The reading docs/deadline.md chooses: with no spot, idling ahead of the pace and coming back
    pays a changeover per round trip; staying on on-demand costs exactly all on-demand."""
    job = Job(24 * H, 40 * H, 0.2 * H)  # job fraction 0.6
    stay = simulate(policies.make(), job, {"a": NEVER}, PRICE)
    idle = simulate(policies.make(idle_when_ahead=True), job, {"a": NEVER}, PRICE)
    ref = on_demand_cost(job, PRICE)
    assert stay.cost_usd == pytest.approx(ref) and stay.changeovers == 1
    assert idle.cost_usd / ref > 1.15 and idle.changeovers > 10 and idle.met_deadline
