"""Shared fixtures: real servers on free loopback ports, stopped by PID."""
from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def gcs_server(tmp_path_factory):
    """A real fake-gcs-server (filesystem backend) for the whole session."""
    from spotshield.local.gcs import start_gcs_server

    server = start_gcs_server(tmp_path_factory.mktemp("fake-gcs"))
    yield server
    server.stop()


@pytest.fixture
def gcs_bucket(gcs_server, monkeypatch, request):
    """A fresh bucket on the session fake-gcs-server, with STORAGE_EMULATOR_HOST set."""
    import re

    name = "t-" + re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:50].strip("-")
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_server.url)
    gcs_server.create_bucket(name)
    return name


@pytest.fixture
def isolated_root(tmp_path, monkeypatch):
    """A fresh project root as the working folder, with no SPOTSHIELD_* settings leaking in."""
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
