"""The terraform runner: python-terraform builds the command, output streams, errors keep Terraform's text."""
from __future__ import annotations

import pytest

from spotshield.cloud.terraform import TerraformRunner, error_text
from spotshield.errors import SpotShieldError


def test_streams_output_and_records_flags(fake_terraform, root):
    seen: list[str] = []
    tf = TerraformRunner(root / "terraform", echo=seen.append)
    tf.init()
    (root / "terraform" / "spotshield.auto.tfvars.json").write_text("{}")
    tf.plan()
    assert "Terraform has been successfully initialized!" in seen
    assert "Plan: 4 to add, 0 to change, 0 to destroy." in seen
    assert fake_terraform.argvs() == [["init", "-no-color", "-input=false"], ["plan", "-no-color", "-input=false"]]
    assert {c["cwd"] for c in fake_terraform.calls()} == {str(root / "terraform")}


def test_failure_carries_terraforms_own_error(fake_terraform, root, monkeypatch):
    monkeypatch.setenv("FAKE_TF_FAIL", "apply")
    seen: list[str] = []
    tf = TerraformRunner(root / "terraform", echo=seen.append)
    with pytest.raises(SpotShieldError) as e:
        tf.apply()
    msg = str(e.value)
    assert msg.startswith("terraform apply failed: Error: Error creating InstanceGroupManager")
    assert "Quota 'GPUS_ALL_REGIONS' exceeded" in msg and "\n" not in msg
    assert any("GPUS_ALL_REGIONS" in line for line in seen)  # the full text was streamed too
    assert fake_terraform.argvs() == [["apply", "-auto-approve", "-no-color", "-input=false"]]


def test_missing_terraform_says_how_to_install(root, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(SpotShieldError, match="terraform not found on PATH; install Terraform"):
        TerraformRunner(root / "terraform")


def test_missing_folder(fake_terraform, tmp_path):
    with pytest.raises(SpotShieldError, match="Terraform folder .* not found"):
        TerraformRunner(tmp_path / "nope")


def test_error_text_without_error_prefix_uses_last_line():
    assert error_text("something\nfatal: bad thing\n") == "fatal: bad thing"
    assert error_text("") == "no error output"
