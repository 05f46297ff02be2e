"""The emulated region's arguments, checked in one place.

`spotshield up` (StackSettings.check), `spotshield local start` (daemon.start, before anything is
started), the Region itself and `POST /spotshield/v1/injector` all call check_region_args, so a bad
time scale, pattern, rate, trace or port reads the same wherever it is given.
"""
from __future__ import annotations

from spotshield.errors import SpotShieldError
from spotshield.local.injector import PATTERNS, check as check_schedule
from spotshield.local.procs import port_in_use

__all__ = ["PATTERNS", "check_region_args"]


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def check_region_args(*, time_scale=None, pattern=None, rate=None, trace=None, ports: dict | None = None,
                      schedule: bool = True) -> None:
    """Check every argument given (None: not given). time_scale: emulated seconds per real second;
    rate: preemptions per emulated hour; ports: {"compute": n, "storage": n}. With schedule=False
    the pattern's schedule itself is not built (a rated pattern may still have rate 0, a trace is not
    read): what settings for either backend may hold."""
    if time_scale is not None and (not _number(time_scale) or time_scale <= 0):
        raise SpotShieldError(f"time scale must be > 0, not {time_scale}")
    if rate is not None and (not _number(rate) or rate < 0):
        raise SpotShieldError(f"preemption rate must be >= 0 per hour, not {rate!r}")
    if pattern is not None:
        if pattern not in PATTERNS:
            raise SpotShieldError(f"unknown preemption pattern {pattern!r}; choose one of {', '.join(PATTERNS)}")
        if schedule:
            check_schedule(pattern, float(rate or 0.0), trace)
    for name, port in (ports or {}).items():
        if port is None:
            continue
        if not isinstance(port, int) or not 0 < port < 65536:
            raise SpotShieldError(f"{name} port {port} is out of range 1-65535")
        if port_in_use(port):
            raise SpotShieldError(f"{name} port {port} is already in use; pick another or stop what holds it")
