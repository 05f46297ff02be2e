"""startup-scripts/controller.sh, the deadline controller VM's boot script, against real servers.

The metadata server stand-in and fake-gcs-server play GCP; a stand-in virtualenv python records what
the script installs and runs (the real service is tested in tests/deadline/test_gce.py).
"""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys

import pytest
from boot_helpers import REPO, gcs_put, run_script
from servers import MetadataServer

CONTROLLER = REPO / "startup-scripts" / "controller.sh"
# the venv's python: answers buildinfo once "installed", records pip installs and the service's argv + config
VENV_PYTHON = r'''#!{python}
import json, os, sys
from pathlib import Path
out = Path(os.environ["FAKE_DIR"])
args = sys.argv[1:]
if args[:2] == ["-m", "spotshield.buildinfo"]:
    f = out / "installed"
    sys.exit(print(f.read_text()) if f.exists() else "No module named spotshield")
if args[:3] == ["-m", "pip", "install"]:
    (out / "installed").write_text(os.environ["FAKE_BUILD_ID"])
    (out / "pip.json").write_text(json.dumps(args[3:]))
    sys.exit(0)
if args[:2] == ["-m", "spotshield.deadline.service"]:
    config = args[args.index("--config") + 1]
    (out / "service.json").write_text(json.dumps({"argv": args, "config": json.loads(Path(config).read_text())}))
    sys.exit(0)
sys.exit(f"fake venv python: unexpected {args}")
'''
CONFIG = {"run_id": "r1", "spot_mig": "ss-mig", "on_demand_mig": "ss-od-mig", "self_mig": "ss-dl-mig"}


def setup(tmp_path, installed: str | None = None):
    home = tmp_path / "home"
    (home / "venv" / "bin").mkdir(parents=True)
    py = home / "venv" / "bin" / "python"
    py.write_text(VENV_PYTHON.replace("{python}", sys.executable))
    py.chmod(0o755)
    (tmp_path / "fake").mkdir()
    if installed:
        (tmp_path / "fake" / "installed").write_text(installed)
    return home


def env_for(tmp_path, md, gcs_url, build_id):
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPOTSHIELD_", "GCE_", "FAKE_"))}
    env.update(GCE_METADATA_HOST=md.host, STORAGE_EMULATOR_HOST=gcs_url, SPOTSHIELD_HOME=str(tmp_path / "home"),
               FAKE_DIR=str(tmp_path / "fake"), FAKE_BUILD_ID=build_id)
    return env


def attrs(build_url, build_id, pin=""):
    return {"spotshield-deadline-config": json.dumps(CONFIG), "spotshield-build-url": build_url,
            "spotshield-build-id": build_id, "spotshield-build-sha256": pin, "spotshield-health-port": "8080",
            "spotshield-mig": "ss-dl-mig", "spotshield-region": "us-central1"}


def test_installs_the_published_build_then_runs_the_service_with_its_config(tmp_path, gcs_server, gcs_bucket):
    archive = b"a build archive"
    digest = hashlib.sha256(archive).hexdigest()
    build_id = f"0.1.0+{digest[:12]}"
    gcs_put(gcs_server.url, gcs_bucket, "builds/spotshield-0.1.0.tar.gz", archive)
    setup(tmp_path)
    with MetadataServer(attrs(f"gs://{gcs_bucket}/builds/spotshield-0.1.0.tar.gz", build_id, digest)) as md:
        r = run_script(CONTROLLER, env_for(tmp_path, md, gcs_server.url, build_id))
    assert r.returncode == 0, r.stderr
    assert "installed build " + build_id in r.stderr
    pip = json.loads((tmp_path / "fake" / "pip.json").read_text())
    assert pip[-1].endswith("spotshield-0.1.0.tar.gz")
    ran = json.loads((tmp_path / "fake" / "service.json").read_text())
    assert ran["argv"][:2] == ["-m", "spotshield.deadline.service"] and ran["config"] == CONFIG


def test_a_build_that_does_not_match_its_id_is_refused_and_nothing_runs(tmp_path, gcs_server, gcs_bucket):
    gcs_put(gcs_server.url, gcs_bucket, "builds/b.tar.gz", b"tampered")
    setup(tmp_path)
    build_id = "0.1.0+" + hashlib.sha256(b"the real one").hexdigest()[:12]
    with MetadataServer(attrs(f"gs://{gcs_bucket}/builds/b.tar.gz", build_id)) as md:
        r = run_script(CONTROLLER, env_for(tmp_path, md, gcs_server.url, build_id))
    assert r.returncode == 1 and "does not match build id" in r.stderr
    assert not (tmp_path / "fake" / "service.json").exists()


def test_an_installed_build_is_not_downloaded_again(tmp_path, gcs_server):
    build_id = "0.1.0+0123456789ab"
    setup(tmp_path, installed=build_id)
    with MetadataServer(attrs("gs://nowhere/builds/x.tar.gz", build_id)) as md:
        r = run_script(CONTROLLER, env_for(tmp_path, md, gcs_server.url, build_id))
    assert r.returncode == 0, r.stderr
    assert not (tmp_path / "fake" / "pip.json").exists() and (tmp_path / "fake" / "service.json").exists()


@pytest.mark.skipif(not shutil.which("shellcheck"), reason="shellcheck is not installed")
def test_shellcheck_clean():
    proc = subprocess.run(["shellcheck", "-x", str(CONTROLLER)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout


def test_templatefile_safe():
    text = CONTROLLER.read_text()
    assert "${" not in text and "%{" not in text
