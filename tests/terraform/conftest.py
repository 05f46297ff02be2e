"""Fixtures for the Terraform tests: the real stack, and mutable copies of it."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


class StackCopy:
    """terraform/ and startup-scripts/ copied under a temp folder (the checks read nothing else)."""

    def __init__(self, root: Path):
        self.root = root
        ignore = shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "*.tfstate*")
        shutil.copytree(REPO / "terraform", root / "terraform", ignore=ignore)
        shutil.copytree(REPO / "startup-scripts", root / "startup-scripts")

    def edit(self, rel: str, old: str, new: str) -> None:
        """Replace `old` (which must be present) by `new` in one file of the copy."""
        path = self.root / rel
        text = path.read_text()
        assert old in text, f"{old!r} not in {rel}: the test no longer matches the stack"
        path.write_text(text.replace(old, new, 1))


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture
def stack_copy(tmp_path) -> StackCopy:
    return StackCopy(tmp_path / "repo")
