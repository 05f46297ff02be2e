"""Status reads the Compute API and the bucket: both real (emulator's Compute, fake-gcs-server)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# The emulated region helper lives with the cloud tests; status needs the same fleet.
sys.path.insert(0, str(Path(__file__).parents[1] / "cloud"))


@pytest.fixture(autouse=True)
def root(tmp_path, monkeypatch):
    for key in list(os.environ):
        if key.startswith("SPOTSHIELD_"):
            monkeypatch.delenv(key)
    repo = tmp_path / "repo"
    repo.mkdir()
    monkeypatch.setenv("SPOTSHIELD_ROOT", str(repo))
    monkeypatch.chdir(repo)
    return repo


@pytest.fixture
def region():
    from emulated_region import start_region

    r = start_region()
    yield r
    r.close()
