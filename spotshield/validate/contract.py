"""The boot contract, checked offline: what the Terraform template tells each VM must be what the
VMs read (spotshield/bootcontract.py METADATA, the one list), the health port must agree between
Terraform, the trainer and startup.sh, and the boot scripts must survive templatefile().
"""
from __future__ import annotations

import re

from spotshield.bootcontract import (CONTROLLER_METADATA, CONTROLLER_SCRIPT, COORDINATOR_METADATA, COORDINATOR_SCRIPT,
                                     METADATA, SERVICE_LIB)
from spotshield.trainer.config import TrainConfig  # no torch: the trainer's config is plain dataclasses
from spotshield.validate.hcl import Module, Stack, block, rel

HEALTH_CHECK_RANGES = {"35.191.0.0/16", "130.211.0.0/22"}
IAP_RANGES = {"35.235.240.0/20"}


def trainer_default_health_port() -> int:
    return TrainConfig.__dataclass_fields__["health_port"].default


# The service VMs' boot scripts (not the trainer's startup.sh) and the contract each reads.
SERVICE_CONTRACTS = {CONTROLLER_SCRIPT: CONTROLLER_METADATA, COORDINATOR_SCRIPT: COORDINATOR_METADATA}
# What boots the VMs: their templates (the groups) and plain instances (the coordinator).
VM_TYPES = ("google_compute_instance_template", "google_compute_instance")


def startup_script(mod: Module, body: dict) -> str:
    """The metadata startup-script expression of a template or instance, a local followed."""
    return str(mod.resolve((body.get("metadata") or {}).get("startup-script", "")))


def service_script(mod: Module, body: dict) -> str | None:
    """The service boot script (controller.sh, coordinator.sh) this VM boots, or None for a trainer."""
    text = startup_script(mod, body)
    return next((name for name in SERVICE_CONTRACTS if f"startup-scripts/{name}" in text), None)


def is_controller_template(mod: Module, body: dict) -> bool:
    """The deadline controller's template boots controller.sh, not the trainer's startup.sh."""
    return service_script(mod, body) == CONTROLLER_SCRIPT


def check_template_metadata(stack: Stack) -> list[str]:
    """Every instance template or instance tells its VMs every key of its boot contract (the
    trainer's, the deadline controller's or the coordinator's)."""
    problems = []
    for mod in stack.modules.values():
        for rtype in VM_TYPES:
            for name, body in mod.resources_of(rtype):
                meta = body.get("metadata") or {}
                contract = SERVICE_CONTRACTS.get(service_script(mod, body), METADATA)
                for key in sorted(set(contract) - set(meta)):
                    problems.append(f"{rel(stack, mod)}: {rtype}.{name}: metadata lacks {key} "
                                    "(the boot contract, spotshield/bootcontract.py)")
    return problems


def check_health_port(stack: Stack) -> list[str]:
    problems = []
    for mod in stack.modules.values():
        for name, hc in mod.resources_of("google_compute_health_check"):
            port = (block(hc, "http_health_check") or {}).get("port")
            for tname, tmpl in mod.resources_of("google_compute_instance_template"):
                meta_port = (tmpl.get("metadata") or {}).get("spotshield-health-port")
                if mod.resolve(meta_port) != mod.resolve(port):
                    problems.append(f"{rel(stack, mod)}: health check {name} probes {port!r} but VMs are told "
                                    f"spotshield-health-port {meta_port!r}")
        for fname, fw in mod.resources_of("google_compute_firewall"):
            if fw.get("source_tags") and "source_ranges" not in fw:
                continue  # internal, VM to VM by network tag (policy.check_network holds these)
            ranges = set(fw.get("source_ranges") if isinstance(fw.get("source_ranges"), list) else [])
            resolved = mod.resolve(fw.get("source_ranges"))
            if isinstance(resolved, list):
                ranges = set(resolved)
            if not ranges or not (ranges <= HEALTH_CHECK_RANGES or ranges <= IAP_RANGES):
                problems.append(f"{rel(stack, mod)}: firewall {fname} admits {sorted(ranges) or '?'}; only Google "
                                f"health-check or IAP ranges are allowed")
            ports = [p for a in fw.get("allow", []) for p in a.get("ports", [])]
            if ranges <= IAP_RANGES and ports != ["22"]:
                problems.append(f"{rel(stack, mod)}: firewall {fname} (IAP) must open port 22 only, not {ports}")
    root = stack.root
    calls = {n: a for n, a in root.modules.items() if "health_port" in a}
    exprs = {n: a["health_port"] for n, a in calls.items()}
    if len(set(exprs.values())) > 1:
        problems.append(f"terraform: modules get different health ports: {exprs}")
    default = root.variables.get("health_port", {}).get("default")
    trainer = trainer_default_health_port()
    if default != trainer:
        problems.append(f"terraform: variable health_port defaults to {default}, the trainer's health_port to {trainer}")
    startup = stack.repo / "startup-scripts" / "startup.sh"
    m = re.search(r"HEALTH_PORT=(\d+)", startup.read_text()) if startup.is_file() else None
    if m and default != int(m.group(1)):
        problems.append(f"terraform: variable health_port defaults to {default}, startup.sh falls back to {m.group(1)}")
    return problems


def check_boot_scripts(stack: Stack) -> list[str]:
    problems = []
    for name in ("startup.sh", "shutdown.sh", SERVICE_LIB, *SERVICE_CONTRACTS):
        path = stack.repo / "startup-scripts" / name
        if not path.is_file():
            problems.append(f"startup-scripts/{name} is missing")
            continue
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            if "${" in line or "%{" in line:
                problems.append(f"startup-scripts/{name}:{lineno}: templatefile() would interpolate this line")
    return problems
