"""The four breaks of the issue, injected into the real terraform/ modules (in a copy), fail validate.

This is what `make validate` guards: a misspelled attribute, a wrong type, a block
written as an attribute or a missing required argument in any module surfaces here,
not on a user's `make up BACKEND=gcp`.
"""
from __future__ import annotations

import pytest

from spotshield.validate import terraform_cli
from standin_helpers import (BLOCK_AS_ATTRIBUTE, MISSING_REQUIRED_SUMMARY, MISSPELLED, REPO, TOOLS_VENV, WRONG_TYPE,
                             copy_tree, inject, requires_toolchain, validate_errors)

pytestmark = requires_toolchain
STACK = REPO / "terraform"
FLEET = "modules/spot-fleet/main.tf"
BUCKET = "modules/checkpoint-bucket/main.tf"
BREAKS = {
    # the scheduling block's argument (the module also reads var.provisioning_model elsewhere)
    "misspelled-attribute": (FLEET, "    provisioning_model          =", "    provisioning_modle          =",
                             *MISSPELLED[2:]),
    "wrong-type": (BUCKET, *WRONG_TYPE),
    "block-as-attribute": (BUCKET, *BLOCK_AS_ATTRIBUTE),
    "missing-required": (FLEET, "  machine_type = var.machine_type\n", "", *MISSING_REQUIRED_SUMMARY),
}
READ_BY_THE_STACK = ["startup-scripts"]  # file("${path.module}/../../../startup-scripts/...")


def copy_stack(tmp_path):
    """terraform/ plus the repo files it reads by relative path (the boot scripts)."""
    for sibling in READ_BY_THE_STACK:
        if (REPO / sibling).is_dir():
            copy_tree(REPO / sibling, tmp_path / sibling)
    return copy_tree(STACK, tmp_path / "terraform")


@pytest.fixture(scope="module")
def stack_standin():
    if not (STACK / "main.tf").exists():
        pytest.skip("terraform/ has no root module yet")
    tfe, _ = terraform_cli.prepare(STACK, REPO, TOOLS_VENV)
    return tfe


@pytest.mark.parametrize("break_id", list(BREAKS))
def test_break_in_a_real_module_fails_root_validate_with_the_right_diagnostic(stack_standin, tmp_path, break_id):
    module_file, old, new, summary, detail = BREAKS[break_id]
    stack = copy_stack(tmp_path)
    inject(stack / module_file, old, new)
    errors = validate_errors(stack_standin, stack)
    assert [(e.summary, e.filename) for e in errors] == [(summary, module_file)]
    assert detail in errors[0].detail


@pytest.mark.slow
def test_all_terraform_steps_pass_on_the_real_stack_and_a_break_fails_only_its_step(tmp_path):
    if not (STACK / "main.tf").exists():
        pytest.skip("terraform/ has no root module yet")
    stack = copy_stack(tmp_path)
    results = [step() for step in terraform_cli.steps(REPO, tf_dir=stack, tools_venv=TOOLS_VENV)]
    names = [r.name for r in results]
    assert names[:3] == ["terraform provider", "terraform init", "terraform validate"]
    assert names[-1] == "terraform test"
    assert [(r.name, r.detail) for r in results if not r.ok or r.skipped] == []

    inject(stack / FLEET, *BREAKS["misspelled-attribute"][1:3])
    provider_init_validate = terraform_cli.steps(REPO, tf_dir=stack, tools_venv=TOOLS_VENV)[:3]
    by_name = {r.name: r for r in (step() for step in provider_init_validate)}
    assert by_name["terraform validate"].ok is False
    assert f"{FLEET}:" in by_name["terraform validate"].detail
    assert "Unsupported argument" in by_name["terraform validate"].detail
