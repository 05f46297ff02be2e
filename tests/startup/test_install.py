"""startup.sh installs the published build for real: fake-gcs-server -> curl -> pip into a venv."""
from __future__ import annotations

import base64
import hashlib
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from servers import MetadataServer
from boot_helpers import STARTUP, boot_env, gcs_put, run_script

# The dummy build: `spotshield.buildinfo` prints <version>+<12 hex of the sha256 of the archive
# pip installed it from> (found through pip's direct_url.json, as the real buildinfo does);
# `spotshield.cli.main train` records its arguments and exits with DUMMY_TRAIN_RC.
BUILDINFO = """\
import hashlib, json, urllib.parse, urllib.request
from importlib.metadata import distribution
url = json.loads(distribution("spotshield").read_text("direct_url.json"))["url"]
path = urllib.parse.unquote(urllib.parse.urlsplit(url).path)
print("0.0.1+" + hashlib.sha256(open(path, "rb").read()).hexdigest()[:12])
"""
FILES = {
    "spotshield/__init__.py": "",
    "spotshield/buildinfo.py": BUILDINFO,
    "spotshield/cli/__init__.py": "",
    "spotshield/cli/main.py": (
        "import json, os, sys\n"
        "open(os.path.join(os.environ['FAKE_DIR'], 'dummy-train.json'), 'w').write(json.dumps(sys.argv[1:]))\n"
        "sys.exit(int(os.environ.get('DUMMY_TRAIN_RC', '0')))\n"),
}


def build_id(wheel: bytes) -> str:
    return "0.0.1+" + hashlib.sha256(wheel).hexdigest()[:12]


def build_wheel() -> bytes:
    dist = "spotshield-0.0.1.dist-info"
    files = dict(FILES)
    files[f"{dist}/METADATA"] = "Metadata-Version: 2.1\nName: spotshield\nVersion: 0.0.1\n"
    files[f"{dist}/WHEEL"] = "Wheel-Version: 1.0\nGenerator: spotshield-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(text.encode())}")
    record.append(f"{dist}/RECORD,,")
    files[f"{dist}/RECORD"] = "\n".join(record) + "\n"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, text in files.items():
            z.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), text)
    return buf.getvalue()


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A throwaway virtualenv to install the published build into. Made without pip (ensurepip
    takes ~10 s) and given the test interpreter's own pip package, which installs into
    whichever environment runs it."""
    import pip

    path = tmp_path_factory.mktemp("boot-venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, timeout=120)
    python = path / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True, timeout=30).stdout.strip()
    (Path(site) / "pip").symlink_to(Path(pip.__file__).parent, target_is_directory=True)
    return python


def attrs(bucket: str, obj: str, **over) -> dict:
    base = {"spotshield-run-id": "r1", "spotshield-store": f"gs://{bucket}/runs/r1",
            "spotshield-build-url": f"gs://{bucket}/{obj}", "spotshield-build-id": build_id(build_wheel())}
    base.update(over)
    return base


def test_published_build_is_downloaded_verified_and_pip_installed(tmp_path, venv, gcs_server, gcs_bucket):
    wheel = build_wheel()
    obj = "builds/spotshield-0.0.1-py3-none-any.whl"
    gcs_put(gcs_server.url, gcs_bucket, obj, wheel)
    sha = hashlib.sha256(wheel).hexdigest()
    BUILD_ID = build_id(wheel)
    (tmp_path / "fake").mkdir()
    with MetadataServer(attrs(gcs_bucket, obj, **{"spotshield-build-sha256": sha})) as md:
        env = boot_env(tmp_path, md.host, gcs_server.url, venv)
        env["DUMMY_TRAIN_RC"] = "75"
        first = run_script(STARTUP, env, timeout=180)
        assert first.returncode == 75, first.stderr
        assert f"installed build {BUILD_ID}" in first.stderr
        # exactly the published object, byte for byte
        downloaded = tmp_path / "home" / "builds" / "spotshield-0.0.1-py3-none-any.whl"
        assert hashlib.sha256(downloaded.read_bytes()).hexdigest() == sha
        # pip really installed it into the venv: its buildinfo answers with the build id
        out = subprocess.run([str(venv), "-m", "spotshield.buildinfo"], capture_output=True, text=True, timeout=30,
                             cwd=tmp_path)  # not the checkout: -m looks in the current folder first
        assert out.stdout.strip() == BUILD_ID
        assert json.loads((tmp_path / "fake" / "dummy-train.json").read_text())[:3] == ["train", "--store",
                                                                                       f"gs://{gcs_bucket}/runs/r1"]
        # next boot: the same id is installed, so no download and no pip
        before = downloaded.stat().st_mtime_ns
        second = run_script(STARTUP, env, timeout=60)
    assert second.returncode == 75, second.stderr
    assert f"build {BUILD_ID} already installed" in second.stderr
    assert "downloading" not in second.stderr and "installing" not in second.stderr
    assert downloaded.stat().st_mtime_ns == before


@pytest.mark.parametrize("mismatch", [{"spotshield-build-sha256": "0" * 64},
                                      {"spotshield-build-id": "0.0.1+000000000000"}], ids=["pinned-sha256", "build-id"])
def test_a_download_that_does_not_match_is_refused(tmp_path, fake_python, gcs_server, gcs_bucket, mismatch):
    obj = "builds/spotshield-0.0.1-py3-none-any.whl"
    gcs_put(gcs_server.url, gcs_bucket, obj, build_wheel())
    with MetadataServer(attrs(gcs_bucket, obj, **mismatch)) as md:
        proc = run_script(STARTUP, boot_env(tmp_path, md.host, gcs_server.url, fake_python))
    assert proc.returncode == 1
    assert "does not match" in proc.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "fake" / "pip.log").exists() and not (tmp_path / "fake" / "train.json").exists()
    assert list((tmp_path / "home" / "builds").iterdir()) == []  # no half-verified file left behind


def test_a_missing_build_object_is_one_error_line(tmp_path, fake_python, gcs_server, gcs_bucket):
    with MetadataServer(attrs(gcs_bucket, "builds/absent.whl")) as md:
        proc = run_script(STARTUP, boot_env(tmp_path, md.host, gcs_server.url, fake_python))
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith(
        f"spotshield-startup: error: build gs://{gcs_bucket}/builds/absent.whl not found")


def test_an_install_that_reports_another_build_is_refused(tmp_path, fake_python, gcs_server, gcs_bucket):
    obj = "builds/spotshield-0.0.1-py3-none-any.whl"
    gcs_put(gcs_server.url, gcs_bucket, obj, build_wheel())
    with MetadataServer(attrs(gcs_bucket, obj)) as md:
        env = boot_env(tmp_path, md.host, gcs_server.url, fake_python)
        env["FAKE_INSTALLED_BUILD"] = "0.0.0+older"  # pip "succeeds" but the old build stays
        proc = run_script(STARTUP, env)
    assert proc.returncode == 1
    assert "reports build '0.0.0+older'" in proc.stderr
    assert json.loads((tmp_path / "fake" / "pip.log").read_text())[-1].endswith("spotshield-0.0.1-py3-none-any.whl")
    assert not (tmp_path / "fake" / "train.json").exists()
