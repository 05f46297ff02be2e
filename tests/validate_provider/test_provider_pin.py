"""The pinned cdktn-provider-google (schema) and the hashicorp/google constraint move together."""
from __future__ import annotations

import json
import re

import pytest

from spotshield.validate import terraform_cli
from standin_helpers import FIXTURE, REPO, copy_tree, requires_toolchain, tfschema

NODEPS = REPO / "tools" / "requirements-nodeps.txt"


def pinned_cdktn_version() -> str:
    m = re.search(r"^cdktn-provider-google==([0-9.]+)\s*$", NODEPS.read_text(), re.M)
    assert m, f"{NODEPS} must pin cdktn-provider-google with =="
    return m.group(1)


@requires_toolchain
def test_installed_schema_package_is_the_pinned_one_and_every_versions_tf_allows_its_provider():
    proc = tfschema("version")
    assert proc.returncode == 0, proc.stderr
    installed = json.loads(proc.stdout)
    assert installed["package_version"] == pinned_cdktn_version(), "reinstall .venv-tools (make tools)"
    constraints = terraform_cli.google_constraints(REPO / "terraform")
    assert "versions.tf" in constraints, "terraform/versions.tf must pin hashicorp/google"
    assert terraform_cli.disagreeing_constraints(REPO / "terraform", installed["provider_version"]) == []
    majors = {re.search(r"\d+", c).group() for c in constraints.values()}
    assert majors == {installed["provider_version"].split(".")[0]}, "pin the provider to the schema's major"


@requires_toolchain
def test_a_constraint_that_excludes_the_schema_fails_the_provider_step(tmp_path):
    stack = copy_tree(FIXTURE, tmp_path / "stack")
    text = (stack / "versions.tf").read_text()
    (stack / "versions.tf").write_text(text.replace('version = "~> 8.0"', 'version = "~> 7.0"'))
    provider_step = terraform_cli.steps(REPO, tf_dir=stack)[0]
    result = provider_step()
    assert result.ok is False
    assert "versions.tf (~> 7.0) excludes it" in result.detail


@pytest.mark.parametrize("constraint,version,expected", [
    ("~> 8.0", "8.7.0", True), ("~> 8.0", "9.0.0", False), ("~> 8.7.0", "8.7.3", True),
    ("~> 8.7.0", "8.8.0", False), (">= 7.0, < 9.0", "8.7.0", True), (">= 7.0, < 8.0", "8.7.0", False),
    ("8.7.0", "8.7.0", True), ("= 8.6.0", "8.7.0", False), ("!= 8.7.0", "8.7.0", False),
])
def test_constraint_semantics_follow_terraform(constraint, version, expected):
    assert terraform_cli.allows(constraint, version) is expected


def test_an_unsupported_constraint_is_a_clear_error():
    with pytest.raises(ValueError, match="unsupported version constraint"):
        terraform_cli.allows("^8", "8.7.0")
