"""startup-scripts/coordinator.sh, the rendezvous coordinator VM's boot script, against real servers.

The metadata server stand-in and fake-gcs-server play GCP; a stand-in virtualenv python records what
the script installs and runs (the coordinator itself is tested in tests/distributed/test_coordinator.py).
"""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess

import pytest
from boot_helpers import REPO, SERVICE_LIB, gcs_put, rendered, run_script, service_env, service_home
from servers import MetadataServer

from spotshield.bootcontract import COORDINATOR_METADATA

COORDINATOR = REPO / "startup-scripts" / "coordinator.sh"


STORE = "gs://demo-ckpt/runs/job-1"


def attrs(build_url, build_id, pin="", port="29400", torch="torch==2.7.*", store=STORE):
    values = {"spotshield-build-url": build_url, "spotshield-build-id": build_id, "spotshield-build-sha256": pin,
              "spotshield-coordinator-port": port, "spotshield-torch-requirement": torch, "spotshield-store": store}
    assert set(values) == set(COORDINATOR_METADATA)  # the test gives exactly what Terraform gives
    return values


def pip_calls(tmp_path) -> list[list[str]]:
    log = tmp_path / "fake" / "pip.log"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.mark.parametrize("form", ["as a file", "as Terraform renders it"])
def test_installs_cpu_torch_and_the_build_then_serves_the_rendezvous(tmp_path, gcs_server, gcs_bucket, form):
    archive = b"a build archive"
    digest = hashlib.sha256(archive).hexdigest()
    build_id = f"0.1.0+{digest[:12]}"
    gcs_put(gcs_server.url, gcs_bucket, "builds/spotshield-0.1.0.tar.gz", archive)
    service_home(tmp_path)
    script = COORDINATOR if form == "as a file" else rendered(COORDINATOR, tmp_path / "alone")
    with MetadataServer(attrs(f"gs://{gcs_bucket}/builds/spotshield-0.1.0.tar.gz", build_id, digest, "29411")) as md:
        r = run_script(script, service_env(tmp_path, md.host, gcs_server.url, build_id))
    assert r.returncode == 0, r.stderr
    torch, build = pip_calls(tmp_path)
    assert torch[-3:] == ["--index-url", "https://download.pytorch.org/whl/cpu", "torch==2.7.*"]
    assert build[-1].endswith("spotshield-0.1.0.tar.gz") and "installed build " + build_id in r.stderr
    ran = json.loads((tmp_path / "fake" / "service.json").read_text())
    assert ran["argv"] == ["-m", "spotshield.distributed.coordinator", "--host", "0.0.0.0", "--port", "29411",
                           "--store", STORE]
    # it exited 0, as the coordinator does once the run's DONE is there: the VM powers itself off
    assert (tmp_path / "fake" / "poweroff").exists()
    assert r.stderr.strip().splitlines()[-1] == ("spotshield-coordinator: the coordinator exited cleanly (the run is "
                                                 "done); powering the VM off")


def test_a_reboot_with_everything_installed_downloads_nothing(tmp_path, gcs_server):
    build_id = "0.1.0+0123456789ab"
    service_home(tmp_path, installed=build_id, torch=True)
    with MetadataServer(attrs("gs://nowhere/builds/x.tar.gz", build_id)) as md:
        r = run_script(COORDINATOR, service_env(tmp_path, md.host, gcs_server.url, build_id))
    assert r.returncode == 0, r.stderr
    assert pip_calls(tmp_path) == [] and (tmp_path / "fake" / "service.json").exists()


@pytest.mark.parametrize("change, words", [
    ({"spotshield-coordinator-port": "http"}, "spotshield-coordinator-port must be a TCP port number, not 'http'"),
    ({"spotshield-coordinator-port": "70000"}, "spotshield-coordinator-port must be 1-65535, not 70000"),
    ({"spotshield-build-id": ""}, "metadata has no spotshield-build-id: the coordinator runs the build that up published"),
    ({"spotshield-store": ""}, "metadata has no spotshield-store: the coordinator stops when the run's DONE is there"),
    ({"spotshield-store": "s3://b/runs/r"}, "spotshield-store must be gs://<bucket>/runs/<run-id>, not 's3://b/runs/r'"),
])
def test_bad_metadata_is_one_line_and_nothing_runs(tmp_path, gcs_server, change, words):
    service_home(tmp_path, installed="0.1.0+0123456789ab", torch=True)
    with MetadataServer({**attrs("gs://b/builds/x.tar.gz", "0.1.0+0123456789ab"), **change}) as md:
        r = run_script(COORDINATOR, service_env(tmp_path, md.host, gcs_server.url, "0.1.0+0123456789ab"))
    assert r.returncode == 1 and r.stderr.strip().splitlines() == [f"spotshield-coordinator: error: {words}"]
    assert not (tmp_path / "fake" / "service.json").exists()


def test_a_build_that_does_not_match_its_id_is_refused(tmp_path, gcs_server, gcs_bucket):
    gcs_put(gcs_server.url, gcs_bucket, "builds/b.tar.gz", b"tampered")
    service_home(tmp_path, torch=True)
    build_id = "0.1.0+" + hashlib.sha256(b"the real one").hexdigest()[:12]
    with MetadataServer(attrs(f"gs://{gcs_bucket}/builds/b.tar.gz", build_id)) as md:
        r = run_script(COORDINATOR, service_env(tmp_path, md.host, gcs_server.url, build_id))
    assert r.returncode == 1 and "does not match build id" in r.stderr
    assert not (tmp_path / "fake" / "service.json").exists()


def test_a_failing_coordinator_is_passed_up_and_powers_nothing_off(tmp_path, gcs_server):
    """Restart=on-failure starts it again; only a clean exit (the run is done) powers the VM off."""
    build_id = "0.1.0+0123456789ab"
    service_home(tmp_path, installed=build_id, torch=True)
    with MetadataServer(attrs("gs://b/builds/x.tar.gz", build_id)) as md:
        r = run_script(COORDINATOR, {**service_env(tmp_path, md.host, gcs_server.url, build_id), "FAKE_SERVICE_RC": "1"})
    assert r.returncode == 1 and (tmp_path / "fake" / "service.json").exists()
    assert not (tmp_path / "fake" / "poweroff").exists() and "powering" not in r.stderr


def test_a_stop_reaches_the_coordinator_and_powers_nothing_off(tmp_path, gcs_server):
    """systemctl stop, or the VM's own shutdown: SIGTERM to the unit's shell is passed on to the coordinator."""
    import os
    import signal
    import time

    build_id = "0.1.0+0123456789ab"
    service_home(tmp_path, installed=build_id, torch=True)
    with MetadataServer(attrs("gs://b/builds/x.tar.gz", build_id)) as md:
        env = {**service_env(tmp_path, md.host, gcs_server.url, build_id), "FAKE_SERVICE_WAIT_TERM": "1"}
        p = subprocess.Popen(["bash", str(COORDINATOR)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, start_new_session=True)
        try:
            pid_file = tmp_path / "fake" / "service.pid"
            deadline = time.monotonic() + 30
            while not pid_file.exists() and p.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert pid_file.exists(), p.stderr.read() if p.poll() is not None else "the coordinator never started"
            os.kill(p.pid, signal.SIGTERM)  # the unit's main process: the shell the script became
            assert p.wait(15) == 143
        finally:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
    assert (tmp_path / "fake" / "service-sigterm").exists()
    assert not (tmp_path / "fake" / "poweroff").exists()


def test_the_unit_restarts_failures_only():
    """A clean exit is the run's end, not a crash: the unit must not start the coordinator again."""
    text = COORDINATOR.read_text()
    assert 'run_service "$UNIT" on-failure ' in text and 'run_service "$UNIT" always' not in text


@pytest.mark.skipif(not shutil.which("shellcheck"), reason="shellcheck is not installed")
def test_shellcheck_clean():
    proc = subprocess.run(["shellcheck", "-x", str(COORDINATOR), str(SERVICE_LIB)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stdout


def test_templatefile_safe():
    text = COORDINATOR.read_text()
    assert "${" not in text and "%{" not in text
