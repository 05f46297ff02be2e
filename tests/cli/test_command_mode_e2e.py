"""`spotshield up --command "python train.py ..." --workdir examples/pytorch` end to end on the local
emulator: the real startup.sh ships the workdir and runs the user's script, three preemptions are
injected, each at a known point (once the boot has committed a checkpoint at or past a chosen step),
and the run ends DONE with final/model.pt bit-identical to `python train.py` run uninterrupted on
a laptop (a file:// store)."""
from __future__ import annotations

import subprocess
import time

import pytest

from script_helpers import EXAMPLES, PY, assert_same_weights, load_weights, script_env
from tests.cli.test_local_lifecycle import alive, emulator_pids

pytestmark = pytest.mark.slow

WORKDIR = EXAMPLES / "pytorch"
# 40 epochs x 45 steps = 1800 steps; naive saves every 37 steps. Training alone takes ~7 real s
# here (after ~5 s of imports), so each boot is preempted well before it could finish.
ARGS = ["--epochs", "40", "--strategy", "naive", "--save-every", "37"]
TOTAL_STEPS = 40 * 45
# A preemption is injected once the boot has committed a checkpoint at or past each of these steps
# (later ones in later boots): known points of the run, not wall-clock delays. Each boot costs
# ~20-30 real s on two busy cores (mostly the script's imports): three (the issue asks for at least
# three) keep the test near 2 min.
PREEMPT_AFTER_STEPS = (400, 900, 1400)
RUN_TIMEOUT_S = 420  # real s: ~80-120 s at a load average of 3, ~250 s at 9


def test_command_mode_survives_preemptions_bit_identical(cli, root, tmp_path):
    pytest.importorskip("torch")
    # the uninterrupted reference, as a laptop user runs it (./spotshield-run), beside the fleet run
    base = tmp_path / "base"
    base.mkdir()
    ref = subprocess.Popen([PY, str(WORKDIR / "train.py"), *ARGS], cwd=base, env=script_env(),
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        r = cli("up", "--command", f"python train.py {' '.join(ARGS)}", "--workdir", str(WORKDIR),
                "--pattern", "none", "--run-id", "cmd-e2e", "--detach")
        assert r.exit_code == 0, r.output
        seen: list[int] = []
        try:
            evs, status, final = fleet_run(cli, seen)
        finally:  # whatever failed, leave nothing running: what this test started, stopped by PID
            from spotshield.backends.record import record_path
            from spotshield.local.procs import stop_pid

            if record_path().exists():
                cli("down")
            for pid in seen:
                if alive(pid):
                    stop_pid(pid)
        _, err = ref.communicate(timeout=RUN_TIMEOUT_S)
        assert ref.returncode == 0, err[-3000:]
    finally:
        if ref.poll() is None:
            ref.kill()
            ref.wait()

    assert_same_weights(load_weights(base / "spotshield-run" / "final" / "model.pt"), final)
    check_events(evs)
    assert status["progress"]["state"] == "DONE" and status["progress"]["step"] == TOTAL_STEPS
    assert status["progress"]["final_accuracy"] >= 0.9
    assert not status.get("stopped"), status["stopped"]  # finished with DONE: no STOPPED
    p = status["preemptions"]
    assert (p["count"], p["resumes"], p["emergency_ok"], p["emergency_missed"], p["steps_lost"]) == \
        (len(PREEMPT_AFTER_STEPS), len(PREEMPT_AFTER_STEPS), len(PREEMPT_AFTER_STEPS), 0, 0), p
    assert p["boots"] == len(PREEMPT_AFTER_STEPS) + 1


def fleet_run(cli, seen: list[int]) -> tuple[list[dict], dict, dict]:
    """Inject the preemptions, wait for DONE and the group at 0; (events, status --json, final weights)."""
    import io
    import json

    import torch

    from spotshield.backends.record import load_record
    from spotshield.events import read_events
    from spotshield.layout import FINAL_KEY, newest_committed
    from spotshield.local import daemon
    from spotshield.status.collect import stack_env
    from spotshield.storage import open_store

    rec = load_record()
    state = {"compute": rec.endpoints["compute"]}
    deadline = time.monotonic() + RUN_TIMEOUT_S

    def poll(what: str, predicate):
        while time.monotonic() < deadline:
            seen[:] = sorted(set(seen) | set(emulator_pids(rec)))
            if (value := predicate()):
                return value
            time.sleep(0.1)
        pytest.fail(f"timed out after {RUN_TIMEOUT_S} real s waiting for {what}")

    with stack_env(rec) as src:
        store = open_store(src.store)
        for after in PREEMPT_AFTER_STEPS:
            poll(f"a checkpoint at step >= {after}", lambda: (n := newest_committed(store)) and n[0] >= after)
            out = daemon.request({"endpoints": state}, "POST", "/spotshield/v1/preempt", {})
            assert out["outcome"] == "preempted", out
        poll("DONE", lambda: store.exists("DONE"))
        status = poll("the group at 0 and DONE in status", lambda: (
            (d := json.loads(cli("status", "--json").stdout))["progress"]["state"] == "DONE"
            and not d["instances"] and d))
        evs = read_events(store, rec.run_id)
        final = torch.load(io.BytesIO(store.read(FINAL_KEY)), weights_only=True)
    return evs, status, final


def check_events(evs: list[dict]) -> None:
    """Every boot after the first resumes from the emergency checkpoint its predecessor's notice
    took, losing no step; each preempted boot's command exits 75; one done, at the last step."""
    from spotshield.events import EXIT_PREEMPTED, validate_event

    assert all(validate_event(e) == [] for e in evs)
    by_boot: dict[str, list[dict]] = {}
    for e in evs:
        by_boot.setdefault(e["boot"], []).append(e)
    boots = sorted(by_boot.values(), key=lambda b: b[0]["t"])
    names = [[e["event"] for e in b] for b in boots]
    assert len(boots) == len(PREEMPT_AFTER_STEPS) + 1, names
    for i, b in enumerate(boots):
        kinds = [e["event"] for e in b]
        # the boot script's own lifecycle events, for the user's command
        assert kinds[0] == "vm_boot" and "command_start" in kinds, kinds
        assert next(e for e in b if e["event"] == "command_start")["command"].startswith("python train.py ")
        code = [e["code"] for e in b if e["event"] == "command_exit"]
        if i < len(PREEMPT_AFTER_STEPS):
            notice = next(e for e in b if e["event"] == "preempt_notice")
            assert notice["step"] >= PREEMPT_AFTER_STEPS[i], (i, notice)
            em = next(e for e in b if e["event"] == "emergency_checkpoint")
            assert em["ok"] and em["step"] == notice["step"], em
            assert [e["code"] for e in b if e["event"] == "exit"] == [EXIT_PREEMPTED]
            # the boot script's own record of it races the power-off that follows the shutdown script;
            # 143: the interpreter was still finalizing (seconds on a loaded box) after its exit event
            # when the notice window ended, and the ACPI stop's SIGTERM ended it
            assert code in ([], [EXIT_PREEMPTED], [128 + 15]), code
            resume = next(e for e in boots[i + 1] if e["event"] == "resume")
            assert (resume["from_step"], resume["steps_lost"], resume["checkpoint_reason"]) == \
                (notice["step"], 0, "emergency"), resume
        else:
            assert code == [0] and [e["event"] for e in b if e["event"] == "done"] == ["done"]
    done = [e for e in evs if e["event"] == "done"]
    assert len(done) == 1 and done[0]["step"] == TOTAL_STEPS, done
