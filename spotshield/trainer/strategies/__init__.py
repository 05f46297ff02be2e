"""Checkpoint strategies, registered by name and built by make(). Pure Python: no torch."""
from __future__ import annotations

from spotshield.errors import SpotShieldError
from spotshield.trainer.strategies.adaptive import AdaptiveStrategy
from spotshield.trainer.strategies.base import Progress, Strategy
from spotshield.trainer.strategies.milestone import MilestoneStrategy
from spotshield.trainer.strategies.naive import NaiveStrategy
from spotshield.trainer.strategies.none import NoneStrategy

REGISTRY: dict[str, type[Strategy]] = {
    "adaptive": AdaptiveStrategy,
    "naive": NaiveStrategy,
    "milestone": MilestoneStrategy,
    "none": NoneStrategy,
}
NAMES = tuple(REGISTRY)
DEFAULT = "adaptive"


def make(name: str | None = None, **params) -> Strategy:
    """Build a strategy by name (default: adaptive); bad names or parameters raise SpotShieldError."""
    name = name or DEFAULT
    cls = REGISTRY.get(name)
    if cls is None:
        raise SpotShieldError(f"unknown strategy {name!r}; choose one of {', '.join(NAMES)}")
    import inspect

    known = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(params) - set(known))
    if unknown:
        hint = f"; known: {', '.join(known)}" if known else "; it takes none"
        raise SpotShieldError(f"unknown parameter {unknown[0]!r} for strategy {name}{hint}")
    return cls(**params)


__all__ = ["make", "NAMES", "DEFAULT", "REGISTRY", "Strategy", "Progress"]
