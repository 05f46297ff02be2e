"""Deadline policies, registered by name and built by make(). Pure Python: no torch."""
from __future__ import annotations

import inspect

from spotshield.deadline.policies.base import Policy
from spotshield.deadline.policies.fallback import Fallback
from spotshield.deadline.policies.fixed import AlwaysOnDemand, AlwaysSpot
from spotshield.deadline.policies.greedy import Greedy
from spotshield.deadline.policies.uniform_progress import UniformProgress
from spotshield.errors import SpotShieldError

REGISTRY: dict[str, type[Policy]] = {
    cls.name: cls for cls in (UniformProgress, Greedy, Fallback, AlwaysOnDemand, AlwaysSpot)
}
NAMES = tuple(REGISTRY)
DEFAULT = UniformProgress.name


def make(name: str | None = None, **params) -> Policy:
    """Build a policy by name (default: uniform-progress); bad names or parameters raise SpotShieldError."""
    cls = REGISTRY.get(name or DEFAULT)
    if cls is None:
        raise SpotShieldError(f"unknown deadline policy {name!r}; choose one of {', '.join(NAMES)}")
    try:
        inspect.signature(cls).bind(**params)
    except TypeError:
        known = ", ".join(inspect.signature(cls).parameters) or "none"
        bad = sorted(set(params) - set(inspect.signature(cls).parameters))
        raise SpotShieldError(f"unknown parameter {bad[0]!r} for deadline policy {cls.name}; "
                              f"it takes: {known}") from None
    return cls(**params)


__all__ = ["make", "NAMES", "DEFAULT", "REGISTRY", "Policy"]
