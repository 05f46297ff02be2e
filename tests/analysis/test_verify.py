import json

from spotshield.analysis.runs import load_runs
from spotshield.analysis.verify import verify_run

from .eventgen import gen_run


def _rewrite(tmp_path, run_id, fn):
    for f in (tmp_path / "events" / run_id).glob("*.jsonl"):
        recs = [json.loads(x) for x in f.read_text().splitlines()]
        f.write_text("\n".join(json.dumps(r) for r in fn(recs)) + "\n")


def test_complete_run_with_preemptions_passes(tmp_path):
    gen_run(tmp_path, "adaptive-bursty-s1", preempt_at=(75, 333))
    (run,) = load_runs(tmp_path)
    assert verify_run(run) == []


def test_missing_done_is_incomplete(tmp_path):
    gen_run(tmp_path, "naive-regular-s0")
    _rewrite(tmp_path, "naive-regular-s0", lambda rs: [r for r in rs if r["event"] != "done"])
    (run,) = load_runs(tmp_path)
    assert any("incomplete" in p for p in verify_run(run))


def test_malformed_record_is_reported(tmp_path):
    gen_run(tmp_path, "naive-regular-s0")
    _rewrite(tmp_path, "naive-regular-s0", lambda rs: [{k: v for k, v in r.items() if k != "loss"} for r in rs])
    (run,) = load_runs(tmp_path)
    assert any("missing loss" in p for p in verify_run(run))


def test_resume_past_the_last_step_is_a_gap(tmp_path):
    gen_run(tmp_path, "naive-poisson-s0", preempt_at=(137,))

    def skip(rs):
        for r in rs:
            if r["event"] == "resume":
                r["from_step"] = 150  # no checkpoint at 150, and beyond step 137 where boot 0 stopped
        return rs

    _rewrite(tmp_path, "naive-poisson-s0", skip)
    (run,) = load_runs(tmp_path)
    problems = verify_run(run)
    assert any("no committed checkpoint" in p for p in problems)
    assert any("gap in steps" in p for p in problems)


def test_missing_epoch_validation_is_reported(tmp_path):
    gen_run(tmp_path, "naive-regular-s0")
    _rewrite(tmp_path, "naive-regular-s0", lambda rs: [r for r in rs if not (r["event"] == "epoch_end" and r["epoch"] == 2)])
    (run,) = load_runs(tmp_path)
    assert any("never validated" in p for p in verify_run(run))
