"""Render StackSettings into terraform/spotshield.auto.tfvars.json.

Terraform loads *.auto.tfvars.json by itself, so `init/plan/apply/destroy` need no -var
flags and the file shows exactly what was applied. The root module's variables are named
by TFVARS_SCHEMA (spotshield/validate/tfvars.py, the Terraform engineer's); check_tfvars
holds our values against it, so a renamed or retyped variable fails here with one clear
line, not halfway through an apply.
"""
from __future__ import annotations

import json
from pathlib import Path

from spotshield.errors import SpotShieldError
from spotshield.settings import StackSettings
from spotshield.validate.tfvars import check_tfvars

TFVARS_NAME = "spotshield.auto.tfvars.json"


def render(settings: StackSettings, *, build_url: str, build_id: str, trainer_config: dict,
           build_sha256: str = "") -> dict:
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
        "build_sha256": build_sha256,  # VMs refuse a download whose sha256 differs
        # JSON is YAML: startup.sh writes it to a file and passes it as --config.
        "trainer_config": json.dumps(trainer_config, sort_keys=True),
        "health_port": int(trainer_config.get("health_port", 8080)),
    }
    return check_tfvars(values)


def write(values: dict, terraform_dir: str | Path) -> Path:
    path = Path(terraform_dir) / TFVARS_NAME
    try:
        path.write_text(json.dumps(values, indent=2, sort_keys=True) + "\n")
    except OSError as e:
        raise SpotShieldError(f"cannot write {path}: {e.strerror}") from None
    return path
