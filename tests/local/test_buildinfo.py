"""Build id and archive: reproducible, content-addressed, installable, published once."""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tarfile
import io

import pytest

from spotshield import buildinfo
from spotshield.storage import open_store


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "src"
    shutil.copytree(buildinfo.SOURCE_ROOT / "spotshield", root / "spotshield",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for f in buildinfo.ROOT_FILES:
        shutil.copy(buildinfo.SOURCE_ROOT / f, root / f)
    return root


def test_archive_is_reproducible_and_content_addressed(tree):
    a = buildinfo.build_archive(tree)
    assert buildinfo.build_archive(tree) == a
    (tree / "spotshield" / "__pycache__").mkdir(exist_ok=True)
    (tree / "spotshield" / "__pycache__" / "x.pyc").write_bytes(b"noise")
    (tree / "spotshield" / "notes.txt").write_text("not packaged")
    assert buildinfo.build_archive(tree) == a  # files the wheel would not hold do not count
    (tree / "spotshield" / "errors.py").write_text((tree / "spotshield" / "errors.py").read_text() + "\n# edit\n")
    b = buildinfo.build_archive(tree)
    assert b != a and buildinfo.archive_id(b) != buildinfo.archive_id(a)
    names = tarfile.open(fileobj=io.BytesIO(b)).getnames()
    assert "spotshield-0.1.0/pyproject.toml" in names and "spotshield-0.1.0/spotshield/buildinfo.py" in names
    assert not any("__pycache__" in n or n.endswith(".txt") for n in names)


def test_id_is_version_plus_archive_hash():
    data = buildinfo.build_archive()
    bid = buildinfo.build_id()
    assert bid == f"0.1.0+{hashlib.sha256(data).hexdigest()[:12]}"
    out = subprocess.run([sys.executable, "-m", "spotshield.buildinfo"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == bid
    assert buildinfo.archive_name(bid) == f"spotshield-0.1.0-{bid.split('+')[1]}.tar.gz"


def test_bad_arguments_are_one_line(tmp_path):
    out = subprocess.run([sys.executable, "-m", "spotshield.buildinfo", "--bogus"], capture_output=True, text=True)
    assert out.returncode == 1 and out.stderr.count("\n") == 1 and "Traceback" not in out.stderr


def test_publish_uploads_once(gcs_bucket):
    url, bid = buildinfo.publish(f"gs://{gcs_bucket}")
    assert url == f"gs://{gcs_bucket}/builds/{buildinfo.archive_name(bid)}"
    store = open_store(f"gs://{gcs_bucket}")
    data = store.read(f"builds/{buildinfo.archive_name(bid)}")
    assert hashlib.sha256(data).hexdigest().startswith(bid.split("+")[1])  # what startup.sh verifies
    assert buildinfo.publish(f"gs://{gcs_bucket}") == (url, bid)  # same id, no error, no second object
    assert store.list("builds") == [f"builds/{buildinfo.archive_name(bid)}"]


@pytest.mark.slow
def test_installed_build_reports_the_published_id(tmp_path):
    """pip-install the archive in a fresh venv (PyPI for setuptools): the install knows its id."""
    data = buildinfo.build_archive()
    bid = buildinfo.archive_id(data)
    archive = tmp_path / buildinfo.archive_name(bid)
    archive.write_bytes(data)
    subprocess.run([sys.executable, "-m", "venv", str(tmp_path / "venv")], check=True)
    py = tmp_path / "venv" / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", str(archive)], check=True, timeout=300)
    out = subprocess.run([str(py), "-m", "spotshield.buildinfo"], capture_output=True, text=True, cwd=tmp_path)
    assert out.stdout.strip() == bid
