"""Every CLI test runs in its own project root with no SPOTSHIELD_* settings leaking in."""
from __future__ import annotations


import pytest


@pytest.fixture(autouse=True)
def root(isolated_root):
    return isolated_root


@pytest.fixture
def cli():
    """Invoke `spotshield ...` in-process; returns the click Result (stdout, stderr, exit_code)."""
    from typer.testing import CliRunner

    from spotshield.cli.main import app

    runner = CliRunner()

    def invoke(*args: str, input: str | None = None):
        return runner.invoke(app, list(args), input=input)

    return invoke
