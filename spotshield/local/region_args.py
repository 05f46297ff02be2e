"""The emulated region's arguments, checked in one place.

The local backend's plan and up, `spotshield local start` (daemon.start, before anything is
started), the Region itself and `POST /spotshield/v1/injector` all call check_region_args, so a bad
time scale, pattern, rate, trace or port reads the same wherever it is given.
"""
from __future__ import annotations

from spotshield.errors import SpotShieldError
from spotshield.local.injector import check as check_schedule
from spotshield.local.procs import port_in_use


def check_region_args(*, time_scale=None, pattern=None, rate=None, trace=None, ports: dict | None = None) -> None:
    """Check every argument given (None: not given). time_scale: emulated seconds per real second;
    pattern, rate (preemptions per emulated hour) and trace: the injector's schedule;
    ports: {"compute": n, "storage": n}."""
    if time_scale is not None and (isinstance(time_scale, bool) or not isinstance(time_scale, (int, float))
                                   or not time_scale > 0):
        raise SpotShieldError(f"time scale must be > 0, not {time_scale}")
    if pattern is not None:
        check_schedule(pattern, 0.0 if rate is None else rate, trace)
    for name, port in (ports or {}).items():
        if port is None:
            continue
        if not isinstance(port, int) or not 0 < port < 65536:
            raise SpotShieldError(f"{name} port {port} is out of range 1-65535")
        if port_in_use(port):
            raise SpotShieldError(f"{name} port {port} is already in use; pick another or stop what holds it")
