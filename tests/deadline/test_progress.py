import pytest

from spotshield.deadline.progress import EventsProgress, measured_rate, measured_restart_s, progress_from_events
from spotshield.events import read_events
from spotshield.storage import FileStore
from tests.analysis.eventgen import gen_run


def run_events(tmp_path, **kw):
    args = dict(total_steps=600, steps_per_epoch=100, step_s=0.1, val_s=0.0, stall_s=0.0, ckpt_every=50,
                log_every=10, preempt_at=(250,), restart_s=5.0, emergency=True)
    args.update(kw)
    gen_run(tmp_path, "r1", **args)
    store = FileStore(tmp_path)
    return store, read_events(store, "r1")


def test_finished_run_from_its_store(tmp_path):
    store, _ = run_events(tmp_path)
    p = EventsProgress(store, "r1", work_estimate_s=999.0, boot_s=60.0)()
    assert p.finished and p.steps_done == 600 and p.total_steps == 600
    assert p.steps_per_s == pytest.approx(10.0)  # 10 steps per 1.0 s between step events, downtime left out
    assert p.work_total_s == pytest.approx(60.0) and p.work_done_s == pytest.approx(60.0)
    # the resumed boot: start event, then its first step event 10 steps (1.0 s) later, + boot_s
    assert p.restart_s == pytest.approx(61.0)


def test_mid_run_progress_and_no_restart_seen_yet(tmp_path):
    _, events = run_events(tmp_path)
    first_boot = [e for e in events if e["boot"] == "b0" and e["event"] != "exit"]
    p = progress_from_events(first_boot, work_estimate_s=999.0)
    assert not p.finished and p.steps_done == 250
    assert p.work_done_s == pytest.approx(25.0) and p.work_total_s == pytest.approx(60.0)
    assert p.restart_s is None


def test_lost_work_is_not_counted_as_done(tmp_path):
    _, events = run_events(tmp_path, emergency=False, preempt_at=(270,))
    upto_resume = events[: next(i for i, e in enumerate(events) if e["event"] == "resume") + 1]
    assert max(e.get("step", 0) for e in upto_resume) == 270
    assert progress_from_events(upto_resume, 999.0).steps_done == 250  # resumed from the step-250 checkpoint


def test_before_any_rate_the_estimate_stands_in(tmp_path):
    _, events = run_events(tmp_path)
    start_only = events[:1]
    assert start_only[0]["event"] == "start"
    p = progress_from_events(start_only, work_estimate_s=3600.0)
    assert (p.work_done_s, p.work_total_s, p.steps_per_s) == (0.0, 3600.0, None)
    one_step = [e for e in events if e["event"] in ("start", "step")][:2]
    p = progress_from_events(one_step, work_estimate_s=3600.0)
    assert p.work_done_s == pytest.approx(3600.0 * 10 / 600)


def test_rate_ignores_pairs_across_a_resume():
    ev = [{"event": "step", "t": 0.0, "step": 0, "host": "h", "boot": "a"},
          {"event": "step", "t": 10.0, "step": 100, "host": "h", "boot": "a"},
          {"event": "resume", "t": 500.0, "from_step": 100, "host": "h", "boot": "a"},
          {"event": "step", "t": 600.0, "step": 110, "host": "h", "boot": "a"}]
    assert measured_rate(ev) == pytest.approx(10.0)
    assert measured_restart_s(ev) is None  # no start event: nothing to measure from
