import pytest

from spotshield.analysis.metrics import run_metrics
from spotshield.analysis.runs import load_runs

from .eventgen import gen_run


def _one(tmp_path, **kw):
    truth = gen_run(tmp_path, "naive-poisson-s0", **kw)
    (run,) = load_runs(tmp_path)
    return truth, run_metrics(run)


def test_waste_recovery_and_stall_match_the_generated_truth(tmp_path):
    truth, m = _one(tmp_path, preempt_at=(137, 420), ckpt_every=50, restart_s=5.0)
    assert m["preemptions"] == truth.preemptions == 2
    assert m["wasted_steps"] == truth.wasted_steps == (137 - 100) + (420 - 400)
    assert m["wasted_s"] == pytest.approx(truth.wasted_s, rel=1e-6)
    assert m["stall_s"] == pytest.approx(truth.stall_s)
    # first training step is estimated from periodic step events: within one step of the truth
    for got, want in zip(sorted(m["recoveries_s"]), sorted(truth.recoveries)):
        assert got == pytest.approx(want, abs=0.1 + 1e-6)
    assert m["boots"] == 3 and m["labels"] if False else True
    assert m["strategy"] == "naive" and m["pattern"] == "poisson" and m["seed"] == 0
    assert m["final_accuracy"] == pytest.approx(0.9)
    # every second of wall time is accounted for, up to the recovery estimate
    assert m["useful_s"] + m["wasted_s"] + m["stall_s"] + m["downtime_s"] == pytest.approx(m["wall_s"], abs=1e-6)


def test_emergency_checkpoint_means_no_redone_work(tmp_path):
    truth, m = _one(tmp_path, preempt_at=(137,), emergency=True)
    assert m["wasted_steps"] == 0 and m["wasted_s"] == pytest.approx(0.0, abs=1e-9)
    assert m["emergency_ok"] == 1 and m["checkpoints"] == 11  # 11 interval saves, the emergency one apart


def test_uninterrupted_run_has_no_waste_and_full_goodput_minus_stalls(tmp_path):
    truth, m = _one(tmp_path)
    assert m["preemptions"] == 0 and m["wasted_s"] == 0 and m["boots"] == 1
    assert m["recoveries_s"] == []
    assert m["goodput"] == pytest.approx(1 - truth.stall_s / m["wall_s"])


def test_replacement_preempted_before_its_first_step_extends_one_outage(tmp_path):
    import json

    gen_run(tmp_path, "naive-bursty-s0", preempt_at=(137,), emergency=True, restart_s=5.0)
    d = tmp_path / "events" / "naive-bursty-s0"
    b1 = [json.loads(x) for x in (d / "vm-0-b1.jsonl").read_text().splitlines()]
    t_notice, t_start = b1[0]["t"] - 5.0, b1[0]["t"]
    # a boot squeezed in between: started, resumed, noticed a preemption, exited - no step
    mid = [{"event": "start", "t": t_start - 3, "strategy": "naive", "model": "m", "data": "d", "epochs": 6,
            "total_steps": 600, "device": "cpu", "pid": 7},
           {"event": "resume", "t": t_start - 2.9, "from_step": 137, "epoch": 1, "checkpoint": "c",
            "seconds_lost": 0.0, "steps_lost": 0},
           {"event": "preempt_notice", "t": t_start - 2.8, "step": 137, "source": "sigterm"},
           {"event": "exit", "t": t_start - 2.7, "step": 137, "code": 75, "reason": "preempted"}]
    for r in mid:
        r.update(run_id="naive-bursty-s0", host="vm-0", boot="b0x")
    (d / "vm-0-b0x.jsonl").write_text("\n".join(json.dumps(r) for r in mid) + "\n")
    (run,) = load_runs(tmp_path)
    m = run_metrics(run)
    assert m["preemptions"] == 2 and m["boots"] == 3
    (rec,) = m["recoveries_s"]  # one outage, from the first notice
    assert rec == pytest.approx(t_start + 0.1 - (t_notice - 0.5), abs=0.15)
    assert m["useful_s"] + m["wasted_s"] + m["stall_s"] + m["downtime_s"] == pytest.approx(m["wall_s"])


def _labelled(tmp_path, labels, **kw):
    import json

    truth = gen_run(tmp_path, "naive-poisson-s0", **kw)
    (tmp_path / "grid.json").write_text(json.dumps({"runs": {"naive-poisson-s0": labels}}))
    (run,) = load_runs(tmp_path)
    return truth, run_metrics(run)


def test_a_recovery_splits_into_its_three_parts_in_emulated_seconds(tmp_path):
    """notice -> exit (the emergency save), exit -> VM running (repair and boot), VM running ->
    first step (start-up): each in emulated seconds; under guest_time real the guest's own
    shutdown and start-up count 1x, the modelled repair and boot 60x."""
    truth, m = _labelled(tmp_path, {"time_scale": 60, "guest_time": "real"}, preempt_at=(137,), emergency=True,
                         emergency_s=0.5, restart_s=2.0, startup_s=4.0)
    assert m["guest_time"] == "real" and m["preemptions"] == 1
    assert m["notice_to_exit_emulated_s_mean"] == pytest.approx(0.5)
    assert m["exit_to_vm_running_emulated_s_mean"] == pytest.approx(2.0 * 60)
    # the start-up's 4 real s count 4 emulated s; the first step (0.1 s, paced) 60x
    assert m["vm_running_to_first_step_emulated_s_mean"] == pytest.approx(4.0 + 0.1 * 60, abs=0.1 * 60)
    assert m["startup_real_s_mean"] == pytest.approx(4.1, abs=0.1)
    parts = sum(m[f"{p}_emulated_s_mean"] for p in ("notice_to_exit", "exit_to_vm_running", "vm_running_to_first_step"))
    assert parts == pytest.approx(m["recovery_emulated_s_mean"])
    (real_rec,) = m["recoveries_s"]
    assert real_rec == pytest.approx(truth.recoveries[0], abs=0.1 + 1e-6)


def test_under_the_scaled_clock_the_start_up_is_multiplied_like_the_rest(tmp_path):
    _, m = _labelled(tmp_path, {"time_scale": 60, "guest_time": "scaled"}, preempt_at=(137,), emergency=True,
                     restart_s=2.0, startup_s=4.0)
    assert m["vm_running_to_first_step_emulated_s_mean"] == pytest.approx(4.1 * 60, abs=0.1 * 60)
    assert m["notice_to_exit_emulated_s_mean"] == pytest.approx(0.5 * 60)
    assert m["recovery_emulated_s_mean"] == pytest.approx(m["recovery_s_mean"] * 60)
    assert m["wall_emulated_s"] == pytest.approx(m["wall_s"] * 60)


def test_the_bill_covers_vm_time_only_never_the_repair_gap(tmp_path):
    """billable = each boot's span (the meter's rule, spotshield/billing.py), not wall time: the
    600 s between a preempted VM's exit and its replacement's power-on bill nothing."""
    _, m = _labelled(tmp_path, {"time_scale": 1, "guest_time": "real"}, preempt_at=(137,), emergency=True,
                     restart_s=600.0, startup_s=3.0)
    assert m["wall_s"] - m["billable_s"] == pytest.approx(600.0, abs=1e-6)
    assert m["billable_emulated_s"] == pytest.approx(m["billable_s"])
    assert m["exit_to_vm_running_emulated_s_mean"] == pytest.approx(600.0)
