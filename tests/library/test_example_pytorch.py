"""examples/pytorch/train.py through the library: SIGTERM'd and kill -9'd at random moments and
restarted, it ends with final/model.pt bit-identical to the same script run uninterrupted."""
import random
import signal

import pytest

from spotshield.events import EXIT_PREEMPTED, validate_event

from script_helpers import EXAMPLES, PY, assert_same_weights, events, interrupt, load_weights, run_to_end, script_env

SCRIPT = str(EXAMPLES / "pytorch" / "train.py")
# long enough (1800 steps) that each boot can be interrupted mid-run; naive saves every 37 steps,
# so a kill -9 loses work that the next boot redoes
ARGS = ["--epochs", "40", "--strategy", "naive", "--save-every", "37"]


@pytest.mark.slow
def test_interrupted_example_ends_bit_identical_to_an_uninterrupted_run(tmp_path):
    # the uninterrupted run, as a user starts it: `python train.py`, default store ./spotshield-run
    base = tmp_path / "base"
    base.mkdir()
    done = run_to_end([PY, SCRIPT, *ARGS], cwd=base, env=script_env())
    assert done.returncode == 0, done.stderr[-3000:]
    baseline = load_weights(base / "spotshield-run" / "final" / "model.pt")

    # the same script on "the fleet": the store comes from SPOTSHIELD_STORE, as the boot script sets it
    store = tmp_path / "fleet-store"
    env = script_env(SPOTSHIELD_STORE=f"file://{store}", SPOTSHIELD_RUN_ID="ex1")
    work = tmp_path / "work"
    work.mkdir()
    rng = random.Random(20261202)
    plan = [("term", rng.uniform(0.05, 0.8)), ("kill", rng.uniform(0.05, 0.8)),
            ("term", rng.uniform(0.05, 0.8)), ("kill", rng.uniform(0.05, 0.8))]
    for how, after in plan:
        code, err = interrupt([PY, SCRIPT, *ARGS], store, how, after, cwd=work, env=env)
        assert code == (EXIT_PREEMPTED if how == "term" else -signal.SIGKILL), err[-3000:]
    final = run_to_end([PY, SCRIPT, *ARGS], cwd=work, env=env)
    assert final.returncode == 0, final.stderr[-3000:]
    assert not (work / "spotshield-run").exists()  # SPOTSHIELD_STORE won over the default

    assert_same_weights(baseline, load_weights(store / "final" / "model.pt"))
    evs = events(store)
    assert all(validate_event(e) == [] for e in evs)
    resumes = [e for e in evs if e["event"] == "resume"]
    assert len(resumes) == len(plan) and all(e["from_step"] > 0 for e in resumes[1:])
    emergencies = [e for e in evs if e["event"] == "emergency_checkpoint"]
    assert len(emergencies) == 2 and all(e["ok"] for e in emergencies)
    # a resume after a TERM loses no step: it starts from the emergency checkpoint
    notices = [e for e in evs if e["event"] == "preempt_notice"]
    after_term = [r for r in resumes if any(n["t"] < r["t"] and n["boot"] != r["boot"] for n in notices)]
    assert any(r["steps_lost"] == 0 and r["checkpoint_reason"] == "emergency" for r in after_term)
    assert [e["code"] for e in evs if e["event"] == "exit"] == [EXIT_PREEMPTED, EXIT_PREEMPTED, 0]
    assert next(e for e in evs if e["event"] == "done")["step"] == 40 * 45
    # a further start finds DONE and does nothing
    again = run_to_end([PY, SCRIPT, *ARGS], cwd=work, env=env)
    assert again.returncode == 0 and "holds DONE" in again.stderr
