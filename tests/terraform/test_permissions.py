"""The permissions manifest (spotshield/cloud/permissions.py) against the spot-fleet module's IAM.

Every call the VM side makes needs its permission granted, at the right scope, by a role of the
module; and every grant of the module is needed by some call. fake-gcs-server and the emulator
enforce no IAM, so this check (plus tests/gcs_iam.py for the calls themselves) is what catches a
missing grant before a real VM crash-loops on 403.
"""
from __future__ import annotations

import pytest

from spotshield.cloud.permissions import (CONTROLLER_CALLS, CONTROLLER_CUSTOM_ROLE, CONTROLLER_SCOPES,
                                          COORDINATOR_CALLS, COORDINATOR_SCOPES, CUSTOM_ROLE, ON_DEMAND_CALLS,
                                          ROLE_FACTS, SCOPES, VM_CALLS)
from spotshield.validate.invariants import load_stack

FLEET = "terraform/modules/spot-fleet/main.tf"
CONTROLLER = "terraform/modules/deadline-controller/main.tf"
ON_DEMAND = "terraform/modules/on-demand-fleet/main.tf"
COORDINATOR = "terraform/modules/coordinator/main.tf"


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


# ---- the deadline's modules ----------------------------------------------------------
def _condition(b: dict) -> str:
    cond = b.get("condition")
    return str(cond[0].get("expression", "")) if isinstance(cond, list) and cond else ""


def controller_grants(repo) -> tuple[dict[str, set[str]], set[str], str, str]:
    """({scope: roles granted to the controller account}, its custom role's permissions, the
    groups condition, the record condition) of modules/deadline-controller."""
    mod = load_stack(repo).module_dir("modules/deadline-controller")
    at: dict[str, set[str]] = {scope: set() for scope in CONTROLLER_SCOPES}
    groups_cond = record_cond = ""
    for rtype in set(CONTROLLER_SCOPES.values()):
        for _, b in mod.resources_of(rtype):
            if "google_service_account.controller." not in str(b.get("member")):
                continue
            role, cond = str(b.get("role")), str(mod.resolve(_condition(b)))
            if f"google_project_iam_custom_role.{CONTROLLER_CUSTOM_ROLE}." in role:
                role = f"custom:{CONTROLLER_CUSTOM_ROLE}"
            if rtype == "google_storage_bucket_iam_member":
                scope = "record" if "resource.name" in cond else "bucket"
                record_cond = cond if scope == "record" else record_cond
            else:
                scope = "groups" if "resource.name" in cond else "project"
                groups_cond = cond if scope == "groups" else groups_cond
            at[scope].add(role)
    custom = mod.resources.get(("google_project_iam_custom_role", CONTROLLER_CUSTOM_ROLE), {})
    return at, set(custom.get("permissions") or []), groups_cond, record_cond


def controller_problems(repo) -> list[str]:
    at, custom, groups_cond, record_cond = controller_grants(repo)
    out = []
    for call in CONTROLLER_CALLS:
        if call.role not in at[call.scope]:
            out.append(f"{call.caller}: {call.api} needs {call.permission}: no {call.role} at {call.scope} scope")
            continue
        held = custom if call.role.startswith("custom:") else ROLE_FACTS[call.role].permissions
        if call.permission not in held:
            out.append(f"{call.caller}: {call.api} needs {call.permission}, which {call.role} does not hold")
    used = {(c.scope, c.role) for c in CONTROLLER_CALLS}
    out += [f"the controller gets {r} at {scope} scope, which no call needs"
            for scope, roles in at.items() for r in sorted(roles) if (scope, r) not in used]
    needed = {c.permission for c in CONTROLLER_CALLS if c.role.startswith("custom:")}
    out += [f"custom role {CONTROLLER_CUSTOM_ROLE} grants {p}, which no call needs" for p in sorted(custom - needed)]
    for group in ("var.spot_mig", "var.on_demand_mig", "local.mig_name"):
        if group not in str(load_stack(repo).module_dir("modules/deadline-controller").locals.get("groups")):
            out.append(f"the groups condition does not name {group}")
    if "deadline.json" not in str(load_stack(repo).module_dir("modules/deadline-controller").locals.get("deadline_object")) \
            or "local.deadline_object" not in record_cond:
        out.append("the controller may write more than its deadline.json")
    if "local.groups" not in groups_cond:
        out.append("the controller's group grant is not conditioned on the stack's groups")
    return out


def test_the_controller_module_grants_every_controller_call_and_nothing_else(repo):
    assert controller_problems(repo) == []


def test_the_on_demand_vms_may_resize_their_own_group_only(repo):
    mod = load_stack(repo).module_dir("modules/on-demand-fleet")
    bindings = [b for _, b in mod.resources_of("google_project_iam_member")]
    assert len(bindings) == 1 and ON_DEMAND_CALLS[0].permission == "compute.instanceGroupManagers.update"
    b = bindings[0]
    assert b["role"] == "${var.fleet_stop_role}" and "local.mig_resource_name" in _condition(b)
    root = load_stack(repo).root
    assert root.modules["on_demand_fleet"]["fleet_stop_role"] == "${module.spot_fleet.fleet_stop_role}"
    assert root.modules["on_demand_fleet"]["service_account_email"] == "${module.spot_fleet.service_account_email}"
    assert not mod.resources_of("google_storage_bucket_iam_member")  # the fleet account's bucket grant serves


CONTROLLER_MUTATIONS = {
    "no resize": ('"compute.instanceGroupManagers.list", "compute.instanceGroupManagers.update"]',
                  '"compute.instanceGroupManagers.list"]', "needs compute.instanceGroupManagers.update"),
    "write anywhere": ('    expression  = "resource.name == \\"${local.deadline_object}\\""\n', "",
                       "no roles/storage.objectUser at record scope"),
    "no read": ('role   = "roles/storage.objectViewer"', 'role   = "roles/storage.objectUser"',
                "no roles/storage.objectViewer at bucket scope"),
    "extra permission": ('"compute.instanceGroupManagers.get", "compute.instanceGroupManagers.list"',
                         '"compute.instanceGroupManagers.get", "compute.instances.delete", "compute.instanceGroupManagers.list"',
                         "grants compute.instances.delete, which no call needs"),
}


@pytest.mark.parametrize("case", sorted(CONTROLLER_MUTATIONS))
def test_a_changed_controller_grant_is_caught(stack_copy, case):
    old, new, expect = CONTROLLER_MUTATIONS[case]
    stack_copy.edit(CONTROLLER, old, new)
    found = controller_problems(stack_copy.root)
    assert any(expect in p for p in found), found


# ---- the rendezvous coordinator ---------------------------------------------------------
def coordinator_problems(repo) -> list[str]:
    """modules/coordinator grants its account exactly what COORDINATOR_CALLS need: builds/ read, the
    run's DONE read, logs."""
    from spotshield.layout import DONE_KEY

    mod = load_stack(repo).module_dir("modules/coordinator")
    at: dict[str, set[str]] = {scope: set() for scope in COORDINATOR_SCOPES}
    out = []
    prefix = str(mod.locals.get("builds_prefix", ""))
    done_object = str(mod.locals.get("done_object", ""))
    for rtype in set(COORDINATOR_SCOPES.values()):
        for name, b in mod.resources_of(rtype):
            if "google_service_account.coordinator." not in str(b.get("member")):
                out.append(f"{rtype}.{name} grants to another account than the coordinator's")
                continue
            cond = str(mod.resolve(_condition(b)))
            if rtype == "google_storage_bucket_iam_member":
                if (cond.startswith("resource.name.startsWith(") and "local.builds_prefix" in cond
                        and prefix.endswith("/objects/builds/")):
                    at["builds"].add(str(b.get("role")))
                elif (cond == 'resource.name == "${local.done_object}"'
                      and done_object == "projects/_/buckets/${var.bucket_name}/objects/runs/${var.run_id}/" + DONE_KEY):
                    at["done"].add(str(b.get("role")))
                else:
                    out.append(f"bucket binding {name} is conditioned neither on the builds/ prefix nor on the run's "
                               "DONE object: the coordinator could read checkpoints and events")
            else:
                at["project"].add(str(b.get("role")))
    for call in COORDINATOR_CALLS:
        if call.role not in at[call.scope]:
            out.append(f"{call.caller}: {call.api} needs {call.permission}: no {call.role} at {call.scope} scope")
        elif call.permission not in ROLE_FACTS[call.role].permissions:
            out.append(f"{call.caller}: {call.api} needs {call.permission}, which {call.role} does not hold")
    used = {(c.scope, c.role) for c in COORDINATOR_CALLS}
    out += [f"the coordinator gets {r} at {scope} scope, which no call needs"
            for scope, roles in at.items() for r in sorted(roles) if (scope, r) not in used]
    if mod.resources_of("google_project_iam_custom_role"):
        out.append("the coordinator has a custom role; it calls no Compute API")
    return out


def test_the_coordinator_module_grants_every_coordinator_call_and_nothing_else(repo):
    assert coordinator_problems(repo) == []
    assert all(c.role in ROLE_FACTS for c in COORDINATOR_CALLS)


COORDINATOR_MUTATIONS = {
    "read the whole bucket": ('    expression  = "resource.name.startsWith(\\"${local.builds_prefix}\\")"\n', "",
                              "conditioned neither on the builds/ prefix nor on the run's DONE"),
    "read the whole run": ('objects/runs/${var.run_id}/DONE"', 'objects/runs/${var.run_id}/"',
                           "conditioned neither on the builds/ prefix nor on the run's DONE"),
    "no DONE read": ('expression  = "resource.name == \\"${local.done_object}\\""',
                     'expression  = "resource.name.startsWith(\\"${local.builds_prefix}\\")"',
                     "needs storage.objects.get: no roles/storage.objectViewer at done scope"),
    "write access": ('role   = "roles/storage.objectViewer"', 'role   = "roles/storage.objectUser"',
                     "gets roles/storage.objectUser at builds scope, which no call needs"),
    "no log writer": ('role    = "roles/logging.logWriter"', 'role    = "roles/monitoring.metricWriter"',
                      "needs logging.logEntries.create: no roles/logging.logWriter"),
}


@pytest.mark.parametrize("case", sorted(COORDINATOR_MUTATIONS))
def test_a_changed_coordinator_grant_is_caught(stack_copy, case):
    old, new, expect = COORDINATOR_MUTATIONS[case]
    stack_copy.edit(COORDINATOR, old, new)
    found = coordinator_problems(stack_copy.root)
    assert any(expect in p for p in found), found
