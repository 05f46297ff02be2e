"""`up --deadline`: each bad input is one clear line and exit 1, before anything is created."""
from __future__ import annotations

import pytest

from spotshield.backends.deadline import prepare
from spotshield.errors import SpotShieldError
from spotshield.settings import load_settings

# The local demo: 8 epochs x 44 steps x 0.2 s = 70.4 real s of compute = 70.4 emulated min at 60x,
# plus the 10 emulated min restart overhead: an on-demand run needs 1.34 emulated h.
BAD = [
    (["--deadline", "2020-01-01T00:00Z"], "is already past"),
    (["--deadline", "1h"], "shorter than the 1.34 h an on-demand run needs"),
    (["--deadline", "8h", "--machine-type", "n1-standard-16", "--gpu-type", "nvidia-tesla-t4"],
     "no on-demand price for n1-standard-16 + 1x nvidia-tesla-t4"),
    (["--deadline", "friday"], "is not a duration"),
    (["--deadline", "8h", "--deadline-policy", "yolo"], "unknown deadline policy 'yolo'"),
    (["--deadline", "8h", "--step-time", "0"], "step_time_s must be > 0"),
]


@pytest.mark.parametrize("args,needle", BAD)
def test_bad_deadline_input_is_one_line_and_starts_nothing(cli, isolated_root, args, needle):
    r = cli("up", "--detach", *args)
    assert r.exit_code == 1, r.output
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and needle in lines[0], r.stderr
    assert "Traceback" not in r.output
    assert not (isolated_root / ".spotshield" / "local" / "daemon.json").exists()  # no emulator started
    assert not (isolated_root / ".spotshield" / "stack.json").exists()


def test_a_job_without_a_step_time_asks_for_one(cli, isolated_root):
    (isolated_root / "job.yaml").write_text("model: tiny-cnn\ndata: digits\nepochs: 2\n")
    r = cli("up", "--detach", "--deadline", "8h", "--config", "job.yaml")
    assert r.exit_code == 1 and "set step_time_s" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_the_plan_counts_on_the_emulated_clock_locally_and_in_real_time_on_gcp(isolated_root):
    cfg = {"data": "digits", "epochs": 8, "batch_size": 32, "pace_step_s": 0.2, "run_id": "r"}
    local = prepare(load_settings({"deadline": "8h", "time_scale": 60.0}), cfg, time_scale=60.0, now=1000.0)
    assert local.steps == 352 and local.work_s == pytest.approx(352 * 0.2 * 60)  # emulated seconds
    assert local.deadline == pytest.approx(1000.0 + 8 * 3600 / 60)  # 8 emulated h = 8 real min at 60x
    gcp = prepare(load_settings({"deadline": "8h", "step_time_s": 0.5, "project": "demo-project-123"}), cfg,
                  now=1000.0)
    assert gcp.work_s == 352 * 0.5 and gcp.deadline == 1000.0 + 8 * 3600 and gcp.on_demand_usd_h > 0
    assert prepare(load_settings({}), cfg) is None  # no deadline: nothing changes


def test_a_resumed_run_is_checked_on_what_its_events_say_is_left(isolated_root):
    cfg = {"data": "digits", "epochs": 8, "batch_size": 32, "pace_step_s": 0.2, "run_id": "r"}
    # 300 of 352 steps done at 1 step per real second: 52 real s left, not the 70 s the pace says
    events = [{"event": "start", "t": 0.0, "host": "h", "boot": "b", "total_steps": 352},
              {"event": "step", "t": 10.0, "host": "h", "boot": "b", "step": 10},
              {"event": "step", "t": 300.0, "host": "h", "boot": "b", "step": 300}]
    s = load_settings({"deadline": "0.5h", "deadline_restart_s": 60.0})
    plan = prepare(s, cfg, now=1000.0, events=events)
    assert plan.remaining_s == pytest.approx(52.0) and plan.source.startswith("the run's own events")
    done = events + [{"event": "done", "t": 400.0, "host": "h", "boot": "b", "step": 352}]
    with pytest.raises(SpotShieldError, match="already DONE"):
        prepare(s, cfg, now=1000.0, events=done)


def test_a_deadline_on_a_running_emulator_that_holds_its_clock_is_one_line(cli, isolated_root):
    """The deadline controller's clock is linear in real time (deadline/service.py); an emulator
    started without one holds its clock through guests' start-ups (guest_time real, the default)."""
    from spotshield.backends.local import _fleet_args
    from spotshield.local import daemon

    assert _fleet_args(None, True) == {"guest_time": "scaled"} and _fleet_args(None, False) is None
    assert _fleet_args({"guest_time": "real"}, True) == {"guest_time": "real"}  # said outright: kept
    state = isolated_root / ".spotshield" / "local"
    rec = daemon.start(state)
    try:
        assert daemon.request(rec, "GET", "/spotshield/v1/status")["clock"]["guest_time"] == "real"
        r = cli("up", "--detach", "--deadline", "8h")
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert r.exit_code == 1 and len(lines) == 1 and "a deadline needs the emulator's scaled time model" in lines[0]
        assert not (isolated_root / ".spotshield" / "stack.json").exists()
        assert daemon.request(rec, "GET", "/spotshield/v1/status")["instances"] == []  # nothing created
    finally:
        daemon.stop(state)
