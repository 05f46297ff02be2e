"""Offline invariants of the Terraform stack, read with python-hcl2 (no provider needed).

`check_stack(repo_root)` parses every module under terraform/ (the root, modules/*,
examples/*) and returns a list of problems, one line each; empty means all hold. Each check
is a small function in CHECKS so tests can run them one by one against mutated copies.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from spotshield.errors import SpotShieldError

HEALTH_CHECK_RANGES = {"35.191.0.0/16", "130.211.0.0/22"}
IAP_RANGES = {"35.235.240.0/20"}
MODULE_META_ARGS = {"source", "version", "providers", "count", "for_each", "depends_on"}
_REF = re.compile(r"\b(var|local|module)\.([A-Za-z_][A-Za-z0-9_-]*)(?:\.([A-Za-z_][A-Za-z0-9_-]*))?")
_WHOLE = re.compile(r"^\$\{(var|local)\.([A-Za-z_][A-Za-z0-9_-]*)\}$")


@dataclass
class Module:
    """The blocks of one Terraform module (all its .tf files merged)."""

    path: Path
    variables: dict[str, dict] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, dict] = field(default_factory=dict)
    modules: dict[str, dict] = field(default_factory=dict)
    resources: dict[tuple[str, str], dict] = field(default_factory=dict)
    other: list[dict] = field(default_factory=list)  # terraform, provider, data blocks

    def resources_of(self, rtype: str) -> list[tuple[str, dict]]:
        return [(name, body) for (t, name), body in self.resources.items() if t == rtype]

    def resolve(self, value: Any, depth: int = 0) -> Any:
        """Follow a whole-value `${local.x}` to its definition; `${var.x}` becomes ("var", x)."""
        if isinstance(value, str) and depth < 10:
            m = _WHOLE.match(value)
            if m and m.group(1) == "local" and m.group(2) in self.locals:
                return self.resolve(self.locals[m.group(2)], depth + 1)
            if m and m.group(1) == "var":
                return ("var", m.group(2))
        return value


def _load_file(path: Path) -> dict:
    import hcl2
    from hcl2 import SerializationOptions

    opts = SerializationOptions(strip_string_quotes=True, explicit_blocks=False, with_comments=False)
    try:
        with open(path) as f:
            return hcl2.load(f, serialization_options=opts)
    except OSError as e:
        raise SpotShieldError(f"cannot read {path}: {e.strerror}") from None
    except Exception as e:  # lark raises several types; all mean a syntax error
        first = " ".join(str(e).split())[:200]
        raise SpotShieldError(f"cannot parse {path}: {first}") from None


def load_module(path: Path) -> Module:
    mod = Module(path=path)
    for tf in sorted(path.glob("*.tf")):
        tree = _load_file(tf)
        for block in tree.get("variable", []):
            mod.variables.update(block)
        for block in tree.get("locals", []):
            mod.locals.update(block)
        for block in tree.get("output", []):
            mod.outputs.update(block)
        for block in tree.get("module", []):
            mod.modules.update(block)
        for block in tree.get("resource", []):
            for rtype, named in block.items():
                for name, body in named.items():
                    mod.resources[(rtype, name)] = body
        for key in ("terraform", "provider", "data"):
            mod.other.extend(tree.get(key, []))
    return mod


@dataclass
class Stack:
    repo: Path
    modules: dict[Path, Module]

    @property
    def tf_dir(self) -> Path:
        return self.repo / "terraform"

    @property
    def root(self) -> Module:
        return self.modules[self.tf_dir.resolve()]

    def module_dir(self, name: str) -> Module:
        return self.modules[(self.tf_dir / name).resolve()]


def module_dirs(tf_dir: Path) -> list[Path]:
    dirs = [tf_dir]
    for parent in ("modules", "examples"):
        dirs += sorted(p for p in (tf_dir / parent).glob("*") if p.is_dir() and any(p.glob("*.tf")))
    return dirs


def load_stack(repo: Path) -> Stack:
    tf_dir = Path(repo) / "terraform"
    if not tf_dir.is_dir():
        raise SpotShieldError(f"no terraform/ folder in {repo}; run from the SpotShield repo")
    return Stack(repo=Path(repo), modules={d.resolve(): load_module(d) for d in module_dirs(tf_dir)})


def _strings(obj: Any):
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)


def _refs(obj: Any, kind: str) -> set[str]:
    return {m.group(2) for s in _strings(obj) for m in _REF.finditer(s) if m.group(1) == kind}


def _module_output_refs(obj: Any) -> set[tuple[str, str]]:
    return {(m.group(2), m.group(3)) for s in _strings(obj) for m in _REF.finditer(s)
            if m.group(1) == "module" and m.group(3)}


def _has_key(obj: Any, key: str) -> bool:
    if isinstance(obj, dict):
        return key in obj or any(_has_key(v, key) for v in obj.values())
    if isinstance(obj, list):
        return any(_has_key(v, key) for v in obj)
    return False


def _block(body: dict, name: str) -> dict | None:
    value = body.get(name)
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return value[0]
    return value if isinstance(value, dict) else None


def _rel(stack: Stack, mod: Module) -> str:
    return mod.path.relative_to(stack.repo.resolve()).as_posix() if mod.path.is_absolute() else str(mod.path)


def _tf_type(decl: dict) -> str:
    t = str(decl.get("type", "any"))
    return t[2:-1] if t.startswith("${") and t.endswith("}") else t


def _bodies_using_vars(mod: Module) -> list[Any]:
    return [mod.locals, mod.outputs, mod.modules, list(mod.resources.values()), mod.other]


# --- checks --------------------------------------------------------------------------------

def check_variables_declared_and_used(stack: Stack) -> list[str]:
    problems = []
    for mod in stack.modules.values():
        used = _refs(_bodies_using_vars(mod), "var")
        declared = set(mod.variables)
        for name in sorted(used - declared):
            problems.append(f"{_rel(stack, mod)}: var.{name} is used but not declared")
        for name in sorted(declared - used):
            problems.append(f"{_rel(stack, mod)}: variable {name} is declared but never used")
        used_locals = _refs(_bodies_using_vars(mod), "local")
        for name in sorted(used_locals - set(mod.locals)):
            problems.append(f"{_rel(stack, mod)}: local.{name} is used but not defined")
        for name, decl in mod.variables.items():
            if not decl.get("description"):
                problems.append(f"{_rel(stack, mod)}: variable {name} has no description")
            if "type" not in decl:
                problems.append(f"{_rel(stack, mod)}: variable {name} has no type")
    return problems


def check_module_calls(stack: Stack) -> list[str]:
    problems = []
    for mod in stack.modules.values():
        for call, args in mod.modules.items():
            source = str(args.get("source", ""))
            target = stack.modules.get((mod.path / source).resolve()) if source.startswith(".") else None
            if target is None:
                problems.append(f"{_rel(stack, mod)}: module {call} has source {source!r}, not a module under terraform/")
                continue
            inputs = set(args) - MODULE_META_ARGS
            for name in sorted(inputs - set(target.variables)):
                problems.append(f"{_rel(stack, mod)}: module {call} passes {name}, which {_rel(stack, target)} does not declare")
            required = {n for n, d in target.variables.items() if "default" not in d}
            for name in sorted(required - inputs):
                problems.append(f"{_rel(stack, mod)}: module {call} does not pass required variable {name}")
        for call, out in sorted(_module_output_refs(_bodies_using_vars(mod))):
            args = mod.modules.get(call)
            if args is None:
                problems.append(f"{_rel(stack, mod)}: module.{call} is referenced but not called")
                continue
            target = stack.modules.get((mod.path / str(args.get("source", ""))).resolve())
            if target is not None and out not in target.outputs:
                problems.append(f"{_rel(stack, mod)}: module.{call}.{out} is not an output of {_rel(stack, target)}")
    return problems


def _var_allows_only(mod: Module, var: str, allowed: set[str]) -> bool:
    conditions = " ".join(str(v.get("condition", "")) for v in mod.variables.get(var, {}).get("validation", []))
    found = set(re.findall(r'"([A-Z_]+)"', conditions))
    return bool(found) and found == allowed


def check_spot_templates(stack: Stack) -> list[str]:
    problems = []
    templates = [(mod, n, b) for mod in stack.modules.values()
                 for n, b in mod.resources_of("google_compute_instance_template")]
    if not templates:
        return ["terraform/: no google_compute_instance_template found"]
    for mod, name, body in templates:
        where = f"{_rel(stack, mod)}: google_compute_instance_template.{name}"
        sched = _block(body, "scheduling")
        if sched is None:
            problems.append(f"{where} has no scheduling block")
            continue
        expect = {"provisioning_model": "SPOT", "preemptible": True, "automatic_restart": False,
                  "on_host_maintenance": "TERMINATE"}
        for key, want in expect.items():
            got = mod.resolve(sched.get(key))
            if got != want:
                problems.append(f"{where}: scheduling.{key} must be {want!r}, not {got!r}")
        action = mod.resolve(sched.get("instance_termination_action"))
        if not (isinstance(action, tuple) and _var_allows_only(mod, action[1], {"STOP", "DELETE"})):
            problems.append(f"{where}: scheduling.instance_termination_action must be a variable validated to STOP|DELETE")
        if not (_block(body, "guest_accelerator") or _has_key(body.get("dynamic", []), "guest_accelerator")):
            problems.append(f"{where}: no guest_accelerator (GPU) block")
        shielded = _block(body, "shielded_instance_config") or {}
        if shielded.get("enable_vtpm") is not True or shielded.get("enable_integrity_monitoring") is not True:
            problems.append(f"{where}: shielded VM needs enable_vtpm and enable_integrity_monitoring = true")
        sa = _block(body, "service_account") or {}
        if "google_service_account." not in str(sa.get("email", "")):
            problems.append(f"{where}: VMs must run as the dedicated google_service_account, not the default one")
        meta = body.get("metadata") or {}
        if str(mod.resolve(meta.get("block-project-ssh-keys"))).lower() != "true":
            problems.append(f"{where}: metadata block-project-ssh-keys must be true")
        if str(mod.resolve(meta.get("enable-oslogin"))).upper() != "TRUE":
            problems.append(f"{where}: metadata enable-oslogin must be TRUE")
        for key, script in (("startup-script", "startup.sh"), ("shutdown-script", "shutdown.sh")):
            value = str(meta.get(key, ""))
            if "templatefile(" not in value or f"startup-scripts/{script}" not in value:
                problems.append(f"{where}: metadata {key} must be templatefile() of startup-scripts/{script}")
        for key in sorted(contract_metadata_keys(stack.repo) - set(meta)):
            problems.append(f"{where}: metadata lacks {key} (docs/boot-contract.md)")
    return problems


def check_no_external_ip(stack: Stack) -> list[str]:
    return [f"{_rel(stack, mod)}: {t}.{n} has an access_config (external IP)"
            for mod in stack.modules.values() for (t, n), body in mod.resources.items()
            if _has_key(body, "access_config")]


def check_bucket(stack: Stack) -> list[str]:
    problems = []
    buckets = [(mod, n, b) for mod in stack.modules.values() for n, b in mod.resources_of("google_storage_bucket")]
    if not buckets:
        return ["terraform/: no google_storage_bucket found"]
    for mod, name, body in buckets:
        where = f"{_rel(stack, mod)}: google_storage_bucket.{name}"
        if mod.resolve(body.get("public_access_prevention")) != "enforced":
            problems.append(f"{where}: public_access_prevention must be \"enforced\"")
        if mod.resolve(body.get("uniform_bucket_level_access")) is not True:
            problems.append(f"{where}: uniform_bucket_level_access must be true")
        if (_block(body, "versioning") or {}).get("enabled") is not True:
            problems.append(f"{where}: versioning must be enabled")
        rules = body.get("lifecycle_rule") or []
        if not any((_block(r, "action") or {}).get("type") == "Delete"
                   and "days_since_noncurrent_time" in (_block(r, "condition") or {}) for r in rules):
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
        where = f"{_rel(stack, mod)}: google_compute_region_instance_group_manager.{name}"
        heal = _block(body, "auto_healing_policies") or {}
        if "google_compute_health_check." not in str(heal.get("health_check", "")) or "initial_delay_sec" not in heal:
            problems.append(f"{where}: auto_healing_policies needs health_check and initial_delay_sec")
        if _block(body, "update_policy") is None:
            problems.append(f"{where}: needs an update_policy")
        if (_block(body, "instance_lifecycle_policy") or {}).get("default_action_on_failure") != "REPAIR":
            problems.append(f"{where}: instance_lifecycle_policy.default_action_on_failure must be REPAIR")
        for key in ("distribution_policy_zones", "distribution_policy_target_shape"):
            if key not in body:
                problems.append(f"{where}: needs {key}")
    return problems


ALLOWED_PROJECT_ROLES = {"roles/logging.logWriter", "roles/monitoring.metricWriter"}
FLEET_STOP_PERMISSIONS = {"compute.instanceGroupManagers.get", "compute.instanceGroupManagers.update"}


def check_least_privilege(stack: Stack) -> list[str]:
    """The VMs' account: log/metric writer on the project, objectUser on the bucket, and the
    fleet-stop custom role only under a condition on the group's resource name."""
    problems = []
    for mod in stack.modules.values():
        where = _rel(stack, mod)
        for name, role in mod.resources_of("google_project_iam_custom_role"):
            perms = set(role.get("permissions") or [])
            if not perms <= FLEET_STOP_PERMISSIONS:
                problems.append(f"{where}: custom role {name} grants {sorted(perms - FLEET_STOP_PERMISSIONS)}")
        for name, member in mod.resources_of("google_project_iam_member"):
            role = str(member.get("role", ""))
            if role in ALLOWED_PROJECT_ROLES:
                continue
            condition = _block(member, "condition") or {}
            if "google_project_iam_custom_role." in role and "resource.name" in str(condition.get("expression", "")):
                continue
            problems.append(f"{where}: project role binding {name} ({role}) is broader than the VMs need")
        for name, member in mod.resources_of("google_storage_bucket_iam_member"):
            if member.get("role") != "roles/storage.objectUser":  # objects only (spotshield/cloud/permissions.py)
                problems.append(f"{where}: bucket binding {name} grants {member.get('role')}, not objectUser")
    return problems


def trainer_default_health_port() -> int | None:
    try:
        from spotshield.trainer.config import TrainConfig
    except ImportError:
        return None
    return TrainConfig.__dataclass_fields__["health_port"].default


def check_health_port(stack: Stack) -> list[str]:
    problems = []
    for mod in stack.modules.values():
        for name, hc in mod.resources_of("google_compute_health_check"):
            port = (_block(hc, "http_health_check") or {}).get("port")
            for tname, tmpl in mod.resources_of("google_compute_instance_template"):
                meta_port = (tmpl.get("metadata") or {}).get("spotshield-health-port")
                if mod.resolve(meta_port) != mod.resolve(port):
                    problems.append(f"{_rel(stack, mod)}: health check {name} probes {port!r} but VMs are told "
                                    f"spotshield-health-port {meta_port!r}")
        for fname, fw in mod.resources_of("google_compute_firewall"):
            ranges = set(fw.get("source_ranges") if isinstance(fw.get("source_ranges"), list) else [])
            resolved = mod.resolve(fw.get("source_ranges"))
            if isinstance(resolved, list):
                ranges = set(resolved)
            if not ranges or not (ranges <= HEALTH_CHECK_RANGES or ranges <= IAP_RANGES):
                problems.append(f"{_rel(stack, mod)}: firewall {fname} admits {sorted(ranges) or '?'}; only Google "
                                f"health-check or IAP ranges are allowed")
            ports = [p for a in fw.get("allow", []) for p in a.get("ports", [])]
            if ranges <= IAP_RANGES and ports != ["22"]:
                problems.append(f"{_rel(stack, mod)}: firewall {fname} (IAP) must open port 22 only, not {ports}")
    root = stack.root
    calls = {n: a for n, a in root.modules.items() if "health_port" in a}
    exprs = {n: a["health_port"] for n, a in calls.items()}
    if len(set(exprs.values())) > 1:
        problems.append(f"terraform: modules get different health ports: {exprs}")
    default = root.variables.get("health_port", {}).get("default")
    trainer = trainer_default_health_port()
    if trainer is not None and default != trainer:
        problems.append(f"terraform: variable health_port defaults to {default}, the trainer's health_port to {trainer}")
    startup = stack.repo / "startup-scripts" / "startup.sh"
    m = re.search(r"HEALTH_PORT=(\d+)", startup.read_text()) if startup.is_file() else None
    if m and default != int(m.group(1)):
        problems.append(f"terraform: variable health_port defaults to {default}, startup.sh falls back to {m.group(1)}")
    return problems


def check_network(stack: Stack) -> list[str]:
    problems = []
    mods = list(stack.modules.values())
    if not any(m.resources_of("google_compute_router_nat") for m in mods):
        problems.append("terraform/: no google_compute_router_nat (VMs without external IPs need Cloud NAT)")
    for mod in mods:
        for name, sub in mod.resources_of("google_compute_subnetwork"):
            if sub.get("private_ip_google_access") is not True:
                problems.append(f"{_rel(stack, mod)}: subnet {name} needs private_ip_google_access = true")
    return problems


def check_tfvars_schema(stack: Stack) -> list[str]:
    from spotshield.validate.tfvars import TFVARS_SCHEMA

    problems = []
    declared = stack.root.variables
    for name, tf_type in TFVARS_SCHEMA.items():
        if name not in declared:
            problems.append(f"terraform/variables.tf: the CLI writes {name} ({tf_type}) but it is not declared")
        elif _tf_type(declared[name]) not in (tf_type, "any"):
            problems.append(f"terraform/variables.tf: {name} is {_tf_type(declared[name])}, the CLI writes {tf_type}")
    from spotshield.settings import STRATEGIES, TERMINATION_ACTIONS

    for var, allowed in (("strategy", set(STRATEGIES)), ("termination_action", set(TERMINATION_ACTIONS))):
        conds = " ".join(str(v.get("condition", "")) for v in declared.get(var, {}).get("validation", []))
        accepted = set(re.findall(r'"([A-Za-z_]+)"', conds))
        if accepted != allowed:
            problems.append(f"terraform/variables.tf: {var} accepts {sorted(accepted)}, the CLI offers {sorted(allowed)}")
    return problems


def check_boot_scripts(stack: Stack) -> list[str]:
    problems = []
    for name in ("startup.sh", "shutdown.sh"):
        path = stack.repo / "startup-scripts" / name
        if not path.is_file():
            problems.append(f"startup-scripts/{name} is missing")
            continue
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            if "${" in line or "%{" in line:
                problems.append(f"startup-scripts/{name}:{lineno}: templatefile() would interpolate this line")
    return problems


def contract_metadata_keys(repo: Path) -> set[str]:
    contract = Path(repo) / "docs" / "boot-contract.md"
    if not contract.is_file():
        return set()
    keys = set()
    for line in contract.read_text().splitlines():  # the key column of the attribute table
        cells = line.split("|")
        if len(cells) > 2 and line.lstrip().startswith("|"):
            keys |= set(re.findall(r"`(spotshield-[a-z0-9-]+)`", cells[1]))
    return keys


CHECKS: list[Callable[[Stack], list[str]]] = [
    check_variables_declared_and_used,
    check_module_calls,
    check_spot_templates,
    check_no_external_ip,
    check_bucket,
    check_fleet,
    check_least_privilege,
    check_health_port,
    check_network,
    check_tfvars_schema,
    check_boot_scripts,
]


def check_stack(repo: Path) -> list[str]:
    stack = load_stack(Path(repo))
    return [p for check in CHECKS for p in check(stack)]
