"""terraform/machines.tf and spotshield/distributed/machines.py hold the same table of fixed-GPU machine
types, evaluated by the real terraform (console, no provider needed)."""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from spotshield.distributed.machines import FIXED

pytestmark = pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not on PATH")


def test_the_terraform_table_is_the_cli_table(repo, tmp_path):
    shutil.copy(repo / "terraform" / "machines.tf", tmp_path)
    (tmp_path / "variables.tf").write_text('variable "machine_type" {\n  type    = string\n  default = "g2-standard-4"\n}\n')
    out = subprocess.run(["terraform", "console"], input="jsonencode(local.gpu_machines)\n", cwd=tmp_path,
                         capture_output=True, text=True, timeout=60, check=True).stdout
    table = json.loads(json.loads(out.strip()))  # console prints the JSON as an HCL string
    assert {m: (v["gpu"], v["count"]) for m, v in table.items()} == FIXED


def test_the_terraform_compact_families_are_the_cli_ones(repo, tmp_path):
    from spotshield.distributed.machines import COMPACT_FAMILIES

    shutil.copy(repo / "terraform" / "machines.tf", tmp_path)
    (tmp_path / "variables.tf").write_text('variable "machine_type" {\n  type    = string\n  default = "g2-standard-4"\n}\n')
    out = subprocess.run(["terraform", "console"], input="jsonencode(local.compact_families)\n", cwd=tmp_path,
                         capture_output=True, text=True, timeout=60, check=True).stdout
    assert tuple(json.loads(json.loads(out.strip()))) == COMPACT_FAMILIES
