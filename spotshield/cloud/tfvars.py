"""Render StackSettings into terraform/spotshield.auto.tfvars.json, against the root module's schema.

Terraform loads *.auto.tfvars.json by itself, so `init/plan/apply/destroy` need no -var
flags and the file shows exactly what was applied. TFVARS_SCHEMA maps each root-module
variable the CLI writes to its Terraform type; check_tfvars holds our values against it, so
a renamed or retyped variable fails here with one clear line, not halfway through an apply.
`spotshield validate` (spotshield/validate/policy.py) and tests/terraform check every entry
against terraform/variables.tf.
"""
from __future__ import annotations

import json
from pathlib import Path

from spotshield.errors import SpotShieldError
from spotshield.settings import StackSettings

TFVARS_NAME = "spotshield.auto.tfvars.json"

TFVARS_SCHEMA: dict[str, str] = {
    "project": "string",
    "region": "string",
    "zones": "list(string)",
    "name": "string",
    "machine_type": "string",
    "gpu_type": "string",  # null or "" for no GPU
    "gpu_count": "number",
    "fleet_size": "number",
    "bucket_name": "string",
    "run_id": "string",
    "strategy": "string",
    "termination_action": "string",
    "provisioning_model": "string",  # SPOT, or STANDARD for an on-demand baseline
    "trainer_config": "string",  # the merged trainer config as a JSON object string
    "build_url": "string",  # gs://bucket/builds/<archive>; "" = the spotshield on the image
    "build_id": "string",  # what `python -m spotshield.buildinfo` prints for that build
    "build_sha256": "string",  # optional: sha256 of the archive; VMs refuse a mismatching download
    "health_port": "number",
    "deadline_config": "string",  # the deadline controller's config as JSON; "" = no deadline
    "command": "string",  # command mode: the user's command; "" = spotshield train
    "workdir_url": "string",  # command mode: gs://bucket/workdirs/<digest>.tar.gz
    "workdir_sha256": "string",  # command mode: the archive's full sha256
    "min_nodes": "number",  # a job under torchrun: the fewest nodes; null = fleet_size
    "compact_placement": "bool",  # a compact placement policy for the group's VMs
}

# Variables the CLI must always write (the others have defaults in variables.tf).
TFVARS_REQUIRED = ("project", "run_id")


def _fits(tf_type: str, value) -> bool:
    if value is None:
        return True  # null selects "not set" for nullable variables (gpu_type)
    if tf_type == "string":
        return isinstance(value, str)
    if tf_type == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tf_type == "bool":
        return isinstance(value, bool)
    if tf_type == "list(string)":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if tf_type == "map(string)":
        return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
    return True  # any / complex types: Terraform itself checks them


def check_tfvars(values: dict) -> dict:
    """Raise SpotShieldError (one line) unless `values` fits TFVARS_SCHEMA; return it."""
    unknown = sorted(set(values) - set(TFVARS_SCHEMA))
    if unknown:
        raise SpotShieldError(f"unknown Terraform variable(s) {', '.join(unknown)}; known: {', '.join(TFVARS_SCHEMA)}")
    missing = [k for k in TFVARS_REQUIRED if values.get(k) in (None, "")]
    if missing:
        raise SpotShieldError(f"Terraform variable(s) {', '.join(missing)} must be set")
    for key, value in values.items():
        if not _fits(TFVARS_SCHEMA[key], value):
            raise SpotShieldError(
                f"Terraform variable {key} must be a {TFVARS_SCHEMA[key]}, not {type(value).__name__} {value!r}")
    return values


def render(settings: StackSettings, *, build_url: str, build_id: str, trainer_config: dict,
           build_sha256: str = "", deadline_config: dict | None = None,
           workdir: tuple[str, str] | None = None) -> dict:
    """The variables for the root module. trainer_config is the merged trainer config; workdir is
    (url, sha256) of the published workdir in command mode."""
    values = {
        "project": settings.project,
        "region": settings.region,
        "zones": list(settings.zones),
        "name": settings.name,
        "machine_type": settings.machine_type,
        "gpu_type": settings.gpu_type or "",
        "gpu_count": gpu_count(settings),
        "fleet_size": settings.fleet_size,
        "bucket_name": settings.bucket_name,
        "run_id": settings.run_id,
        "strategy": settings.strategy,
        "termination_action": settings.termination_action,
        "provisioning_model": settings.provisioning_model,
        "build_url": build_url,
        "build_id": build_id,
        "build_sha256": build_sha256,  # VMs refuse a download whose sha256 differs
        # JSON is YAML: startup.sh writes it to a file and passes it as --config.
        "trainer_config": json.dumps(trainer_config, sort_keys=True),
        "health_port": int(trainer_config.get("health_port", 8080)),
        "deadline_config": json.dumps(deadline_config, sort_keys=True) if deadline_config else "",
        "command": settings.command or "",
        "workdir_url": workdir[0] if settings.command and workdir else "",
        "workdir_sha256": workdir[1] if settings.command and workdir else "",
        "min_nodes": settings.min_nodes,
        "compact_placement": bool(settings.compact_placement),
    }
    return check_tfvars(values)


def gpu_count(settings: StackSettings) -> int:
    """The GPUs per VM the root module gets (none without a GPU type)."""
    return settings.gpu_count if settings.gpu_type else 0


def has_coordinator(settings: StackSettings) -> bool:
    """Whether the root module declares the rendezvous coordinator VM for these settings: its
    local.distributed (terraform/main.tf), a job under torchrun on a running fleet."""
    return bool(settings.command) and settings.fleet_size >= 1 and (settings.fleet_size > 1 or gpu_count(settings) > 1)


def write(values: dict, terraform_dir: str | Path) -> Path:
    path = Path(terraform_dir) / TFVARS_NAME
    try:
        path.write_text(json.dumps(values, indent=2, sort_keys=True) + "\n")
    except OSError as e:
        raise SpotShieldError(f"cannot write {path}: {e.strerror}") from None
    return path
