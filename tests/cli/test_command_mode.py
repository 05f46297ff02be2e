"""`up --command ... --workdir DIR`: options, the settings key, and bad input before anything is created."""
from __future__ import annotations

import pytest

from spotshield.settings import load_settings
from tests.cli.test_stack import one_error_line


def test_up_help_documents_command_and_workdir(cli):
    out = " ".join(cli("up", "--help").stdout.split())
    for opt, env in (("--command", "SPOTSHIELD_COMMAND"), ("--workdir", "SPOTSHIELD_WORKDIR")):
        assert opt in out and env in out


@pytest.mark.parametrize("args,needle", [
    (("up", "--command", "  "), "command is empty"),
    (("up", "--command", "python train.py", "--workdir", "nowhere"), "workdir nowhere is not a folder"),
    (("up", "--command", "python train.py"), "script train.py is not in the workdir ."),
    (("up", "--command", "python 'train.py"), "does not parse"),
    (("up", "--workdir", "."), "--workdir ships a folder for --command"),
    (("up", "--fleet-size", "2", "--min-nodes", "3"), "min_nodes 3 is greater than fleet_size 2"),  # built-in trainer
    (("up", "--command", "python t.py", "--workdir", "w", "--fleet-size", "2", "--min-nodes", "3"),
     "min_nodes 3 is greater than fleet_size 2"),
    (("up", "--command", "bash -c true", "--workdir", "w", "--fleet-size", "2"), "not a Python script"),
    (("up", "--command", "torchrun t.py", "--workdir", "w", "--fleet-size", "2"), "launches torchrun itself"),
])
def test_bad_command_mode_is_one_line_and_nothing_is_created(cli, root, args, needle):
    (root / "w").mkdir()
    (root / "w" / "t.py").write_text("print(1)\n")
    assert needle in one_error_line(cli(*args))
    assert not (root / ".spotshield").exists()  # no emulator started, no record written


def test_an_empty_workdir_fails_before_anything_starts(cli, root):
    (root / "w").mkdir()
    (root / "w" / "__pycache__").mkdir()
    line = one_error_line(cli("up", "--command", "bash -c true", "--workdir", "w"))
    assert "has no files to ship" in line
    assert not (root / ".spotshield" / "local").exists()


def test_command_comes_from_the_settings_file_or_the_environment(root, monkeypatch):
    (root / "w").mkdir()
    (root / "w" / "train.py").write_text("")
    (root / "spotshield.yaml").write_text("command: python train.py --epochs 5\nworkdir: w\n")
    s = load_settings()
    assert s.command == "python train.py --epochs 5" and s.workdir_path.name == "w"
    assert load_settings({"command": "python -u train.py"}).command == "python -u train.py"  # CLI/env wins
    assert load_settings({"command": None}).command == "python train.py --epochs 5"
