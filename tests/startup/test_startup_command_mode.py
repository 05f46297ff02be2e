"""startup.sh in command mode (metadata spotshield-command): the shipped workdir, its requirements
venv cached across boots, the user's command under the trainer's environment and exit-code contract."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from servers import ComputeRecorder, MetadataServer
from boot_helpers import REPO, STARTUP, boot_env, gcs_put, run_script
from test_startup import attrs

from spotshield import workdir

BUILD = "0.1.0+3f2a9c1d2e4b"


def ship(tmp_path, gcs_server, bucket, files: dict) -> tuple[str, str]:
    root = tmp_path / "userdir"
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    packed = workdir.pack(root)
    gcs_put(gcs_server.url, bucket, packed.key, packed.data)
    return f"gs://{bucket}/{packed.key}", packed.sha256


def command_attrs(bucket, url, sha, command="python train.py --epochs 2"):
    return attrs(bucket, **{"spotshield-command": command, "spotshield-workdir-url": url,
                            "spotshield-workdir-sha256": sha})


def boot(tmp_path, md, gcs_server, fake_python, compute="", boot_id="boot-1", **env_over):
    env = boot_env(tmp_path, md.host, gcs_server.url, fake_python, compute)
    # the real `-m spotshield.workdir` of this checkout (the shared venv may hold another one)
    env.update(FAKE_INSTALLED_BUILD=BUILD, SPOTSHIELD_BOOT=boot_id, PYTHONPATH=str(REPO), **env_over)
    return run_script(STARTUP, env)


def test_the_command_runs_in_the_verified_workdir_with_the_trainers_environment(
        tmp_path, fake_python, gcs_server, gcs_bucket):
    url, sha = ship(tmp_path, gcs_server, gcs_bucket, {"train.py": "print(1)\n", "lib/m.py": ""})
    with MetadataServer(command_attrs(gcs_bucket, url, sha)) as md, ComputeRecorder() as compute:
        proc = boot(tmp_path, md, gcs_server, fake_python, compute.url, FAKE_TRAIN_RC="75")
    assert proc.returncode == 75, proc.stderr  # the command's code, unchanged: preempted
    fake = tmp_path / "fake"
    assert not (fake / "train.json").exists(), "command mode must not run spotshield train"
    rec = json.loads((fake / "command.json").read_text())
    home = tmp_path / "home"
    assert rec["argv"] == ["train.py", "--epochs", "2"]
    assert rec["cwd"] == str(home / "workdir") and rec["files"] == ["lib", "train.py"]
    assert rec["python"] == str(fake_python)  # `python` is the interpreter spotshield runs on
    assert not (home / "bin" / "python").is_symlink()  # exec'd by its own path (see the venv test below)
    store = f"gs://{gcs_bucket}/runs/adaptive-1"
    env = rec["env"]
    assert (env["SPOTSHIELD_STORE"], env["SPOTSHIELD_RUN_ID"], env["SPOTSHIELD_HEALTH_PORT"]) == \
        (store, "adaptive-1", "18080")
    assert (env["SPOTSHIELD_HOST"], env["SPOTSHIELD_BOOT"], env["GCE_METADATA_HOST"]) == ("ss-vm-1", "boot-1", md.host)
    assert (home / "trainer.pid").exists() is False
    assert not (fake / "venv.log").exists(), "no requirements.txt: no venv"
    assert compute.requests == []


def test_requirements_are_installed_once_per_hash_across_boots(tmp_path, fake_python, gcs_server, gcs_bucket):
    url, sha = ship(tmp_path, gcs_server, gcs_bucket, {"train.py": "", "requirements.txt": "tqdm==4.66.0\n"})
    with MetadataServer(command_attrs(gcs_bucket, url, sha)) as md:
        for boot_id in ("boot-1", "boot-2"):
            proc = boot(tmp_path, md, gcs_server, fake_python, boot_id=boot_id, FAKE_TRAIN_RC="75")
            assert proc.returncode == 75, proc.stderr
    fake = tmp_path / "fake"
    assert len((fake / "venv.log").read_text().splitlines()) == 1, "a reboot must not reinstall"
    pip = [json.loads(line) for line in (fake / "pip.log").read_text().splitlines()]
    assert pip == [["--quiet", "--disable-pip-version-check", "-r", str(tmp_path / "home/workdir/requirements.txt")]]
    rec = json.loads((fake / "command.json").read_text())
    assert "/home/venvs/" in rec["python"] and rec["python"].endswith("/bin/python")
    assert "already installed" in proc.stderr


def test_a_tampered_workdir_is_refused_and_counts_as_a_failed_boot(tmp_path, fake_python, gcs_server, gcs_bucket):
    url, sha = ship(tmp_path, gcs_server, gcs_bucket, {"train.py": ""})
    with MetadataServer(command_attrs(gcs_bucket, url, "0" * 64)) as md:
        proc = boot(tmp_path, md, gcs_server, fake_python)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("spotshield-startup: error: cannot fetch the workdir: ")
    assert "refusing to run it" in proc.stderr
    assert not (tmp_path / "fake" / "command.json").exists()


def test_a_command_without_its_workdir_is_one_error(tmp_path, fake_python, gcs_server, gcs_bucket):
    with MetadataServer(attrs(gcs_bucket, **{"spotshield-command": "python train.py"})) as md:
        proc = boot(tmp_path, md, gcs_server, fake_python)
    assert proc.returncode == 1
    assert "spotshield-command but no spotshield-workdir-url" in proc.stderr.strip().splitlines()[-1]


def test_a_command_that_is_not_found_exits_127_and_feeds_the_breaker(tmp_path, fake_python, gcs_server, gcs_bucket):
    url, sha = ship(tmp_path, gcs_server, gcs_bucket, {"train.py": ""})
    with MetadataServer(command_attrs(gcs_bucket, url, sha, command="no-such-program --x")) as md:
        proc = boot(tmp_path, md, gcs_server, fake_python)
    assert proc.returncode == 127, proc.stderr
    assert "failed boot 1 of 3" in proc.stderr


@pytest.mark.parametrize("requirements", [None, "--no-index\ntorch\n"], ids=["bare", "requirements"])
def test_python_in_the_command_is_a_venv_interpreter_with_its_venv(tmp_path, gcs_server, gcs_bucket, requirements):
    """SPOTSHIELD_PYTHON a venv's python (the emulator's guest image, a venv VM image): `python` in the
    command must start that venv, with its packages (torch), not the bare interpreter behind it; so
    must the requirements venv made from it (pip finds torch already there: no index needed)."""
    from spotshield.local.guest import guest_python

    image = Path(guest_python(tmp_path / "emulator")).parents[1]  # the emulator's guest image: a venv
    probe = ("import importlib.util, json, subprocess, sys\n"  # `python3` as the script's subprocess would
             "py3 = subprocess.run(['python3', '-c', 'import sys; print(sys.prefix)'], capture_output=True, text=True)\n"
             "open('prefix.json', 'w').write(json.dumps([sys.prefix, sys.executable, py3.stdout.strip(),\n"
             "                                           importlib.util.find_spec('torch') is not None]))\n")
    files = {"probe.py": probe, **({"requirements.txt": requirements} if requirements else {})}
    url, sha = ship(tmp_path, gcs_server, gcs_bucket, files)
    attrs_ = command_attrs(gcs_bucket, url, sha, command="python probe.py")
    store = f"gs://{gcs_bucket}/runs/{'req' if requirements else 'bare'}"  # both cases share the bucket
    with MetadataServer({**attrs_, "spotshield-build-id": "", "spotshield-store": store}) as md, \
            ComputeRecorder() as compute:
        proc = boot(tmp_path, md, gcs_server, image / "bin" / "python", compute.url)
    assert proc.returncode == 0, proc.stderr
    prefix, executable, py3_prefix, has_torch = json.loads((tmp_path / "home" / "workdir" / "prefix.json").read_text())
    venv = next((tmp_path / "home" / "venvs").iterdir()) if requirements else image
    assert prefix == py3_prefix == str(venv) and executable == str(venv / "bin" / "python")
    assert has_torch


def test_a_command_that_exits_0_without_done_is_not_run_again(tmp_path, fake_python, gcs_server, gcs_bucket):
    """A script without the library finishes (0) but never writes DONE: the group would recreate the
    VM and run it again forever. The boot writes STOPPED and resizes to 0; a later boot does not run it."""
    from spotshield.storage import open_store

    url, sha = ship(tmp_path, gcs_server, gcs_bucket, {"train.py": ""})
    with MetadataServer(command_attrs(gcs_bucket, url, sha)) as md, ComputeRecorder() as compute:
        proc = boot(tmp_path, md, gcs_server, fake_python, compute.url, FAKE_TRAIN_RC="0")
        assert proc.returncode == 0, proc.stderr
        assert (tmp_path / "fake" / "command.json").exists()
        store = open_store(f"gs://{gcs_bucket}/runs/adaptive-1")
        stopped = json.loads(store.read("STOPPED"))
        assert stopped["reason"] == "exited 0 without DONE" and "holds no DONE" in stopped["error"]
        assert not store.exists("DONE") and not store.exists("crashes.json")  # not a crash, not finished
        resize = "/compute/v1/projects/demo-project-123/regions/us-central1/instanceGroupManagers/ss-mig/resize"
        assert [(r["path"], r["query"]) for r in compute.requests] == [(resize, "size=0")]
        (tmp_path / "fake" / "command.json").unlink()
        again = boot(tmp_path, md, gcs_server, fake_python, compute.url, boot_id="boot-2", FAKE_TRAIN_RC="0")
    assert again.returncode == 0 and "holds STOPPED" in again.stderr
    assert not (tmp_path / "fake" / "command.json").exists()
    assert len(compute.requests) == 2
