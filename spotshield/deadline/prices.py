"""Prices as a function, so the caller plugs in the project's one price table.

A PriceFn answers USD per hour for one instance: price(Where.SPOT, zone) or
price(Where.ON_DEMAND, None). This package holds no price numbers of its own.
"""
from __future__ import annotations

from typing import Callable

from spotshield.deadline.state import Where
from spotshield.errors import SpotShieldError

PriceFn = Callable[[Where, "str | None"], float]


def fixed_prices(spot: float, on_demand: float) -> PriceFn:
    """The same spot price in every zone and one on-demand price, both given by the caller."""
    for label, v in (("spot", spot), ("on-demand", on_demand)):
        if not isinstance(v, (int, float)) or not v > 0:
            raise SpotShieldError(f"{label} price must be > 0 USD per hour, not {v!r}")

    def price(where: Where, zone: str | None = None) -> float:
        return float(spot) if where == Where.SPOT else float(on_demand)

    return price
