"""tfvars: every root-module variable the schema names, with the right types and values."""
from __future__ import annotations

import json

import pytest

from spotshield.backends.base import fleet_trainer_config
from spotshield.cloud import tfvars
from spotshield.cloud.tfvars import TFVARS_SCHEMA
from spotshield.errors import SpotShieldError
from spotshield.settings import load_settings


def settings(**kw):
    s = load_settings({"project": "my-proj-1", "run_id": "adaptive-1", **kw})
    return s, fleet_trainer_config(s)


def test_render_writes_the_whole_schema(root):
    s, tcfg = settings(zones="us-central1-a,us-central1-c", strategy="milestone", fleet_size=2)
    values = tfvars.render(s, build_url="gs://b/builds/x.tar.gz", build_id="0.1.0+abc", trainer_config=tcfg,
                           build_sha256="ab" * 32)
    assert set(values) == set(TFVARS_SCHEMA)
    assert values["project"] == "my-proj-1" and values["zones"] == ["us-central1-a", "us-central1-c"]
    assert values["bucket_name"] == "my-proj-1-spotshield-ckpt" and values["fleet_size"] == 2
    cfg = json.loads(values["trainer_config"])
    assert cfg["strategy"] == "milestone" and cfg["store"] == "gs://my-proj-1-spotshield-ckpt/runs/adaptive-1"
    assert cfg["run_id"] == "adaptive-1" and values["health_port"] == cfg["health_port"]
    assert values["build_sha256"] == "ab" * 32
    path = tfvars.write(values, root)
    assert path.name == "spotshield.auto.tfvars.json" and json.loads(path.read_text()) == values


def test_no_gpu_writes_zero(root):
    s, tcfg = settings(gpu_type="", machine_type="n1-standard-4")
    values = tfvars.render(s, build_url="", build_id="", trainer_config=tcfg)
    assert (values["gpu_type"], values["gpu_count"]) == ("", 0)


def test_schema_mismatch_is_one_line(root, monkeypatch):
    monkeypatch.delitem(tfvars.TFVARS_SCHEMA, "health_port")
    s, tcfg = settings()
    with pytest.raises(SpotShieldError, match="unknown Terraform variable\\(s\\) health_port"):
        tfvars.render(s, build_url="", build_id="", trainer_config=tcfg)


def test_command_mode_renders_the_command_and_workdir(root):
    (root / "train.py").write_text("")
    s, tcfg = settings(command="python train.py --epochs 5")
    values = tfvars.render(s, build_url="", build_id="", trainer_config=tcfg,
                           workdir=("gs://b/workdirs/0123456789abcdef.tar.gz", "cd" * 32))
    assert values["command"] == "python train.py --epochs 5"
    assert (values["workdir_url"], values["workdir_sha256"]) == ("gs://b/workdirs/0123456789abcdef.tar.gz", "cd" * 32)
    s, tcfg = settings()  # the built-in trainer: empty, as the variables' defaults
    values = tfvars.render(s, build_url="", build_id="", trainer_config=tcfg, workdir=("gs://x", "y"))
    assert (values["command"], values["workdir_url"], values["workdir_sha256"]) == ("", "", "")


def test_a_torchrun_job_writes_its_node_range(root):
    (root / "train.py").write_text("")
    s, tcfg = settings(fleet_size=3, min_nodes=2, command="python train.py", workdir=str(root))
    values = tfvars.render(s, build_url="", build_id="", trainer_config=tcfg,
                           workdir=("gs://b/workdirs/0123456789abcdef.tar.gz", "cd" * 32))
    assert (values["fleet_size"], values["min_nodes"], values["command"]) == (3, 2, "python train.py")
    s, tcfg = settings()
    assert tfvars.render(s, build_url="", build_id="", trainer_config=tcfg)["min_nodes"] is None  # = fleet_size


@pytest.mark.parametrize("kw, declared", [
    ({"fleet_size": 2, "command": "python train.py"}, True),
    ({"fleet_size": 1, "command": "python train.py", "gpu_count": 2, "machine_type": "g2-standard-24"}, True),
    ({"fleet_size": 1, "command": "python train.py"}, False),  # one process on one VM
    ({"fleet_size": 1, "command": "python train.py", "gpu_count": 2, "gpu_type": "", "machine_type": "n1-standard-4"},
     False),  # no GPU at all
    ({"fleet_size": 0, "command": "python train.py", "gpu_count": 2, "machine_type": "g2-standard-24"}, False),
    ({"fleet_size": 2}, False),  # the built-in trainer: no torchrun job
])
def test_has_coordinator_is_the_root_modules_distributed_rule(root, kw, declared):
    """terraform/main.tf local.distributed: the stack record says so, and status bills the VM (issue 13)."""
    (root / "train.py").write_text("")
    s = load_settings({"project": "my-proj-1", "run_id": "r1", **({"workdir": str(root)} if "command" in kw else {}),
                       **kw})
    assert tfvars.has_coordinator(s) is declared
    values = tfvars.render(s, build_url="", build_id="", trainer_config=fleet_trainer_config(s))
    assert declared == (values["command"] != "" and values["fleet_size"] >= 1
                        and (values["fleet_size"] > 1 or values["gpu_count"] > 1))  # main.tf's expression
