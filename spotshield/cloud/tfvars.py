"""Render StackSettings into terraform/spotshield.auto.tfvars.json.

Terraform loads *.auto.tfvars.json by itself, so `init/plan/apply/destroy` need no -var
flags and the file shows exactly what was applied. The root module's variables are named
by TFVARS_SCHEMA (spotshield/validate/, the Terraform engineer's); we check our keys
against it so a renamed variable fails here, with a clear line, not inside Terraform.
"""
from __future__ import annotations

import json
from pathlib import Path

from spotshield.errors import SpotShieldError
from spotshield.settings import StackSettings

TFVARS_NAME = "spotshield.auto.tfvars.json"


def schema() -> dict | None:
    """TFVARS_SCHEMA as {name: anything}, or None until the Terraform module ships it."""
    import importlib

    found = None
    for mod in ("spotshield.validate.tfvars", "spotshield.validate"):
        try:
            found = getattr(importlib.import_module(mod), "TFVARS_SCHEMA", None)
        except ImportError:
            continue
        if found is not None:
            break
    if found is None:
        return None
    return dict(found) if isinstance(found, dict) else {name: None for name in found}


def render(settings: StackSettings, *, build_url: str, build_id: str, trainer_config: dict) -> dict:
    """The variables for the root module. trainer_config is the merged trainer config."""
    values = {
        "project": settings.project,
        "region": settings.region,
        "zones": list(settings.zones),
        "name": settings.name,
        "machine_type": settings.machine_type,
        "gpu_type": settings.gpu_type or "",
        "gpu_count": settings.gpu_count if settings.gpu_type else 0,
        "fleet_size": settings.fleet_size,
        "bucket_name": settings.bucket_name,
        "run_id": settings.run_id,
        "strategy": settings.strategy,
        "termination_action": settings.termination_action,
        "build_url": build_url,
        "build_id": build_id,
        # JSON is YAML: startup.sh writes it to a file and passes it as --config.
        "trainer_config": json.dumps(trainer_config, sort_keys=True),
        "health_port": int(trainer_config.get("health_port", 8080)),
    }
    known = schema()
    if known is None:
        return values
    missing = [k for k in values if k not in known]
    if missing:
        raise SpotShieldError(
            f"terraform/ does not declare variable(s) {', '.join(missing)}; update spotshield/cloud/tfvars.py "
            "or the root module so they agree"
        )
    return values


def write(values: dict, terraform_dir: str | Path) -> Path:
    path = Path(terraform_dir) / TFVARS_NAME
    try:
        path.write_text(json.dumps(values, indent=2, sort_keys=True) + "\n")
    except OSError as e:
        raise SpotShieldError(f"cannot write {path}: {e.strerror}") from None
    return path
