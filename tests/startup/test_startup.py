"""startup.sh run for real: metadata server + fake-gcs-server + a recording Compute endpoint."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time

import pytest

from servers import ComputeRecorder, MetadataServer
from boot_helpers import STARTUP, SHUTDOWN, boot_env, gcs_put, run_script

CONFIG = {"model": "tiny-cnn", "epochs": 3, "strategy": "adaptive"}


def attrs(bucket: str, **over) -> dict:
    base = {
        "spotshield-run-id": "adaptive-1",
        "spotshield-store": f"gs://{bucket}/runs/adaptive-1",
        "spotshield-build-url": f"gs://{bucket}/builds/spotshield-0.1.0.tar.gz",
        "spotshield-build-id": "0.1.0+3f2a9c1d2e4b",
        "spotshield-config": json.dumps(CONFIG),
        "spotshield-health-port": "18080",
        "spotshield-mig": "ss-mig",
        "spotshield-region": "us-central1",
    }
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


@pytest.mark.skipif(not shutil.which("shellcheck"), reason="shellcheck is not installed (apt-get install shellcheck)")
@pytest.mark.parametrize("script", [STARTUP, SHUTDOWN], ids=lambda p: p.name)
def test_shellcheck_clean(script):
    proc = subprocess.run(["shellcheck", "-x", str(script)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout


def test_reads_config_skips_install_and_runs_the_trainer(tmp_path, fake_python, gcs_server, gcs_bucket):
    with MetadataServer(attrs(gcs_bucket)) as md, ComputeRecorder() as compute:
        env = boot_env(tmp_path, md.host, gcs_server.url, fake_python, compute.url)
        env.update(FAKE_INSTALLED_BUILD="0.1.0+3f2a9c1d2e4b", FAKE_TRAIN_RC="75")
        proc = run_script(STARTUP, env)
    assert proc.returncode == 75, proc.stderr  # the trainer's code, unchanged
    fake = tmp_path / "fake"
    assert not (fake / "pip.log").exists(), "build ids match: nothing must be installed"
    rec = json.loads((fake / "train.json").read_text())
    store = f"gs://{gcs_bucket}/runs/adaptive-1"
    assert rec["argv"][:3] == ["train", "--store", store]
    assert json.loads(rec["config"]) == CONFIG
    assert rec["env"]["SPOTSHIELD_RUN_ID"] == "adaptive-1"
    assert rec["env"]["SPOTSHIELD_STORE"] == store
    assert rec["env"]["SPOTSHIELD_HEALTH_PORT"] == "18080"  # from metadata
    assert rec["env"]["SPOTSHIELD_HOST"] == "ss-vm-1"  # metadata instance/name
    assert rec["env"]["SPOTSHIELD_BOOT"] == "boot-1"
    assert rec["env"]["GCE_METADATA_HOST"] == md.host
    assert compute.requests == [], "no DONE: the group must not be resized"
    assert all(r["flavor"] == "Google" for r in md.requests)
    assert "build 0.1.0+3f2a9c1d2e4b already installed" in proc.stderr
    assert not (tmp_path / "home" / "trainer.pid").exists(), "pid file is removed when the trainer exits"


def test_env_overrides_win_over_metadata(tmp_path, fake_python, gcs_server, gcs_bucket):
    with MetadataServer(attrs(gcs_bucket, **{"spotshield-build-id": None, "spotshield-config": None})) as md:
        env = boot_env(tmp_path, md.host, gcs_server.url, fake_python)
        env.update(SPOTSHIELD_HEALTH_PORT="23456", SPOTSHIELD_HOST="emu-vm-7")
        proc = run_script(STARTUP, env)
    assert proc.returncode == 0, proc.stderr
    rec = json.loads((tmp_path / "fake" / "train.json").read_text())
    assert rec["env"]["SPOTSHIELD_HEALTH_PORT"] == "23456" and rec["env"]["SPOTSHIELD_HOST"] == "emu-vm-7"
    assert "--config" not in rec["argv"]  # no spotshield-config attribute: no --config
    assert "no spotshield-build-id" in proc.stderr


def test_done_resizes_the_group_to_zero_instead_of_training(tmp_path, fake_python, gcs_server, gcs_bucket):
    gcs_put(gcs_server.url, gcs_bucket, "runs/adaptive-1/DONE", b"{}")
    with MetadataServer(attrs(gcs_bucket), project="demo-project-123") as md, ComputeRecorder() as compute:
        env = boot_env(tmp_path, md.host, gcs_server.url, fake_python, compute.url)
        proc = run_script(STARTUP, env)
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "fake" / "train.json").exists(), "DONE: the trainer must not start"
    assert [(r["method"], r["path"], r["query"], r["authorization"]) for r in compute.requests] == [
        ("POST", "/compute/v1/projects/demo-project-123/regions/us-central1/instanceGroupManagers/ss-mig/resize",
         "size=0", "Bearer fake-token-123")]


def test_done_written_by_the_trainer_resizes_after_it_exits(tmp_path, fake_python, gcs_server, gcs_bucket):
    """The trainer writes DONE and exits 0: the VM must not keep running (and billing)."""
    with MetadataServer(attrs(gcs_bucket, **{"spotshield-region": None})) as md, ComputeRecorder() as compute:
        env = boot_env(tmp_path, md.host, gcs_server.url, fake_python, compute.url)
        env.update(FAKE_INSTALLED_BUILD="0.1.0+3f2a9c1d2e4b", FAKE_TRAIN_RC="0",
                   FAKE_WRITE_DONE=f"{gcs_server.url}/upload/storage/v1/b/{gcs_bucket}/o?uploadType=media"
                                   f"&name=runs%2Fadaptive-1%2FDONE")
        proc = run_script(STARTUP, env)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "fake" / "train.json").exists(), "no DONE at boot: the trainer must run"
    # region derived from instance/zone (us-central1-b -> us-central1) when spotshield-region is absent
    assert [(r["method"], r["path"], r["query"]) for r in compute.requests] == [
        ("POST", "/compute/v1/projects/demo-project-123/regions/us-central1/instanceGroupManagers/ss-mig/resize",
         "size=0")]


def test_missing_run_id_is_one_error_line(tmp_path, fake_python, gcs_server, gcs_bucket):
    with MetadataServer(attrs(gcs_bucket, **{"spotshield-run-id": None})) as md:
        proc = run_script(STARTUP, boot_env(tmp_path, md.host, gcs_server.url, fake_python))
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        f"spotshield-startup: error: metadata http://{md.host}/computeMetadata/v1 has no instance attribute "
        f"spotshield-run-id")
    assert not (tmp_path / "fake" / "train.json").exists()


def test_sigterm_reaches_the_trainer_and_its_code_is_returned(tmp_path, fake_python, gcs_server, gcs_bucket):
    with MetadataServer(attrs(gcs_bucket)) as md:
        env = boot_env(tmp_path, md.host, gcs_server.url, fake_python)
        env.update(FAKE_INSTALLED_BUILD="0.1.0+3f2a9c1d2e4b", FAKE_TRAIN_WAIT_TERM="1")
        proc = subprocess.Popen(["bash", str(STARTUP)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, start_new_session=True)
        try:
            ready = tmp_path / "fake" / "ready"
            deadline = time.monotonic() + 30
            while not ready.exists() and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.05)
            assert ready.exists(), proc.stderr.read() if proc.poll() is not None else "trainer never started"
            trainer_pid = int(ready.read_text())
            pidfile = tmp_path / "home" / "trainer.pid"
            assert int(pidfile.read_text()) == trainer_pid != proc.pid
            # A second run of the boot script while the trainer lives changes nothing.
            again = run_script(STARTUP, env, timeout=30)
            assert again.returncode == 0 and f"trainer already running as pid {trainer_pid}" in again.stderr
            os.kill(proc.pid, signal.SIGTERM)  # only the script: it must forward to the trainer
            rc = proc.wait(timeout=20)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    assert rc == 75
    assert (tmp_path / "fake" / "sigterm").exists()
    assert not pidfile.exists()


def test_a_stop_during_trainer_start_up_waits_for_its_handler(tmp_path, fake_python, gcs_server, gcs_bucket):
    """SIGTERM to the boot script before the trainer can catch it: forwarded once the handler exists."""
    with MetadataServer(attrs(gcs_bucket)) as md:
        env = boot_env(tmp_path, md.host, gcs_server.url, fake_python)
        env.update(FAKE_INSTALLED_BUILD="0.1.0+3f2a9c1d2e4b", FAKE_TRAIN_WAIT_TERM="1", FAKE_TRAIN_LATE_S="1.0")
        proc = subprocess.Popen(["bash", str(STARTUP)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, start_new_session=True)
        try:
            started = tmp_path / "fake" / "train.json"  # written before the stand-in's handler
            deadline = time.monotonic() + 30
            while not started.exists() and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.01)
            assert started.exists(), "trainer never started"
            assert not (tmp_path / "fake" / "ready").exists()  # no handler yet
            os.kill(proc.pid, signal.SIGTERM)
            rc = proc.wait(timeout=20)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    assert rc == 75  # not 143: the trainer caught it and took its emergency checkpoint
    assert (tmp_path / "fake" / "sigterm").exists()


def test_file_store_done_and_stale_pid_file(tmp_path, fake_python, gcs_server):
    """A file:// store works too, and a pid file left by an earlier boot does not block a boot."""
    store = tmp_path / "store"
    store.mkdir()
    (store / "DONE").write_text("{}")
    home = tmp_path / "home"
    home.mkdir()
    (home / "trainer.pid").write_text(f"{os.getpid()}\n")  # alive, but not a spotshield trainer
    with MetadataServer({"spotshield-run-id": "r", "spotshield-store": f"file://{store}",
                         "spotshield-mig": "ss-mig"}) as md, ComputeRecorder() as compute:
        proc = run_script(STARTUP, boot_env(tmp_path, md.host, gcs_server.url, fake_python, compute.url))
    assert proc.returncode == 0, proc.stderr
    assert [r["path"] for r in compute.requests] == [
        "/compute/v1/projects/demo-project-123/regions/us-central1/instanceGroupManagers/ss-mig/resize"]
    assert not (home / "trainer.pid").exists()
    dead = subprocess.Popen(["true"])
    dead.wait()
    (home / "trainer.pid").write_text(f"{dead.pid}\n")  # a pid from the previous boot, long gone
    with MetadataServer({"spotshield-run-id": "r", "spotshield-store": f"file://{store}"}) as md:
        proc = run_script(STARTUP, boot_env(tmp_path, md.host, gcs_server.url, fake_python))
    assert proc.returncode == 0 and "No such file" not in proc.stderr, proc.stderr
    assert "no spotshield-mig/region/project in metadata; nothing to resize" in proc.stderr


def test_every_call_takes_a_fresh_token(tmp_path, fake_python, gcs_server, gcs_bucket):
    """Tokens live about an hour and runs last longer: the resize after DONE must not carry the
    token of the boot (which would be expired by then: 401, and the group would keep billing)."""
    with MetadataServer(attrs(gcs_bucket)) as md, ComputeRecorder() as compute:
        env = boot_env(tmp_path, md.host, gcs_server.url, fake_python, compute.url)
        env.update(FAKE_INSTALLED_BUILD="0.1.0+3f2a9c1d2e4b", FAKE_TRAIN_RC="0", FAKE_TRAIN_SLEEP_S="1.5",
                   FAKE_WRITE_DONE=f"{gcs_server.url}/upload/storage/v1/b/{gcs_bucket}/o?uploadType=media"
                                   f"&name=runs%2Fadaptive-1%2FDONE")
        proc = subprocess.Popen(["bash", str(STARTUP)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, start_new_session=True)
        started = tmp_path / "fake" / "train.json"
        deadline = time.monotonic() + 30
        while not started.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        # the metadata server hands out a new token while the trainer runs (as GCE does before expiry)
        md.values["instance/service-accounts/default/token"] = {"access_token": "fresh-token", "expires_in": 3599,
                                                                "token_type": "Bearer"}
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert [r["authorization"] for r in compute.requests] == ["Bearer fresh-token"]
