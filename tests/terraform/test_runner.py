"""The validate runner: order, one line per step, exit code, and the real CLI on a broken stack."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from spotshield.validate import runner
from spotshield.validate.runner import format_result, run_steps
from spotshield.validate.steps import Skip, StepResult, timed


def test_steps_run_in_order_all_of_them_and_are_timed():
    seen = []

    def slow():
        time.sleep(0.05)
        seen.append("slow")
        return False, "broken"

    def fine():
        seen.append("fine")
        return True, "good"

    def boom():
        seen.append("boom")
        raise RuntimeError("tool crashed\nwith a second line")

    results = run_steps([timed("slow", slow), timed("fine", fine), timed("boom", boom)])
    assert seen == ["slow", "fine", "boom"]
    assert [(r.name, r.ok) for r in results] == [("slow", False), ("fine", True), ("boom", False)]
    assert results[0].seconds >= 0.05
    assert results[2].detail == "RuntimeError: tool crashed with a second line"


def test_result_lines():
    assert format_result(StepResult("checkov", True, 1.25, "44 passed")).split() == ["ok", "checkov", "1.2s", "44", "passed"]
    assert format_result(StepResult("x", False, 0, "bad")).startswith("FAIL x")
    assert format_result(StepResult("y", None, 0, "no tool")).startswith("SKIP y")
    assert format_result(StepResult("z", True, 0, "no tool", skipped=True)).startswith("SKIP z")


def test_one_timer_for_every_step_kind():
    def missing():
        raise Skip("no tool here")

    def hangs():
        raise subprocess.TimeoutExpired("terraform", 300)

    skip, hang, later = run_steps([timed("skip", missing), timed("hang", hangs), timed("none", lambda: (None, "n/a"))])
    assert (skip.skipped, skip.failed, skip.detail) == (True, False, "no tool here")
    assert (hang.failed, hang.detail) == (True, "timed out after 300 s")
    assert later.was_skipped and not later.failed


def test_default_steps_order(repo):
    names = [s().name for s in runner.default_steps(repo)
             if getattr(s, "__name__", "") in ("terraform fmt", "hcl2 invariants")]
    assert names == ["terraform fmt", "hcl2 invariants"]


def test_cli_fails_with_one_line_per_step_on_a_broken_stack(stack_copy, repo):
    stack_copy.edit("terraform/modules/spot-fleet/main.tf", 'provisioning_model          = var.provisioning_model',
                    'provisioning_model          = "STANDARD"')
    # No terraform on PATH: fmt and the provider-backed steps report themselves skipped.
    env = {**os.environ, "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin"}
    if Path("/usr/bin/terraform").exists():
        env["PATH"] = str(Path(sys.executable).parent)
    proc = subprocess.run([sys.executable, "-m", "spotshield.cli.main", "validate", "--repo", str(stack_copy.root)],
                          capture_output=True, text=True, env=env, timeout=300, cwd=repo)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("SKIP terraform fmt") and "no terraform binary on PATH" in lines[0]
    fail = [line for line in lines if line.startswith("FAIL hcl2 invariants")]
    assert len(fail) == 1 and "provisioning_model must be 'SPOT'" in fail[0]
    assert lines[-1].startswith("validate: ") and "failed" in lines[-1]
    assert "Traceback" not in proc.stdout + proc.stderr


def test_cli_outside_a_repo_is_one_red_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "spotshield.cli.main", "validate", "--repo", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0 and "no SpotShield repo" in proc.stderr
