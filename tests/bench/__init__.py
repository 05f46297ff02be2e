"""Tests of bench/. Under pytest this package is the one named `bench`, so it shadows the repo's
bench/ package: repo_module() loads one of its self-contained modules by path."""
import importlib.util
from pathlib import Path

REPO_BENCH = Path(__file__).resolve().parents[2] / "bench"


def repo_module(name: str):
    """bench/<name>.py of the repo as a module (only for modules that import nothing from bench)."""
    spec = importlib.util.spec_from_file_location(f"repo_bench_{name}", REPO_BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
