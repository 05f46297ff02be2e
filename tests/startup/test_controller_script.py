"""startup-scripts/controller.sh, the deadline controller VM's boot script, against real servers.

The metadata server stand-in and fake-gcs-server play GCP; a stand-in virtualenv python records what
the script installs and runs (the real service is tested in tests/deadline/test_gce.py).
"""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess

import pytest
from boot_helpers import REPO, SERVICE_LIB, gcs_put, rendered, run_script, service_env, service_home
from servers import MetadataServer

CONTROLLER = REPO / "startup-scripts" / "controller.sh"
CONFIG = {"run_id": "r1", "spot_mig": "ss-mig", "on_demand_mig": "ss-od-mig", "self_mig": "ss-dl-mig"}


def attrs(build_url, build_id, pin=""):
    return {"spotshield-deadline-config": json.dumps(CONFIG), "spotshield-build-url": build_url,
            "spotshield-build-id": build_id, "spotshield-build-sha256": pin, "spotshield-health-port": "8080",
            "spotshield-mig": "ss-dl-mig", "spotshield-region": "us-central1"}


def published(gcs_server, gcs_bucket, name="builds/spotshield-0.1.0.tar.gz", archive=b"a build archive"):
    """(url, build id, sha256) of an archive put where `up` publishes builds."""
    digest = hashlib.sha256(archive).hexdigest()
    gcs_put(gcs_server.url, gcs_bucket, name, archive)
    return f"gs://{gcs_bucket}/{name}", f"0.1.0+{digest[:12]}", digest


@pytest.mark.parametrize("form", ["as a file", "as Terraform renders it"])
def test_installs_the_published_build_then_runs_the_service_with_its_config(tmp_path, gcs_server, gcs_bucket, form):
    url, build_id, digest = published(gcs_server, gcs_bucket)
    service_home(tmp_path)
    script = CONTROLLER if form == "as a file" else rendered(CONTROLLER, tmp_path / "alone")
    with MetadataServer(attrs(url, build_id, digest)) as md:
        r = run_script(script, service_env(tmp_path, md.host, gcs_server.url, build_id))
    assert r.returncode == 0, r.stderr
    assert "installed build " + build_id in r.stderr
    pip = [json.loads(line) for line in (tmp_path / "fake" / "pip.log").read_text().splitlines()]
    assert len(pip) == 1 and pip[0][-1].endswith("spotshield-0.1.0.tar.gz")
    ran = json.loads((tmp_path / "fake" / "service.json").read_text())
    assert ran["argv"][:2] == ["-m", "spotshield.deadline.service"] and ran["config"] == CONFIG


def test_a_build_that_does_not_match_its_id_is_refused_and_nothing_runs(tmp_path, gcs_server, gcs_bucket):
    url, _, _ = published(gcs_server, gcs_bucket, "builds/b.tar.gz", b"tampered")
    service_home(tmp_path)
    build_id = "0.1.0+" + hashlib.sha256(b"the real one").hexdigest()[:12]
    with MetadataServer(attrs(url, build_id)) as md:
        r = run_script(CONTROLLER, service_env(tmp_path, md.host, gcs_server.url, build_id))
    assert r.returncode == 1 and "does not match build id" in r.stderr
    assert not (tmp_path / "fake" / "service.json").exists()


def test_an_installed_build_is_not_downloaded_again(tmp_path, gcs_server):
    build_id = "0.1.0+0123456789ab"
    service_home(tmp_path, installed=build_id)
    with MetadataServer(attrs("gs://nowhere/builds/x.tar.gz", build_id)) as md:
        r = run_script(CONTROLLER, service_env(tmp_path, md.host, gcs_server.url, build_id))
    assert r.returncode == 0, r.stderr
    assert not (tmp_path / "fake" / "pip.log").exists() and (tmp_path / "fake" / "service.json").exists()


def test_without_its_shared_half_the_script_says_so_in_one_line(tmp_path):
    alone = tmp_path / "controller.sh"
    alone.write_text(CONTROLLER.read_text())
    r = run_script(alone, {"PATH": "/usr/bin:/bin"})
    # bash names the missing file first; the script's own line comes last
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1] == f"spotshield-controller: error: cannot read install-build.sh next to {alone}"


@pytest.mark.skipif(not shutil.which("shellcheck"), reason="shellcheck is not installed")
def test_shellcheck_clean():
    proc = subprocess.run(["shellcheck", "-x", str(CONTROLLER), str(SERVICE_LIB)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stdout


def test_templatefile_safe():
    for script in (CONTROLLER, SERVICE_LIB):
        text = script.read_text()
        assert "${" not in text and "%{" not in text, script.name
