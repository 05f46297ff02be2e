"""The bad-input checks for a deadline, as pure functions: each raises SpotShieldError, one line.

  a deadline already past;
  a deadline shorter than the job's on-demand time: the remaining work plus one restart
    overhead (the start of the on-demand instance), which is what the safety net of every
    deadline policy falls back on, so no policy can promise less;
  a machine type with no on-demand price (the fallback could not be priced or compared).
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable

from spotshield.errors import SpotShieldError

SECONDS_PER_HOUR = 3600.0


def _h(seconds: float) -> str:
    return f"{seconds / SECONDS_PER_HOUR:.2f} h"


def utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_not_past(deadline: float, now: float, text: str | None = None) -> None:
    if deadline <= now:
        named = f"{text.strip()!r} ({utc(deadline)})" if text else utc(deadline)
        raise SpotShieldError(f"deadline {named} is already past (now {utc(now)}); "
                              "give a later time or a duration such as 8h")


def on_demand_time_s(remaining_work_s: float, restart_s: float) -> float:
    """Seconds an uninterrupted on-demand run needs from now: one start, then the work."""
    return remaining_work_s + restart_s


def check_feasible(deadline: float, now: float, remaining_work_s: float, restart_s: float) -> None:
    """The deadline leaves at least the on-demand time; else even all on-demand would be late."""
    check_not_past(deadline, now)
    need = on_demand_time_s(remaining_work_s, restart_s)
    if deadline - now < need:
        raise SpotShieldError(
            f"deadline {utc(deadline)} is {_h(deadline - now)} away, shorter than the {_h(need)} an on-demand "
            f"run needs ({_h(remaining_work_s)} of work + {_h(restart_s)} restart overhead); "
            f"give a deadline after {utc(now + need)} or run without one")


PriceLookup = Callable[[str], "tuple[float | None, float | None] | None"]


def check_on_demand_price(machine: str, lookup: PriceLookup) -> float:
    """The on-demand USD per hour of `machine` from `lookup` (the project's price table, in the
    caller's hands: machine -> (spot, on-demand) or None); one line when there is none."""
    found = lookup(machine)
    od = found[1] if found else None
    if od is None or not od > 0:
        raise SpotShieldError(f"no on-demand price for {machine} in the price table; a deadline needs one "
                              "to price the on-demand fallback: add the machine type to the table or pick one it lists")
    return float(od)
