"""Helpers shared by the trainer tests (a uniquely named module: tests/ has no packages): tiny digits configs, CLI subprocesses, weight comparison."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SPOTSHIELD = str(Path(sys.executable).parent / "spotshield")

# A digits run small enough for a test: 22 steps per epoch of 32 images.
TINY = {
    "model": "tiny-cnn", "data": "digits", "seed": 0, "limit_train": 704, "limit_val": 200,
    "num_threads": 1, "health_port": 0, "log_every_s": 0.5, "metadata_watch": False,
}


def tiny_config(store_url: str, **overrides):
    from spotshield.trainer.config import load_config

    return load_config([], {**TINY, "store": store_url, **overrides})


def cli_env(**extra) -> dict:
    env = dict(os.environ)
    env.update({"SPOTSHIELD_HEALTH_PORT": "0", "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"})
    env.pop("GCE_METADATA_HOST", None)
    env.update(extra)
    return env


def tiny_cli_args(store_url: str, **sets) -> list[str]:
    args = [SPOTSHIELD, "train", "--model", "tiny-cnn", "--data", "digits", "--seed", "0", "--store", store_url]
    for k, v in {"num_threads": 1, "limit_train": 704, "limit_val": 200, "log_every_s": 0.5,
                 "metadata_watch": "false", **sets}.items():
        args += ["--set", f"{k}={v}"]
    return args


def run_cli(args: list[str], timeout: float = 120, **env) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=cli_env(**env), cwd=REPO)


def final_weights(store) -> dict:
    import io

    import torch

    return torch.load(io.BytesIO(store.read("final/model.pt")), weights_only=True)


def assert_identical(a: dict, b: dict) -> None:
    import torch

    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"tensor {k} differs"
