"""Settings precedence: CLI > SPOTSHIELD_* env > spotshield.yaml / [tool.spotshield] > defaults."""
from __future__ import annotations

import pytest

from spotshield.project import project_root
from spotshield.settings import load_settings
from spotshield.errors import SpotShieldError


def test_defaults_pick_the_local_backend(root):
    s = load_settings({})
    assert (s.backend, s.project, s.region, s.strategy) == ("local", None, "us-central1", "adaptive")


def test_pyproject_section_then_yaml_wins(root):
    (root / "pyproject.toml").write_text('[tool.spotshield]\nregion = "europe-west4"\nzones = "europe-west4-a"\n'
                                         'machine_type = "n1-standard-8"\ngpu_type = "nvidia-tesla-t4"\n')
    s = load_settings({})
    assert (s.region, s.zones, s.machine_type) == ("europe-west4", ["europe-west4-a"], "n1-standard-8")
    (root / "spotshield.yaml").write_text("project: my-proj-1\nzones: [us-central1-b]\ntrainer:\n  epochs: 3\n")
    s = load_settings({})
    # spotshield.yaml is the file; pyproject is not merged under it
    assert (s.region, s.zones, s.machine_type) == ("us-central1", ["us-central1-b"], "g2-standard-4")
    assert s.project == "my-proj-1" and s.backend == "gcp"  # a project makes gcp the default
    assert s.trainer_overrides == {"epochs": 3}


def test_cli_beats_file(root):
    (root / "spotshield.yaml").write_text("strategy: naive\nrate: 10\n")
    s = load_settings({"strategy": "milestone", "rate": None})
    assert (s.strategy, s.rate) == ("milestone", 10.0)


def test_env_beats_file_through_the_cli(root, cli, monkeypatch):
    (root / "spotshield.yaml").write_text("strategy: naive\n")
    monkeypatch.setenv("SPOTSHIELD_STRATEGY", "bogus-from-env")
    r = cli("plan")
    assert r.exit_code == 1
    assert "unknown strategy 'bogus-from-env'" in r.stderr  # env was used, not the file's naive


@pytest.mark.parametrize("content,needle", [
    ("regoin: x\n", "unknown setting 'regoin'"),
    ("zones: 5\n", "zones in"),
    ("- a\n- b\n", "must hold a mapping"),
    ("a: [\n", "is not valid YAML"),
    ("gpu_count: many\n", "gpu_count must be a number"),
])
def test_bad_files_are_one_clear_line(root, content, needle):
    (root / "spotshield.yaml").write_text(content)
    with pytest.raises(SpotShieldError, match=needle.replace("[", r"\[")):
        load_settings({})


def test_project_root_walks_up(root, monkeypatch):
    monkeypatch.delenv("SPOTSHIELD_ROOT")
    (root / "pyproject.toml").write_text("")
    sub = root / "a" / "b"
    sub.mkdir(parents=True)
    assert project_root(sub) == root


@pytest.mark.parametrize("args,needle", [
    (["--machine-type", "g2-standard-4", "--gpu-count", "2"], "g2-standard-4 carries exactly 1 x nvidia-l4, not 2; "
                                                               "for 2 choose g2-standard-24"),
    (["--machine-type", "e2-standard-4"], "e2-standard-4 cannot carry GPUs; set gpu_count 0 for a CPU-only VM, or "
                                          "use an n1 type with T4/V100/P100/P4, or an a2, a3 or g2 type"),
    (["--machine-type", "n1-standard-8", "--gpu-type", "nvidia-tesla-t4", "--gpu-count", "3"],
     "n1 machine types carry 1, 2, 4 x nvidia-tesla-t4, not 3"),
])
def test_a_gpu_count_the_machine_type_cannot_carry_is_one_line_before_anything_starts(root, cli, args, needle):
    r = cli("plan", *args)
    assert r.exit_code == 1
    assert r.stderr.strip().splitlines() == [f"error: {needle}"], r.stderr


@pytest.mark.parametrize("args", [["--machine-type", "g2-standard-24", "--gpu-count", "2"],
                                  ["--machine-type", "e2-standard-4", "--gpu-count", "0"]])
def test_a_machine_type_and_the_gpus_it_carries_plan(root, cli, args):
    r = cli("plan", *args)
    assert r.exit_code == 0, r.stderr
