"""Trainer test fixtures."""
from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    import torch

    torch.set_num_threads(1)  # 2 shared cores; and resumed runs must match thread counts
