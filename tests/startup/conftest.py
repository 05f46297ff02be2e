"""Fixtures for running the real boot scripts (helpers in boot_helpers.py)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from boot_helpers import FAKE_PYTHON


@pytest.fixture
def fake_python(tmp_path) -> Path:
    path = tmp_path / "fake-python"
    path.write_text(FAKE_PYTHON.replace("{python}", sys.executable))
    path.chmod(0o755)
    (tmp_path / "fake").mkdir()
    return path
