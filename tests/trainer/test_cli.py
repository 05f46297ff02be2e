"""The real `spotshield` console script, in subprocesses."""
import json

import pytest

from spotshield.local.gcs import free_port
from spotshield.storage import open_store

from trainer_helpers import SPOTSHIELD, run_cli


def assert_one_line_error(proc, *needles):
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error:")
    for needle in needles:
        assert needle in lines[0]


@pytest.mark.parametrize("flags,needle", [
    (["--model", "vgg16"], "unknown model 'vgg16'"),
    (["--strategy", "hourly"], "unknown strategy 'hourly'"),
    (["--data", "imagenet"], "unknown data 'imagenet'"),
    (["--strategy", "naive", "--set", "strategies.naive.every_steps=-5"], "every_steps must be >= 0"),
    (["--epochs", "-2"], "epochs must be > 0"),
    (["--epochs", "two"], "Invalid value for '--epochs'"),
    (["--set", "nonsense"], "--set needs KEY=VALUE"),
])
def test_bad_flags_one_line_exit_1(tmp_path, flags, needle):
    proc = run_cli([SPOTSHIELD, "train", "--store", f"file://{tmp_path}/s", *flags], timeout=60)
    assert_one_line_error(proc, needle)


def test_options_read_their_envvars(tmp_path):
    proc = run_cli([SPOTSHIELD, "train"], timeout=60, SPOTSHIELD_TRAIN_STORE=f"file://{tmp_path}/s",
                   SPOTSHIELD_TRAIN_MODEL="vgg16")
    assert_one_line_error(proc, "unknown model 'vgg16'")


def test_flags_win_over_envvars(tmp_path):
    proc = run_cli([SPOTSHIELD, "train", "--store", f"file://{tmp_path}/s", "--strategy", "hourly"], timeout=60,
                   SPOTSHIELD_TRAIN_STRATEGY="naive", SPOTSHIELD_TRAIN_SET="checkpoint.keep=2 seed=1")
    assert_one_line_error(proc, "unknown strategy 'hourly'")


def test_malformed_yaml_one_line_exit_1(tmp_path):
    bad = tmp_path / "exp.yaml"
    bad.write_text("epochs: 3\nmodel: {tiny-cnn\n")
    proc = run_cli([SPOTSHIELD, "train", "--config", str(bad), "--store", f"file://{tmp_path}/s"], timeout=60)
    assert_one_line_error(proc, "config file", "exp.yaml", "is not valid YAML at line")


def test_unreachable_store_one_line_exit_1(tmp_path):
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    proc = run_cli([SPOTSHIELD, "train", "--store", "gs://bucket/run", "--set", "metadata_watch=false"],
                   timeout=60, STORAGE_EMULATOR_HOST=dead)
    assert_one_line_error(proc, "cannot reach gs://bucket/run")


def test_bad_store_url_one_line_exit_1():
    proc = run_cli([SPOTSHIELD, "train", "--store", "s3://bucket/x"], timeout=60)
    assert_one_line_error(proc, "unsupported store URL")


def test_issue_example_command_trains_and_done_store_exits_at_once(tmp_path):
    url = f"file://{tmp_path}/run1"
    args = [SPOTSHIELD, "train", "--model", "tiny-cnn", "--data", "digits", "--epochs", "3",
            "--strategy", "naive", "--store", url, "--seed", "0"]
    proc = run_cli(args)
    assert proc.returncode == 0, proc.stderr
    store = open_store(url)
    assert store.exists("DONE") and store.exists("final/model.pt")
    done = json.loads(store.read("DONE"))
    assert done["accuracy"] >= 0.9  # 3 epochs of tiny-cnn on digits
    events_before = store.list("events")
    again = run_cli(args, timeout=60)
    assert again.returncode == 0, again.stderr
    assert store.list("events") == events_before  # exited before starting anything


def test_version_still_there():
    proc = run_cli([SPOTSHIELD, "version"], timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip()


def test_cli_imports_without_torch():
    import subprocess
    import sys

    code = ("import sys, spotshield.cli.main, spotshield.trainer.config, spotshield.trainer.run;"
            "assert 'torch' not in sys.modules, 'torch imported at CLI start-up'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
