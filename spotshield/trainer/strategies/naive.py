"""`naive`: save every N steps and/or every N wall seconds, whichever comes first."""
from __future__ import annotations

from typing import Optional

from spotshield.errors import SpotShieldError
from spotshield.trainer.strategies.base import Progress, Strategy, check_param


class NaiveStrategy(Strategy):
    name = "naive"

    def __init__(self, every_steps: int = 200, every_s: float = 0.0):
        super().__init__()
        if isinstance(every_steps, float) and every_steps.is_integer():
            every_steps = int(every_steps)
        if not isinstance(every_steps, int) or isinstance(every_steps, bool):
            raise SpotShieldError(f"strategy naive: every_steps must be a whole number, not {every_steps!r}")
        self.every_steps = int(check_param(self.name, "every_steps", every_steps))
        self.every_s = check_param(self.name, "every_s", every_s)
        if self.every_steps == 0 and self.every_s == 0:
            raise SpotShieldError("strategy naive: every_steps and every_s are both 0; set one, or use strategy none")

    def should_save(self, p: Progress) -> Optional[str]:
        # 1. enough steps since the last save?
        if self.every_steps and p.step - self.last_save_step >= self.every_steps:
            return "interval"
        # 2. enough wall time since the last save?
        if self.every_s and p.now - self.last_save_t >= self.every_s:
            return "interval"
        return None

    def describe(self) -> dict:
        return {"every_steps": self.every_steps, "every_s": self.every_s}
