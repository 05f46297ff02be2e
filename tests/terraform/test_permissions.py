"""The permissions manifest (spotshield/cloud/permissions.py) against the spot-fleet module's IAM.

Every call the VM side makes needs its permission granted, at the right scope, by a role of the
module; and every grant of the module is needed by some call. fake-gcs-server and the emulator
enforce no IAM, so this check (plus tests/gcs_iam.py for the calls themselves) is what catches a
missing grant before a real VM crash-loops on 403.
"""
from __future__ import annotations

import pytest

from spotshield.cloud.permissions import CUSTOM_ROLE, ROLE_FACTS, SCOPES, VM_CALLS
from spotshield.validate.invariants import load_stack

FLEET = "terraform/modules/spot-fleet/main.tf"


def grants(repo) -> tuple[dict[str, set[str]], set[str]]:
    """({scope: roles granted to the trainer account there}, the custom role's permissions)."""
    fleet = load_stack(repo).module_dir("modules/spot-fleet")
    at: dict[str, set[str]] = {scope: set() for scope in SCOPES}
    for rtype in set(SCOPES.values()):
        for _, b in fleet.resources_of(rtype):
            if "google_service_account.trainer." not in str(b.get("member")):
                continue
            role = str(b.get("role"))
            if f"google_project_iam_custom_role.{CUSTOM_ROLE}." in role:
                role = f"custom:{CUSTOM_ROLE}"
            cond = (b.get("condition") or [{}])[0].get("expression", "") if isinstance(b.get("condition"), list) else ""
            if rtype == SCOPES["bucket"]:
                at["bucket"].add(role)
            elif "resource.name" in str(cond):
                at["mig"].add(role)
            else:
                at["project"].add(role)
    custom = fleet.resources.get(("google_project_iam_custom_role", CUSTOM_ROLE), {})
    return at, set(custom.get("permissions") or [])


def problems(repo) -> list[str]:
    at, custom = grants(repo)
    out = []
    for call in VM_CALLS:
        if call.role not in at[call.scope]:
            out.append(f"{call.caller}: {call.api} needs {call.permission}: the module grants no {call.role} "
                       f"at {call.scope} scope")
            continue
        held = custom if call.role.startswith("custom:") else ROLE_FACTS[call.role].permissions
        if call.permission not in held:
            out.append(f"{call.caller}: {call.api} needs {call.permission}, which {call.role} does not hold")
    used_roles = {(c.scope, c.role) for c in VM_CALLS}
    for scope, roles in at.items():
        out += [f"the module grants {r} at {scope} scope, which no VM call needs" for r in sorted(roles)
                if (scope, r) not in used_roles]
    needed_custom = {c.permission for c in VM_CALLS if c.role == f"custom:{CUSTOM_ROLE}"}
    out += [f"custom role {CUSTOM_ROLE} grants {p}, which no VM call needs" for p in sorted(custom - needed_custom)]
    return out


def test_the_module_grants_every_vm_call_and_nothing_else(repo):
    assert problems(repo) == []


def test_the_manifest_knows_the_role_of_every_call():
    for call in VM_CALLS:
        assert call.scope in SCOPES
        assert call.role.startswith("custom:") or call.role in ROLE_FACTS, call
        assert call.role.startswith("custom:") or ROLE_FACTS[call.role].source.startswith("https://cloud.google.com/")
    # the defect of issue 12: no object role holds bucket metadata, so the VMs must never need it
    assert not any(c.permission == "storage.buckets.get" for c in VM_CALLS)
    assert "storage.buckets.get" not in ROLE_FACTS["roles/storage.objectAdmin"].permissions


# (old text, new text, words of the expected problem)
MUTATIONS = {
    "resize permission removed": ('permissions = ["compute.instanceGroupManagers.update"]',
                                  'permissions = ["compute.instanceGroupManagers.get"]',
                                  "needs compute.instanceGroupManagers.update, which custom:fleet_stop does not hold"),
    "read-only bucket role": ('role   = "roles/storage.objectUser"', 'role   = "roles/storage.objectViewer"',
                              "needs storage.objects.create: the module grants no roles/storage.objectUser"),
    "log writer dropped": ('role    = "roles/logging.logWriter"', 'role    = "roles/monitoring.metricWriter"',
                           "needs logging.logEntries.create"),
    "unconditional resize": ('expression  = "resource.name == ', 'description = "resource.nam == ',
                             "at mig scope"),
    "broader bucket role": ('role   = "roles/storage.objectUser"', 'role   = "roles/storage.objectAdmin"',
                            "grants roles/storage.objectAdmin at bucket scope, which no VM call needs"),
}


@pytest.mark.parametrize("case", sorted(MUTATIONS))
def test_a_changed_grant_is_caught(stack_copy, case):
    old, new, expect = MUTATIONS[case]
    stack_copy.edit(FLEET, old, new)
    found = problems(stack_copy.root)
    assert any(expect in p for p in found), found
