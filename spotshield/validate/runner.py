"""`spotshield validate` (make validate): the CI plan validation, one line per step.

Steps (spotshield/validate/steps.py) run in order and all of them run; the command fails if any failed.
  1. terraform fmt -check -recursive         (skipped when terraform is not on PATH)
  2. terraform init + validate, root and examples/*  } from spotshield.validate.terraform_cli
  3. terraform test (mock_provider plan tests)       } .steps(repo_root)
  4. python-hcl2 invariants                   (spotshield.validate.invariants: policy + boot contract)
  5. checkov -d terraform --framework terraform --skip-download   (from .venv-tools)
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Callable, Iterable

from spotshield.validate import terraform_cli
from spotshield.validate.steps import Step, StepResult, one_line, skipped, timed

FMT_TIMEOUT_S = 120
CHECKOV_TIMEOUT_S = 600


def terraform_fmt_step(repo: Path, terraform: str | None = None) -> Step:
    name = "terraform fmt"
    terraform = terraform or shutil.which("terraform")
    if not terraform:
        return skipped(name, "no terraform binary on PATH; fmt check skipped")

    def run() -> tuple[bool, str]:
        proc = subprocess.run([terraform, "fmt", "-check", "-recursive", "-list=true"], cwd=repo / "terraform",
                              capture_output=True, text=True, timeout=FMT_TIMEOUT_S)
        files = [f for f in proc.stdout.split() if f]
        if proc.returncode == 0:
            return True, "all files formatted"
        if files:
            return False, f"not formatted (run terraform fmt -recursive terraform): {', '.join(files)}"
        return False, one_line(proc.stderr or f"exit code {proc.returncode}")

    return timed(name, run)


def provider_steps(repo: Path) -> list[Step]:
    """Steps 2-3: the provider, init + validate per root, terraform test."""
    return list(terraform_cli.steps(repo))


def invariants_step(repo: Path) -> Step:
    def run() -> tuple[bool, str]:
        from spotshield.validate.invariants import CHECKS, check_stack

        problems = check_stack(repo)
        if problems:
            more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
            return False, problems[0] + more
        return True, f"{len(CHECKS)} invariant groups hold"

    return timed("hcl2 invariants", run)


def checkov_bin(repo: Path) -> str | None:
    local = repo / ".venv-tools" / "bin" / "checkov"
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    return shutil.which("checkov")


def checkov_step(repo: Path, checkov: str | None = None, target: str = "terraform") -> Step:
    name = "checkov"
    checkov = checkov or checkov_bin(repo)
    if not checkov:
        return lambda: StepResult(name, False, 0.0, "checkov not found: run make tools (creates .venv-tools)")

    def run() -> tuple[bool, str]:
        proc = subprocess.run(
            [checkov, "-d", target, "--framework", "terraform", "--skip-download", "--output", "json",
             "--quiet", "--compact"],
            cwd=repo, capture_output=True, text=True, timeout=CHECKOV_TIMEOUT_S)
        try:
            report = json.loads(proc.stdout or "null")
        except json.JSONDecodeError:
            return False, one_line(f"checkov gave no JSON (exit {proc.returncode}): {proc.stderr[-300:]}")
        reports = report if isinstance(report, list) else [report] if report else []
        failed, passed, skipped_n = [], 0, 0
        for r in reports:
            summary = r.get("summary", {})
            passed += summary.get("passed", 0)
            skipped_n += summary.get("skipped", 0)
            for check in r.get("results", {}).get("failed_checks", []):
                failed.append(f"{check.get('check_id')} {check.get('resource')} ({check.get('file_path')})")
        if not reports and proc.returncode != 0:
            return False, one_line(f"checkov exit {proc.returncode}: {proc.stderr[-300:]}")
        if failed:
            return False, f"{len(failed)} failed: " + "; ".join(failed[:5])
        if passed == 0:
            return False, f"checkov ran no checks on {target}/"
        return True, f"{passed} passed, 0 failed, {skipped_n} skipped inline with a reason"

    return timed(name, run)


def default_steps(repo: Path) -> list[Step]:
    repo = Path(repo)
    return [terraform_fmt_step(repo), *provider_steps(repo), invariants_step(repo), checkov_step(repo)]


def run_steps(steps: Iterable[Step], emit: Callable[[StepResult], None] | None = None) -> list[StepResult]:
    results = []
    for step in steps:
        result = step()
        results.append(result)
        if emit:
            emit(result)
    return results


# Wide enough for "terraform validate examples/<name>" with an example name of 20 characters;
# lines print as steps finish, so the width cannot wait for the longest name.
_NAME_WIDTH = 46


def format_result(r: StepResult) -> str:
    status = "SKIP" if r.was_skipped else ("ok" if r.ok else "FAIL")
    return f"{status:<4} {r.name:<{_NAME_WIDTH}} {r.seconds:6.1f}s  {one_line(r.detail)}"
