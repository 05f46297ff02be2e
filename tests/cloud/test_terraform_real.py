"""TerraformRunner and `down` against the real terraform binary (1.11 on PATH), offline.

The config has the root module's shape (modules network, checkpoint_bucket, spot_fleet) built from
terraform_data, which is built into Terraform: no provider is downloaded. The fleet's resources
depend on the bucket's output, as the real IAM binding does, so a targeted destroy that dragged
the bucket along would show here.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from spotshield.cloud import gcp
from spotshield.cloud.terraform import TerraformRunner

pytestmark = pytest.mark.skipif(not shutil.which("terraform"), reason="terraform is not on PATH")

FILES = {
    "main.tf": """
module "network" {
  source = "./modules/network"
  name   = var.name
}
module "checkpoint_bucket" {
  source = "./modules/checkpoint-bucket"
  name   = "${var.name}-ckpt"
}
module "spot_fleet" {
  source      = "./modules/spot-fleet"
  name        = var.name
  bucket_name = module.checkpoint_bucket.name
  subnet      = module.network.subnet
}
variable "name" {
  type    = string
  default = "ss"
}
output "bucket_name" {
  value = module.checkpoint_bucket.name
}
output "mig_name" {
  value = module.spot_fleet.mig
}
""",
    "modules/network/main.tf": """
variable "name" { type = string }
resource "terraform_data" "vpc" { input = "${var.name}-vpc" }
resource "terraform_data" "subnet" { input = "${terraform_data.vpc.output}-subnet" }
output "subnet" { value = terraform_data.subnet.output }
""",
    # Stands in for google_storage_bucket.this: the same module, the same resource name.
    "modules/checkpoint-bucket/main.tf": """
variable "name" { type = string }
resource "terraform_data" "this" { input = var.name }
output "name" { value = terraform_data.this.output }
""",
    "modules/spot-fleet/main.tf": """
variable "name" { type = string }
variable "bucket_name" { type = string }
variable "subnet" { type = string }
resource "terraform_data" "trainer_objects" { input = "objectAdmin on ${var.bucket_name}" }
resource "terraform_data" "template" { input = "${var.name} in ${var.subnet}" }
resource "terraform_data" "fleet" { input = terraform_data.template.output }
output "mig" { value = "${var.name}-mig" }
""",
}


@pytest.fixture
def stack(tmp_path) -> Path:
    root = tmp_path / "repo"
    for rel, text in FILES.items():
        path = root / "terraform" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.lstrip())
    return root


def test_every_command_the_runner_sends_is_accepted(stack):
    seen: list[str] = []
    tf = TerraformRunner(stack / "terraform", echo=seen.append)
    tf.init()
    assert "Terraform has been successfully initialized!" in seen
    assert "Plan: 6 to add, 0 to change, 0 to destroy." in tf.plan()
    tf.apply()
    assert tf.outputs() == {"bucket_name": "ss-ckpt", "mig_name": "ss-mig"}
    assert sorted(tf.state_list()) == [
        "module.checkpoint_bucket.terraform_data.this",
        "module.network.terraform_data.subnet",
        "module.network.terraform_data.vpc",
        "module.spot_fleet.terraform_data.fleet",
        "module.spot_fleet.terraform_data.template",
        "module.spot_fleet.terraform_data.trainer_objects",
    ]
    tf.destroy(["module.network.terraform_data.vpc"])  # and what depends on it: subnet, template, fleet
    assert sorted(tf.state_list()) == ["module.checkpoint_bucket.terraform_data.this",
                                       "module.spot_fleet.terraform_data.trainer_objects"]
    tf.destroy()
    assert tf.state_list() == []


def test_down_destroys_everything_but_the_bucket(stack, monkeypatch):
    # the emulator's endpoint variable skips the credential and API checks; terraform is real
    monkeypatch.setenv("SPOTSHIELD_COMPUTE_ENDPOINT", "http://127.0.0.1:9")
    tf = TerraformRunner(stack / "terraform", echo=lambda line: None)
    tf.init()
    tf.apply()
    seen: list[str] = []
    gcp.down("proj-test", "ss-ckpt", seen.append, root=stack)
    assert tf.state_list() == ["module.checkpoint_bucket.terraform_data.this"]
    assert tf.outputs()["bucket_name"] == "ss-ckpt"  # still readable after down
    assert "-- keeping module.checkpoint_bucket.terraform_data.this (checkpoints); pass --delete-checkpoints " \
           "to remove it" in seen
    seen.clear()
    gcp.down("proj-test", "ss-ckpt", seen.append, root=stack)  # a second down: the bucket stays
    assert tf.state_list() == ["module.checkpoint_bucket.terraform_data.this"]


def test_kept_by_down():
    assert gcp.kept_by_down("module.checkpoint_bucket.google_storage_bucket.this")
    assert gcp.kept_by_down("module.checkpoint_bucket.terraform_data.this")
    assert gcp.kept_by_down('google_storage_bucket.extra["a"]')
    assert not gcp.kept_by_down("module.spot_fleet.google_storage_bucket_iam_member.trainer_objects")
    assert not gcp.kept_by_down("module.spot_fleet.google_project_iam_custom_role.fleet_stop")
