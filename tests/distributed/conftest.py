"""Distributed test fixtures: an in-process world of one rank, and one thread per process."""
from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    import torch

    torch.set_num_threads(1)  # 2 shared cores


@pytest.fixture
def world1(tmp_path):
    """torch.distributed initialised in this process as a world of one gloo rank."""
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{tmp_path}/pg", rank=0, world_size=1)
    yield
    dist.destroy_process_group()
