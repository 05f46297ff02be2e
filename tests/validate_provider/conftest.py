"""Session fixtures for the stand-in tests (helpers live in standin_helpers.py: unique name, safe to import)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from spotshield.validate import terraform_cli
from standin_helpers import FIXTURE, REPO, TOOLS_VENV


@pytest.fixture(scope="session")
def fixture_standin() -> tuple[terraform_cli.TerraformEnv, dict]:
    """Terraform env + build.json of the stand-in for the fixture stack's types."""
    return terraform_cli.prepare(FIXTURE, REPO, TOOLS_VENV)


@pytest.fixture(scope="session")
def fixture_schema(fixture_standin) -> dict:
    _, info = fixture_standin
    return json.loads(Path(info["env"]["SPOTSHIELD_TFSCHEMA"]).read_text())


