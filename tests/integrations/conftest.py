"""Integration test fixtures: the real frameworks on tiny CPU models."""
from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    import torch

    torch.set_num_threads(1)  # 2 shared cores; and resumed runs must match thread counts


@pytest.fixture(autouse=True)
def _no_fleet_environment(monkeypatch):
    """Tests run as on a laptop unless they set the boot script's variables themselves."""
    for key in list(os.environ):
        if key.startswith("SPOTSHIELD_") or key in ("GCE_METADATA_HOST", "RANK", "WORLD_SIZE"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("TRANSFORMERS_VERBOSITY", "error")
