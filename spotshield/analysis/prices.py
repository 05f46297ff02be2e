"""Hourly prices for the advice and the analysis: flags first, then the shared price table.

The table (spotshield/local/prices.csv, read through spotshield.status.cost.hourly) is the
one the emulator's cost meter and `spotshield status` use, so all three agree.
"""
from __future__ import annotations

from spotshield.errors import SpotShieldError

DEFAULT_MACHINE = "g2-standard-4"  # the machine of the original study: 4 vCPU + 1x L4
DEFAULT_GPU = "nvidia-l4"
DEFAULT_REGION = "us-central1"


def table_prices(machine: str = DEFAULT_MACHINE, gpu: str | None = DEFAULT_GPU, gpu_count: int = 1,
                 region: str = DEFAULT_REGION) -> tuple[float, float] | None:
    """(spot, on-demand) USD per hour for machine + GPUs, or None when the table lacks one."""
    from spotshield.status.cost import hourly

    return hourly(machine, gpu, gpu_count if gpu else 0, region)


def resolve(spot: float | None, ondemand: float | None, machine: str = DEFAULT_MACHINE,
            gpu: str | None = DEFAULT_GPU, gpu_count: int = 1) -> tuple[float, float]:
    """Prices from flags, filling what is missing from the table; one-line error otherwise."""
    if spot is None or ondemand is None:
        found = table_prices(machine, gpu, gpu_count)
        if found is None:
            what = f"{machine} + {gpu_count}x {gpu}" if gpu else machine
            raise SpotShieldError(f"no price for {what} in the price table; "
                                  "pass --spot-price and --ondemand-price (USD per hour)")
        spot = found[0] if spot is None else spot
        ondemand = found[1] if ondemand is None else ondemand
    if spot <= 0 or ondemand <= 0:
        raise SpotShieldError(f"prices must be > 0 USD per hour, not spot={spot} on-demand={ondemand}")
    return spot, ondemand
