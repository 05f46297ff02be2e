"""Every CLI test runs in its own project root with no SPOTSHIELD_* settings leaking in."""
from __future__ import annotations

import os

import pytest


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
def cli():
    """Invoke `spotshield ...` in-process; returns the click Result (stdout, stderr, exit_code)."""
    from typer.testing import CliRunner

    from spotshield.cli.main import app

    runner = CliRunner()

    def invoke(*args: str, input: str | None = None):
        return runner.invoke(app, list(args), input=input)

    return invoke
