"""Bad input for a distributed job: one clear line each."""
from __future__ import annotations

import pytest

from spotshield.distributed.checks import LaunchTarget, check_command, check_nodes
from spotshield.distributed.machines import FIXED, check_gpus
from spotshield.errors import SpotShieldError


def _line(excinfo) -> str:
    msg = str(excinfo.value)
    assert "\n" not in msg and msg
    return msg


def test_min_nodes_greater_than_fleet_size():
    with pytest.raises(SpotShieldError) as e:
        check_nodes(3, 2)
    assert _line(e) == "min_nodes 3 is greater than fleet_size 2; set min_nodes to 1..2"
    with pytest.raises(SpotShieldError, match="min_nodes must be >= 1"):
        check_nodes(0, 2)
    with pytest.raises(SpotShieldError, match="fleet_size must be >= 1"):
        check_nodes(1, 0)
    assert check_nodes(1, 3) == (1, 3) and check_nodes(2, 2) == (2, 2)


@pytest.mark.parametrize("machine,gpu,count,msg", [
    ("g2-standard-4", "nvidia-l4", 2, "g2-standard-4 carries exactly 1 x nvidia-l4, not 2; for 2 choose g2-standard-24"),
    ("a2-highgpu-1g", "nvidia-l4", 1, "a2-highgpu-1g carries nvidia-tesla-a100, not nvidia-l4"),
    ("a3-megagpu-8g", "nvidia-h100-mega-80gb", 4, "carries exactly 8 x nvidia-h100-mega-80gb, not 4"),
    ("g2-standard-6", "nvidia-l4", 1, "unknown machine type 'g2-standard-6'"),
    ("g2-standard-8", None, 0, "g2-standard-8 comes with 1 x nvidia-l4; set gpu_type nvidia-l4 and gpu_count 1"),
    ("n1-standard-8", "nvidia-tesla-t4", 8, "n1 machine types carry 1, 2, 4 x nvidia-tesla-t4, not 8"),
    ("n1-standard-16", "nvidia-tesla-v100", 1, "n1-standard-16 has 16 vCPUs; 1 x nvidia-tesla-v100 allows at most 12"),
    ("n1-standard-4", "nvidia-l4", 1, "n1 machine types carry nvidia-tesla-t4"),
    ("e2-standard-4", "nvidia-tesla-t4", 1, "e2-standard-4 cannot carry GPUs"),
    ("n1-standard-4", "nvidia-tesla-t4", -1, "gpu_count must be >= 0"),
])
def test_a_gpu_count_the_machine_cannot_carry(machine, gpu, count, msg):
    with pytest.raises(SpotShieldError) as e:
        check_gpus(machine, gpu, count)
    assert msg in _line(e)


@pytest.mark.parametrize("machine,gpu,count", [
    ("g2-standard-4", "nvidia-l4", 1), ("g2-standard-96", "nvidia-l4", 8), ("a2-ultragpu-8g", "nvidia-a100-80gb", 8),
    ("a3-highgpu-8g", "nvidia-h100-80gb", 8), ("n1-standard-8", "nvidia-tesla-v100", 2),
    ("n1-highmem-96", "nvidia-tesla-t4", 4), ("e2-standard-4", None, 0), ("n2-standard-8", "", 0),
])
def test_combinations_google_offers_pass(machine, gpu, count):
    check_gpus(machine, gpu, count)


def test_the_fixed_table_is_consistent():
    for machine, (gpu, count) in FIXED.items():
        check_gpus(machine, gpu, count)
        assert machine.split("-")[0] in ("a2", "a3", "g2") and count in (1, 2, 4, 8, 16)


@pytest.mark.parametrize("command,target", [
    ("python train.py --lr 0.1", LaunchTarget("train.py", args=["--lr", "0.1"])),
    ("python3 -u src/train.py", LaunchTarget("src/train.py")),
    ("/usr/bin/python3.11 -m pkg.train --epochs 3", LaunchTarget("pkg.train", module=True, args=["--epochs", "3"])),
    ("train.py", LaunchTarget("train.py")),
    (["python", "-m", "trainer"], LaunchTarget("trainer", module=True)),
    ("python train.py 'a b'", LaunchTarget("train.py", args=["a b"])),
])
def test_torchrun_compatible_commands(command, target):
    assert check_command(command) == target


@pytest.mark.parametrize("command,msg", [
    ("", "command is empty"),
    ("torchrun --nproc-per-node 2 train.py", "launches torchrun itself"),
    ("python -m torch.distributed.run train.py", "launches torch.distributed.run itself"),
    ("bash run.sh", "runs 'bash', not a Python script"),
    ("./train.sh", "not a Python script"),
    ("python -c 'print(1)'", "python -c"),
    ("python -X dev train.py", "python option -X"),
    ("python train.py | tee log", "shell syntax '|'"),
    ("python train.py && echo done", "shell syntax '&&'"),
    ("python train.py --out $(date)", "shell substitution"),
    ("python", "names no script or module"),
    ("python -m 9bad", "-m needs a module name"),
    ("python 'unclosed", "does not parse"),
])
def test_commands_torchrun_cannot_launch(command, msg):
    with pytest.raises(SpotShieldError) as e:
        check_command(command)
    assert msg in _line(e)


def test_a_script_missing_from_the_workdir(tmp_path):
    (tmp_path / "train.py").write_text("")
    assert check_command("python train.py", workdir=tmp_path).target == "train.py"
    with pytest.raises(SpotShieldError, match="script eval.py is not in the workdir"):
        check_command("python eval.py", workdir=tmp_path)
