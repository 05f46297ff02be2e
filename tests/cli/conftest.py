"""Every CLI test runs in its own project root with no SPOTSHIELD_* settings leaking in."""
from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def root(isolated_root):
    return isolated_root
