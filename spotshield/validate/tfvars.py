"""The variables `spotshield up` writes to terraform/spotshield.auto.tfvars.json.

TFVARS_SCHEMA maps each root-module variable the CLI writes to its Terraform type. The CLI
builds its tfvars from it (check_tfvars before writing), and tests/terraform checks every
entry against terraform/variables.tf, so a renamed or retyped variable fails a test, not `up`.
"""
from __future__ import annotations

from spotshield.errors import SpotShieldError

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
    "trainer_config": "string",  # the merged trainer config as a JSON object string
    "build_url": "string",  # gs://bucket/builds/<archive>; "" = the spotshield on the image
    "build_id": "string",  # what `python -m spotshield.buildinfo` prints for that build
    "build_sha256": "string",  # optional: sha256 of the archive; VMs refuse a mismatching download
    "health_port": "number",
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
