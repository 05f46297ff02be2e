"""Which google resource and data source types a Terraform tree uses.

Read from the files themselves, so a new resource in a module needs no change here.
A regex, not an HCL parser: the tools virtualenv has only checkov's bc-python-hcl2,
and a type label is always the first quoted word after the keyword.
"""
from __future__ import annotations

import re
from pathlib import Path

# `resource "google_x" "name"` in .tf; `mock_resource "google_x"` in .tftest.hcl mock providers.
_RESOURCE = re.compile(r'^\s*(?:resource|mock_resource)\s+"(google_[a-z0-9_]+)"', re.M)
_DATA = re.compile(r'^\s*(?:data|mock_data)\s+"(google_[a-z0-9_]+)"', re.M)
PATTERNS = ("*.tf", "*.tftest.hcl")
SKIP_DIRS = {".terraform"}


def scan(roots: list[Path]) -> tuple[set[str], set[str]]:
    """(resource types, data source types) used anywhere under `roots`."""
    resources: set[str] = set()
    data: set[str] = set()
    for root in roots:
        for pattern in PATTERNS:
            for path in sorted(root.rglob(pattern)):
                if SKIP_DIRS & set(path.relative_to(root).parts):
                    continue
                text = path.read_text(errors="replace")
                resources.update(_RESOURCE.findall(text))
                data.update(_DATA.findall(text))
    return resources, data
