"""Stack backends, registered by name and built by make(), like the checkpoint strategies.

    local   the emulator of a GCP region (spotshield/local/), the default without a project
    gcp     terraform/ on a real project (spotshield/cloud/gcp.py)

The CLI (spotshield/cli/stack.py) and the study's grid runner (spotshield/analysis/drivers.py)
only ever call a Backend (base.py); neither runs a backend's steps itself. Backend modules
import their heavy parts (the emulator, Google's clients, terraform) inside their methods.
"""
from __future__ import annotations

import importlib

from spotshield.backends.base import Backend, Sources
from spotshield.backends.record import StackRecord
from spotshield.errors import SpotShieldError

# name -> "module:class"; imported when made, so that reading a record imports no backend
REGISTRY: dict[str, str] = {"local": "spotshield.backends.local:LocalBackend",
                            "gcp": "spotshield.backends.gcp:GcpBackend"}
NAMES = tuple(REGISTRY)


def make(name: str, **options) -> Backend:
    """Build a backend by name; options go to its constructor (local: state_dir, fleet, seed; gcp: root)."""
    where = REGISTRY.get(name)
    if where is None:
        raise SpotShieldError(f"unknown backend {name!r}; choose one of {', '.join(NAMES)}")
    module, cls = where.split(":")
    return getattr(importlib.import_module(module), cls)(**options)


def sources(record: StackRecord) -> Sources:
    """What `status` reads for the stack in `record`."""
    return make(record.backend).sources(record)


__all__ = ["Backend", "Sources", "StackRecord", "make", "sources", "NAMES", "REGISTRY"]
