"""The gcp path's real parts: the emulator's Compute API, fake-gcs-server, a fake terraform."""
from __future__ import annotations

import json
import os
import shutil
import stat
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.fixture(autouse=True)
def root(isolated_root):
    (isolated_root / "terraform").mkdir()
    return isolated_root


@pytest.fixture
def region(monkeypatch):
    from emulated_region import start_region

    r = start_region()
    monkeypatch.setenv("SPOTSHIELD_COMPUTE_ENDPOINT", r.url)
    yield r
    r.close()


class FakeTerraform:
    def __init__(self, bindir: Path, log: Path):
        self.bindir, self.log = bindir, log

    def calls(self) -> list[dict]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]

    def argvs(self) -> list[list[str]]:
        return [c["argv"] for c in self.calls()]


@pytest.fixture
def fake_terraform(tmp_path, monkeypatch):
    """`terraform` first on PATH: a script that records its calls (tests/cloud/fake_terraform.py)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "terraform"
    exe.write_text(f"#!{sys.executable}\n" + (HERE / "fake_terraform.py").read_text())
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "terraform-calls.jsonl"
    monkeypatch.setenv("FAKE_TF_LOG", str(log))
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    assert shutil.which("terraform") == str(exe)
    return FakeTerraform(bindir, log)
