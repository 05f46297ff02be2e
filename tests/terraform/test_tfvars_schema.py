"""TFVARS_SCHEMA (what the CLI writes) against terraform/variables.tf and check_tfvars."""
from __future__ import annotations

import json

import pytest

from spotshield.errors import SpotShieldError
from spotshield.settings import StackSettings
from spotshield.validate.hcl import load_stack, tf_type
from spotshield.cloud.tfvars import TFVARS_SCHEMA, check_tfvars


def test_every_cli_variable_is_declared_with_its_type(repo):
    declared = load_stack(repo).root.variables
    for name, want in TFVARS_SCHEMA.items():
        assert name in declared, name
        assert tf_type(declared[name]) == want, name


def test_a_settings_object_renders_to_valid_tfvars():
    s = StackSettings(backend="gcp", project="demo-project-123", run_id="adaptive-1").check()
    values = {"project": s.project, "region": s.region, "zones": s.zones, "name": s.name,
              "machine_type": s.machine_type, "gpu_type": s.gpu_type, "gpu_count": s.gpu_count,
              "fleet_size": s.fleet_size, "bucket_name": s.bucket_name, "run_id": s.run_id,
              "strategy": s.strategy, "termination_action": s.termination_action,
              "provisioning_model": s.provisioning_model,
              "trainer_config": json.dumps({"model": "tiny-cnn"}), "build_url": "", "build_id": "", "build_sha256": "",
              "health_port": 8080, "deadline_config": "", "command": "", "workdir_url": "", "workdir_sha256": "",
              "min_nodes": None, "compact_placement": False}
    assert check_tfvars(values) is values
    assert set(values) == set(TFVARS_SCHEMA)


@pytest.mark.parametrize("values, words", [
    ({"project": "p-123456", "run_id": "r", "fleet_size": "2"}, "fleet_size must be a number"),
    ({"project": "p-123456", "run_id": "r", "zones": "us-central1-a"}, "zones must be a list(string)"),
    ({"project": "p-123456", "run_id": "r", "gpu_count": True}, "gpu_count must be a number"),
    ({"project": "p-123456", "run_id": "r", "bucket": "b"}, "unknown Terraform variable(s) bucket"),
    ({"project": "p-123456"}, "run_id must be set"),
])
def test_bad_tfvars_give_one_line(values, words):
    with pytest.raises(SpotShieldError) as e:
        check_tfvars(values)
    assert words in str(e.value) and "\n" not in str(e.value)
