import pytest

from spotshield import spot_traces as traces
from spotshield.deadline import policies
from spotshield.deadline.actuator import FakeActuator, Placement
from spotshield.deadline.controller import Controller, ControllerConfig
from spotshield.deadline.state import Where
from tests.deadline.fakes import Clock, JobModel

H = 3600.0
ZONES = ("a", "b")


def make(policy="uniform-progress", *, capacity=None, work_h=8.0, deadline_h=10.0, restart_s=360.0,
         dwell_s=600.0, measured_restart_s=None, **params):
    clock = Clock()
    act = FakeActuator(ZONES, capacity)
    job = JobModel(act, work_h * H, restart_s, measured_restart_s)
    cfg = ControllerConfig(deadline=clock.t + deadline_h * H, start=clock.t, zones=ZONES, restart_s=restart_s,
                           min_dwell_s=dwell_s)
    return Controller(policies.make(policy, **params), job, act, cfg, clock=clock), clock, act, job


def test_first_tick_starts_on_spot_and_repeating_it_changes_nothing():
    ctl, clock, act, _ = make(capacity={"a": False, "b": True})
    t1 = ctl.tick()
    assert t1.resized and t1.target == Placement({"a": 0, "b": 1}, 0)
    clock.t += 30
    t2 = ctl.tick()
    assert not t2.resized and t2.decision.where == Where.SPOT
    assert act.calls == [Placement({"a": 0, "b": 1}, 0)]  # one resize for two ticks


def test_preempted_and_behind_goes_on_demand_at_once_even_within_the_dwell():
    ctl, clock, act, job = make(capacity={"a": True, "b": False})
    ctl.tick()
    act.capacity["a"] = False  # preempted 60 s later, far behind the uniform pace after a while
    clock.t += 60
    t = ctl.tick()  # behind pace: ep > 0 while no work done
    assert t.decision.where == Where.ON_DEMAND and t.resized and not t.held
    assert act.sizes == Placement({"a": 0, "b": 0}, 1)


def test_dwell_holds_a_move_off_on_demand_then_lets_it_go():
    ctl, clock, act, job = make(capacity={"a": False, "b": False})
    clock.t += 60
    assert ctl.tick().decision.where == Where.ON_DEMAND
    job.done = 2 * H  # well ahead of the pace (and of the hysteresis)
    act.capacity["b"] = True
    clock.t += 300
    held = ctl.tick()
    assert held.held and not held.resized and held.decision.where == Where.SPOT
    assert act.sizes.on_demand == 1
    clock.t += 301  # past the 600 s dwell
    moved = ctl.tick()
    assert moved.resized and act.sizes == Placement({"a": 0, "b": 1}, 0)


def test_done_empties_every_group_and_run_stops():
    ctl, clock, act, job = make(capacity={"a": True, "b": True})
    ctl.tick()
    job.done = job.work_s
    ticks = ctl.run(interval_s=30, sleep=lambda s: None, max_ticks=5)
    assert len(ticks) == 1 and ticks[-1].state.finished
    assert act.sizes == Placement({"a": 0, "b": 0}, 0)


def test_a_larger_measured_restart_overhead_replaces_the_configured_one():
    ctl, *_ = make(restart_s=300.0, measured_restart_s=900.0)
    assert ctl.tick().state.restart_s == 900.0
    ctl2, *_ = make(restart_s=300.0, measured_restart_s=100.0)
    assert ctl2.tick().state.restart_s == 300.0


def test_fallback_counts_minutes_without_spot_from_the_last_capacity_seen():
    ctl, clock, act, _ = make("fallback", capacity={"a": True, "b": False}, after_min=10)
    ctl.tick()
    act.capacity["a"] = False
    for _ in range(9):
        clock.t += 60
        assert ctl.tick().decision.where == Where.NONE
    clock.t += 61
    t = ctl.tick()
    assert t.state.spot_unavailable_s == pytest.approx(601) and t.decision.where == Where.ON_DEMAND


def test_waiting_for_spot_keeps_the_spot_request():
    ctl, clock, act, job = make(capacity={"a": True, "b": False})
    job.done = 1 * H  # ahead of the pace: after a preemption the job waits for spot
    ctl.tick()
    for i in range(20):  # capacity in a comes and goes
        act.capacity["a"] = i % 2 == 1
        clock.t += 30
        t = ctl.tick()
        assert t.decision.where == (Where.SPOT if act.capacity["a"] else Where.NONE)
    assert act.calls == [Placement({"a": 1, "b": 0}, 0)]  # the pending request stayed; no resize


def test_flapping_capacity_is_damped_by_the_dwell():
    # the plain fallback with no patience flips between on-demand and spot with the capacity
    ctl, clock, act, job = make("fallback", capacity={"a": False, "b": False}, after_min=0, dwell_s=600)
    ctl.tick()
    assert act.sizes.on_demand == 1
    for i in range(120):  # one hour, capacity in a flipping every 30 s
        act.capacity["a"] = i % 2 == 0
        clock.t += 30
        ctl.tick()
    # without the dwell: a resize on every flip (120); with it, one round trip per 600 s at most
    assert 2 <= len(act.calls) <= 1 + 2 * (3600 // 600)


@pytest.mark.parametrize("policy", ["uniform-progress", "greedy"])
def test_closed_loop_on_a_stockout_heavy_trace(policy):
    """The controller core on a real trace: done before the deadline, cheaper than all
    on-demand, and back on spot when capacity returns."""
    # read as its columns are named: spot capacity 21% of the time, the stockout-heavy reading
    tr = traces.load("aws-04-22-2023_us-west-2b_v100_1", reading=traces.READING_AS_NAMED)
    start = 60 * H  # a stretch of the trace with stockouts and returns
    ctl, clock, act, job = make(policy, work_h=8, deadline_h=12, restart_s=600, dwell_s=600)
    t0, interval = clock.t, 60.0
    moves = []
    while clock.t < ctl.config.deadline + 6 * H and not (job.finished_at and not act.sizes.on_demand
                                                           and not any(act.sizes.spot.values())):
        act.capacity = {z: tr.available(start + clock.t - t0) for z in ZONES[:1]} | {"b": False}
        tick = ctl.tick()
        if tick.resized:
            moves.append(act.observe().running if tick.target.on_demand == 0 else Where.ON_DEMAND)
        job.advance(clock.t, interval)
        clock.t += interval
    assert job.finished_at is not None and job.finished_at <= ctl.config.deadline
    spot_h, od_h = job.billed[Where.SPOT] / H, job.billed[Where.ON_DEMAND] / H
    spot_price, od_price = 1.0, 3.0
    assert spot_h * spot_price + od_h * od_price < (8 + 600 / H) * od_price  # cheaper than all on-demand
    if policy == "uniform-progress":  # greedy stays on on-demand once there, by design
        first_od = moves.index(Where.ON_DEMAND)
        assert Where.SPOT in moves[first_od:], moves  # back to spot when capacity returned
