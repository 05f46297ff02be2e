"""Offline invariants of the Terraform stack: the policy and boot-contract checks over the modules
python-hcl2 reads (hcl.py), with no provider.

`check_stack(repo_root)` returns a list of problems, one line each; empty means all hold. Each
check is a small function in CHECKS so tests can run them one by one against mutated copies.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from spotshield.validate import contract, policy
from spotshield.validate.hcl import Stack, load_stack

CHECKS: list[Callable[[Stack], list[str]]] = [
    policy.check_variables_declared_and_used,
    policy.check_module_calls,
    policy.check_spot_templates,
    contract.check_template_metadata,
    policy.check_no_external_ip,
    policy.check_bucket,
    policy.check_fleet,
    policy.check_least_privilege,
    contract.check_health_port,
    policy.check_network,
    policy.check_tfvars_schema,
    contract.check_boot_scripts,
]


def check_stack(repo: Path) -> list[str]:
    stack = load_stack(Path(repo))
    return [p for check in CHECKS for p in check(stack)]
