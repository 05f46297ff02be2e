"""The one interface every checkpoint strategy implements: it decides only *when* to save.

The trainer calls, in this order:
  on_start(now, preemptions, exposure_s)   once, with this run's preemption history
  should_save(progress) -> reason | None   at every step boundary
  on_save(now, step)                       when a save starts (any reason, emergency included)
  on_checkpoint(now, step, stall_s, persist_s)  when that save is committed (measurements)
  on_preemption(now)                       when a preemption notice arrives
Strategies never touch tensors or the store, so their logic is testable in microseconds.
`now` is time.monotonic() seconds.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from spotshield.errors import SpotShieldError


@dataclass
class Progress:
    """What the trainer knows at a step boundary."""

    now: float  # time.monotonic() seconds
    step: int  # optimizer steps done so far (global)
    epoch: int  # epochs completed
    epoch_end: bool = False  # this boundary closes an epoch
    metric: Optional[float] = None  # validation accuracy when validation just ran (epoch end or a metrics call)


class Strategy:
    name = "base"

    def __init__(self) -> None:
        self.last_save_t: float | None = None
        self.last_save_step = 0

    # --- lifecycle -----------------------------------------------------------------
    def on_start(self, now: float, step: int = 0, preemptions: int = 0, exposure_s: float = 0.0) -> None:
        # The clock for "time since the last save" starts when this process starts:
        # the checkpoint we resumed from is the last save as far as lost work goes.
        self.last_save_t = now
        self.last_save_step = step

    def should_save(self, p: Progress) -> Optional[str]:
        raise NotImplementedError

    def on_save(self, now: float, step: int) -> None:
        # Intervals run from the start of a save: that is the point training can resume from.
        self.last_save_t = now
        self.last_save_step = step

    def on_checkpoint(self, now: float, step: int, stall_s: float, persist_s: float) -> None:
        pass

    def on_preemption(self, now: float) -> None:
        pass

    # --- carried inside checkpoints so learned estimates survive restarts ------------
    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    def describe(self) -> dict:
        """Current parameters and estimates, for events and the status view."""
        return {}


def check_param(strategy: str, name: str, value, *, minimum: float = 0.0, strict: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpotShieldError(f"strategy {strategy}: {name} must be a number, not {value!r}")
    if (value <= minimum) if strict else (value < minimum):
        op = ">" if strict else ">="
        raise SpotShieldError(f"strategy {strategy}: {name} must be {op} {minimum:g}, not {value}")
    return float(value)
