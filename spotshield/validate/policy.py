"""The stack's policy, checked offline on the parsed modules (spotshield/validate/hcl.py): Spot
templates, no external IPs, a private and versioned bucket, a self-healing group, least privilege,
Cloud NAT, and the variables the CLI writes. Each check takes a Stack and returns problems, one line each.
"""
from __future__ import annotations

import re

from spotshield.bootcontract import SERVICE_LIB
from spotshield.cloud.permissions import CONTROLLER_CUSTOM_ROLE
from spotshield.cloud.tfvars import TFVARS_SCHEMA
from spotshield.settings import PROVISIONING_MODELS, STRATEGIES, TERMINATION_ACTIONS
from spotshield.validate.contract import VM_TYPES, service_script, startup_script
from spotshield.validate.hcl import (MODULE_META_ARGS, Module, Stack, block, bodies_using_vars, has_key,
                                     module_output_refs, refs, rel, tf_type)

ALLOWED_PROJECT_ROLES = {"roles/logging.logWriter", "roles/monitoring.metricWriter"}
FLEET_STOP_PERMISSIONS = {"compute.instanceGroupManagers.get", "compute.instanceGroupManagers.update"}
# the deadline controller reads and resizes its stack's groups (spotshield/cloud/permissions.py CONTROLLER_CALLS)
CONTROLLER_PERMISSIONS = FLEET_STOP_PERMISSIONS | {"compute.instanceGroupManagers.list"}


def check_variables_declared_and_used(stack: Stack) -> list[str]:
    problems = []
    for mod in stack.modules.values():
        used = refs(bodies_using_vars(mod), "var")
        declared = set(mod.variables)
        for name in sorted(used - declared):
            problems.append(f"{rel(stack, mod)}: var.{name} is used but not declared")
        for name in sorted(declared - used):
            problems.append(f"{rel(stack, mod)}: variable {name} is declared but never used")
        used_locals = refs(bodies_using_vars(mod), "local")
        for name in sorted(used_locals - set(mod.locals)):
            problems.append(f"{rel(stack, mod)}: local.{name} is used but not defined")
        for name, decl in mod.variables.items():
            if not decl.get("description"):
                problems.append(f"{rel(stack, mod)}: variable {name} has no description")
            if "type" not in decl:
                problems.append(f"{rel(stack, mod)}: variable {name} has no type")
    return problems


def check_module_calls(stack: Stack) -> list[str]:
    problems = []
    for mod in stack.modules.values():
        for call, args in mod.modules.items():
            source = str(args.get("source", ""))
            target = stack.modules.get((mod.path / source).resolve()) if source.startswith(".") else None
            if target is None:
                problems.append(f"{rel(stack, mod)}: module {call} has source {source!r}, not a module under terraform/")
                continue
            inputs = set(args) - MODULE_META_ARGS
            for name in sorted(inputs - set(target.variables)):
                problems.append(f"{rel(stack, mod)}: module {call} passes {name}, which {rel(stack, target)} does not declare")
            required = {n for n, d in target.variables.items() if "default" not in d}
            for name in sorted(required - inputs):
                problems.append(f"{rel(stack, mod)}: module {call} does not pass required variable {name}")
        for call, out in sorted(module_output_refs(bodies_using_vars(mod))):
            args = mod.modules.get(call)
            if args is None:
                problems.append(f"{rel(stack, mod)}: module.{call} is referenced but not called")
                continue
            target = stack.modules.get((mod.path / str(args.get("source", ""))).resolve())
            if target is not None and out not in target.outputs:
                problems.append(f"{rel(stack, mod)}: module.{call}.{out} is not an output of {rel(stack, target)}")
    return problems


def _var_allows_only(mod: Module, var: str, allowed: set[str]) -> bool:
    conditions = " ".join(str(v.get("condition", "")) for v in mod.variables.get(var, {}).get("validation", []))
    found = set(re.findall(r'"([A-Z_]+)"', conditions))
    return bool(found) and found == allowed


def check_spot_templates(stack: Stack) -> list[str]:
    """Every VM's template or instance: Spot (the trainers), or STANDARD for the deadline's on-demand
    trainers and the service VMs (deadline controller, coordinator); shielded, its own account, OS
    Login, and the boot scripts of its kind."""
    problems = []
    vms = [(mod, t, n, b) for mod in stack.modules.values() for t in VM_TYPES for n, b in mod.resources_of(t)]
    if not any(t == "google_compute_instance_template" for _, t, _, _ in vms):
        return ["terraform/: no google_compute_instance_template found"]
    for mod, rtype, name, body in vms:
        where = f"{rel(stack, mod)}: {rtype}.{name}"
        sched = block(body, "scheduling")
        if sched is None:
            problems.append(f"{where} has no scheduling block")
            continue
        service = service_script(mod, body)  # controller.sh or coordinator.sh: a STANDARD service VM
        modes: list[dict] = [{}]  # each a set of assumed variable values the template is checked under
        model = mod.resolve(sched.get("provisioning_model"))
        if isinstance(model, tuple):  # a template switched by a variable: check it as SPOT and as STANDARD
            if _var_allows_only(mod, model[1], set(PROVISIONING_MODELS)):
                modes = [{model[1]: m} for m in PROVISIONING_MODELS]
            else:
                problems.append(f"{where}: scheduling.provisioning_model must be SPOT, or a variable validated "
                                f"to {'|'.join(PROVISIONING_MODELS)}")
                continue
        for assume in modes:
            at = f"{where} (provisioning_model {next(iter(assume.values()))})" if assume else where
            got = {k: mod.resolve(sched.get(k), assume) for k in
                   ("provisioning_model", "preemptible", "automatic_restart", "on_host_maintenance",
                    "instance_termination_action")}
            # a preemptible template is a Spot one, whatever else it says
            standard = service is not None or (got["provisioning_model"] == "STANDARD" and got["preemptible"] is False)
            if standard:  # the deadline's on-demand trainer, a service VM, or a baseline's STANDARD mode
                expect = {"provisioning_model": "STANDARD", "preemptible": False}
            else:
                expect = {"provisioning_model": "SPOT", "preemptible": True, "automatic_restart": False,
                          "on_host_maintenance": "TERMINATE"}
            for key, want in expect.items():
                if got[key] != want:
                    problems.append(f"{at}: scheduling.{key} must be {want!r}, not {got[key]!r}")
            action = got["instance_termination_action"]
            if not standard and not (isinstance(action, tuple) and _var_allows_only(mod, action[1], {"STOP", "DELETE"})):
                problems.append(f"{at}: scheduling.instance_termination_action must be a variable validated to STOP|DELETE")
            if standard and assume and action is not None:
                problems.append(f"{at}: scheduling.instance_termination_action is for Spot VMs only; null it")
        if len(modes) > 1:
            standard = service is not None  # it can be Spot: the rules below are a Spot template's
        gpu = block(body, "guest_accelerator") or has_key(body.get("dynamic", []), "guest_accelerator")
        if not gpu and service is None:
            problems.append(f"{where}: no guest_accelerator (GPU) block")
        if gpu and service is not None:
            problems.append(f"{where}: a service VM ({service}) needs no accelerator")
        shielded = block(body, "shielded_instance_config") or {}
        if shielded.get("enable_vtpm") is not True or shielded.get("enable_integrity_monitoring") is not True:
            problems.append(f"{where}: shielded VM needs enable_vtpm and enable_integrity_monitoring = true")
        sa = str((block(body, "service_account") or {}).get("email", ""))
        # the on-demand trainer runs as the spot fleet's account, which its module is handed
        if "google_service_account." not in sa and not (standard and service is None and "var.service_account_email" in sa):
            problems.append(f"{where}: VMs must run as the dedicated google_service_account, not the default one")
        meta = body.get("metadata") or {}
        if str(mod.resolve(meta.get("block-project-ssh-keys"))).lower() != "true":
            problems.append(f"{where}: metadata block-project-ssh-keys must be true")
        if str(mod.resolve(meta.get("enable-oslogin"))).upper() != "TRUE":
            problems.append(f"{where}: metadata enable-oslogin must be TRUE")
        if service is not None:  # one value: the shared half first, then the service's own script
            text = startup_script(mod, body)
            lib, own = text.find(f"startup-scripts/{SERVICE_LIB}"), text.find(f"startup-scripts/{service}")
            if "templatefile(" not in text or not 0 <= lib < own:
                problems.append(f"{where}: metadata startup-script must be templatefile() of startup-scripts/"
                                f"{SERVICE_LIB} joined before startup-scripts/{service}")
            continue
        for key, script in (("startup-script", "startup.sh"), ("shutdown-script", "shutdown.sh")):
            value = str(meta.get(key, ""))
            if "templatefile(" not in value or f"startup-scripts/{script}" not in value:
                problems.append(f"{where}: metadata {key} must be templatefile() of startup-scripts/{script}")
    return problems


def check_no_external_ip(stack: Stack) -> list[str]:
    return [f"{rel(stack, mod)}: {t}.{n} has an access_config (external IP)"
            for mod in stack.modules.values() for (t, n), body in mod.resources.items()
            if has_key(body, "access_config")]


def check_bucket(stack: Stack) -> list[str]:
    problems = []
    buckets = [(mod, n, b) for mod in stack.modules.values() for n, b in mod.resources_of("google_storage_bucket")]
    if not buckets:
        return ["terraform/: no google_storage_bucket found"]
    for mod, name, body in buckets:
        where = f"{rel(stack, mod)}: google_storage_bucket.{name}"
        if mod.resolve(body.get("public_access_prevention")) != "enforced":
            problems.append(f"{where}: public_access_prevention must be \"enforced\"")
        if mod.resolve(body.get("uniform_bucket_level_access")) is not True:
            problems.append(f"{where}: uniform_bucket_level_access must be true")
        if (block(body, "versioning") or {}).get("enabled") is not True:
            problems.append(f"{where}: versioning must be enabled")
        rules = body.get("lifecycle_rule") or []
        if not any((block(r, "action") or {}).get("type") == "Delete"
                   and "days_since_noncurrent_time" in (block(r, "condition") or {}) for r in rules):
            problems.append(f"{where}: needs a lifecycle_rule deleting noncurrent versions after N days")
        destroy = mod.resolve(body.get("force_destroy", False))
        if isinstance(destroy, tuple):
            destroy = mod.variables.get(destroy[1], {}).get("default", True)
        if destroy is not False:
            problems.append(f"{where}: force_destroy must default to false")
    return problems


def check_fleet(stack: Stack) -> list[str]:
    problems = []
    migs = [(mod, n, b) for mod in stack.modules.values()
            for n, b in mod.resources_of("google_compute_region_instance_group_manager")]
    if not migs:
        return ["terraform/: no google_compute_region_instance_group_manager found"]
    for mod, name, body in migs:
        where = f"{rel(stack, mod)}: google_compute_region_instance_group_manager.{name}"
        heal = block(body, "auto_healing_policies") or {}
        if "google_compute_health_check." not in str(heal.get("health_check", "")) or "initial_delay_sec" not in heal:
            problems.append(f"{where}: auto_healing_policies needs health_check and initial_delay_sec")
        if block(body, "update_policy") is None:
            problems.append(f"{where}: needs an update_policy")
        if (block(body, "instance_lifecycle_policy") or {}).get("default_action_on_failure") != "REPAIR":
            problems.append(f"{where}: instance_lifecycle_policy.default_action_on_failure must be REPAIR")
        for key in ("distribution_policy_zones", "distribution_policy_target_shape"):
            if key not in body:
                problems.append(f"{where}: needs {key}")
    return problems


def check_least_privilege(stack: Stack) -> list[str]:
    """The VMs' account: log/metric writer on the project, objectUser on the bucket, and the
    fleet-stop custom role only under a condition on the group's resource name."""
    problems = []
    for mod in stack.modules.values():
        where = rel(stack, mod)
        for name, role in mod.resources_of("google_project_iam_custom_role"):
            perms = set(role.get("permissions") or [])
            allowed = CONTROLLER_PERMISSIONS if name == CONTROLLER_CUSTOM_ROLE else FLEET_STOP_PERMISSIONS
            if not perms <= allowed:
                problems.append(f"{where}: custom role {name} grants {sorted(perms - allowed)}")
        for name, member in mod.resources_of("google_project_iam_member"):
            role = str(member.get("role", ""))
            if role in ALLOWED_PROJECT_ROLES:
                continue
            condition = block(member, "condition") or {}
            expression = str(mod.resolve(condition.get("expression", "")))  # may be a local (a list of groups)
            # a custom role of the stack, or the fleet-stop role handed to the on-demand module
            custom = "google_project_iam_custom_role." in role or role == "${var.fleet_stop_role}"
            if custom and "resource.name" in expression:
                continue
            problems.append(f"{where}: project role binding {name} ({role}) is broader than the VMs need")
        for name, member in mod.resources_of("google_storage_bucket_iam_member"):
            role = member.get("role")
            condition = str((block(member, "condition") or {}).get("expression", ""))
            if role == "roles/storage.objectViewer":  # read only (the deadline controller)
                continue
            if role != "roles/storage.objectUser":  # objects only (spotshield/cloud/permissions.py)
                problems.append(f"{where}: bucket binding {name} grants {role}, not objectUser")
            elif "google_service_account.controller." in str(member.get("member")) and "resource.name" not in condition:
                problems.append(f"{where}: bucket binding {name}: the controller may write its one object only "
                                "(an IAM condition on resource.name)")
    return problems


def check_network(stack: Stack) -> list[str]:
    problems = []
    mods = list(stack.modules.values())
    if not any(m.resources_of("google_compute_router_nat") for m in mods):
        problems.append("terraform/: no google_compute_router_nat (VMs without external IPs need Cloud NAT)")
    for mod in mods:
        for name, sub in mod.resources_of("google_compute_subnetwork"):
            if sub.get("private_ip_google_access") is not True:
                problems.append(f"{rel(stack, mod)}: subnet {name} needs private_ip_google_access = true")
        # an internal rule (VM to VM by tag; contract.check_health_port holds the ranged ones)
        for name, fw in mod.resources_of("google_compute_firewall"):
            if fw.get("source_tags") and not fw.get("target_tags"):
                problems.append(f"{rel(stack, mod)}: firewall {name} admits its source tags to every VM of the "
                                "network: it needs target_tags")
    return problems


def check_tfvars_schema(stack: Stack) -> list[str]:
    problems = []
    declared = stack.root.variables
    for name, want in TFVARS_SCHEMA.items():
        if name not in declared:
            problems.append(f"terraform/variables.tf: the CLI writes {name} ({want}) but it is not declared")
        elif tf_type(declared[name]) not in (want, "any"):
            problems.append(f"terraform/variables.tf: {name} is {tf_type(declared[name])}, the CLI writes {want}")
    for var, allowed in (("strategy", set(STRATEGIES)), ("termination_action", set(TERMINATION_ACTIONS)),
                         ("provisioning_model", set(PROVISIONING_MODELS))):
        conds = " ".join(str(v.get("condition", "")) for v in declared.get(var, {}).get("validation", []))
        accepted = set(re.findall(r'"([A-Za-z_]+)"', conds))
        if accepted != allowed:
            problems.append(f"terraform/variables.tf: {var} accepts {sorted(accepted)}, the CLI offers {sorted(allowed)}")
    return problems
