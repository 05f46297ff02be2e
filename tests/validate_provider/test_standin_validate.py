"""terraform validate / test against the stand-in, on the fixture stack (all the stack's google types)."""
from __future__ import annotations

import re

import pytest

from spotshield.validate import terraform_cli
from standin_helpers import (BLOCK_AS_ATTRIBUTE, FIXTURE, MISSING_REQUIRED_SUMMARY, MISSPELLED, WRONG_TYPE,
                             copy_tree, init_ok, inject, requires_toolchain, validate_errors)

pytestmark = requires_toolchain


@pytest.fixture
def stack(tmp_path):
    return copy_tree(FIXTURE, tmp_path / "stack")


def test_the_valid_fixture_passes_validate(fixture_standin, stack):
    tfe, _ = fixture_standin
    assert validate_errors(tfe, stack) == []


@pytest.mark.parametrize("old,new,summary,detail", [MISSPELLED, WRONG_TYPE, BLOCK_AS_ATTRIBUTE],
                         ids=["misspelled-attribute", "wrong-type", "block-as-attribute"])
def test_a_break_fails_validate_with_terraforms_diagnostic(fixture_standin, stack, old, new, summary, detail):
    tfe, _ = fixture_standin
    if old == "provisioning_model ":
        old, new = "provisioning_model          =", "provisioning_modle          ="
    inject(stack / "main.tf", old, new)
    errors = validate_errors(tfe, stack)
    assert [(e.summary, e.filename) for e in errors] == [(summary, "main.tf")]
    assert detail in errors[0].detail


def test_a_missing_required_argument_fails_validate(fixture_standin, stack):
    tfe, _ = fixture_standin
    inject(stack / "main.tf", '  machine_type = "g2-standard-4"\n', "")
    errors = validate_errors(tfe, stack)
    assert [e.summary for e in errors] == [MISSING_REQUIRED_SUMMARY[0]]
    assert MISSING_REQUIRED_SUMMARY[1] in errors[0].detail


def test_an_unknown_resource_type_is_refused(fixture_standin, stack):
    tfe, _ = fixture_standin
    inject(stack / "main.tf", 'resource "google_compute_health_check"', 'resource "google_compute_health_chek"')
    invalid = [e for e in validate_errors(tfe, stack) if e.summary == "Invalid resource type"]
    assert len(invalid) == 1  # (references to the renamed resource fail too, as they should)
    assert 'does not support resource type "google_compute_health_chek"' in invalid[0].detail


def test_terraform_test_runs_mocked_and_standin_plans_and_applies(fixture_standin, stack):
    tfe, _ = fixture_standin
    init_ok(tfe, stack)
    proc = terraform_cli.run_terraform(tfe, stack, "test", "-no-color")
    assert proc.returncode == 0, terraform_cli.text_errors(proc.stdout + proc.stderr)
    assert re.search(r"\b3 passed, 0 failed", proc.stdout)


def test_terraform_test_fails_when_an_assertion_does_not_hold(fixture_standin, stack):
    tfe, _ = fixture_standin
    inject(stack / "main.tf", 'provisioning_model          = "SPOT"', 'provisioning_model          = "STANDARD"')
    init_ok(tfe, stack)
    proc = terraform_cli.run_terraform(tfe, stack, "test", "-no-color", "-filter=tests/spot.tftest.hcl")
    assert proc.returncode == 1
    assert "the template must request Spot capacity" in proc.stdout + proc.stderr
