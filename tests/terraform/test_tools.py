"""The real tools on the real stack: terraform fmt, terraform's templatefile(), checkov."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from spotshield.validate.runner import checkov_bin, checkov_step, terraform_fmt_step

TERRAFORM = shutil.which("terraform")
needs_terraform = pytest.mark.skipif(not TERRAFORM, reason="terraform is not on PATH")


@needs_terraform
def test_fmt_passes_on_the_stack_and_fails_on_a_misformatted_copy(repo, stack_copy):
    assert terraform_fmt_step(repo)().ok is True
    stack_copy.edit("terraform/modules/network/main.tf", "  auto_create_subnetworks = false",
                    "  auto_create_subnetworks =    false")
    result = terraform_fmt_step(stack_copy.root)()
    assert result.ok is False and "modules/network/main.tf" in result.detail


def test_fmt_without_terraform_is_one_skipped_line(repo, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    result = terraform_fmt_step(repo)()
    assert result.was_skipped and not result.failed and result.detail == "no terraform binary on PATH; fmt check skipped"


@needs_terraform
@pytest.mark.parametrize("script", ["startup.sh", "shutdown.sh"])
def test_templatefile_renders_the_boot_scripts_unchanged(repo, tmp_path, script):
    path = repo / "startup-scripts" / script
    expr = f'templatefile("{path}", {{}}) == file("{path}")\n'
    proc = subprocess.run([TERRAFORM, "console"], input=expr, cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "TF_CLI_CONFIG_FILE": "/dev/null"})
    assert proc.stdout.strip() == "true", proc.stderr


needs_checkov = pytest.mark.skipif(not checkov_bin(__import__("pathlib").Path(__file__).resolve().parents[2]),
                                   reason="checkov not installed: run make tools")


@needs_checkov
def test_checkov_has_no_failed_checks_on_the_stack(repo):
    result = checkov_step(repo)()
    assert result.ok is True, result.detail
    assert "0 failed" in result.detail


@needs_checkov
def test_checkov_fails_when_project_ssh_keys_are_allowed(repo, stack_copy):
    stack_copy.edit("terraform/modules/spot-fleet/main.tf", '"block-project-ssh-keys" = true',
                    '"block-project-ssh-keys" = false')
    result = checkov_step(stack_copy.root, checkov=checkov_bin(repo), target="terraform/modules/spot-fleet")()
    assert result.ok is False and "CKV_GCP_32" in result.detail
