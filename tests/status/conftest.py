"""Status reads the Compute API and the bucket: both real (emulator's Compute, fake-gcs-server)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The emulated region helper lives with the cloud tests; status needs the same fleet.
sys.path.insert(0, str(Path(__file__).parents[1] / "cloud"))


@pytest.fixture(autouse=True)
def root(isolated_root):
    return isolated_root


@pytest.fixture
def region():
    from emulated_region import start_region

    r = start_region()
    yield r
    r.close()
