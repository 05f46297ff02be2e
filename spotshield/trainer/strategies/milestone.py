"""`milestone`: save when validation accuracy improves; a maximum gap is the safety net."""
from __future__ import annotations

from typing import Optional

from spotshield.trainer.strategies.base import Progress, Strategy, check_param


class MilestoneStrategy(Strategy):
    name = "milestone"

    def __init__(self, min_delta: float = 0.0, max_gap_s: float = 600.0):
        super().__init__()
        self.min_delta = check_param(self.name, "min_delta", min_delta)
        self.max_gap_s = check_param(self.name, "max_gap_s", max_gap_s, strict=True)
        self.best: float | None = None  # best metric seen at a save

    def should_save(self, p: Progress) -> Optional[str]:
        # 1. a validation result (epoch end or a metrics call) that beats the best one saved so far
        if p.metric is not None:
            if self.best is None or p.metric > self.best + self.min_delta:
                self.best = p.metric
                return "milestone"
        # 2. safety net: never go longer than max_gap_s without a checkpoint
        if p.now - self.last_save_t >= self.max_gap_s:
            return "max_gap"
        return None

    def state_dict(self) -> dict:
        return {"best": self.best}

    def load_state_dict(self, state: dict) -> None:
        self.best = state.get("best")

    def describe(self) -> dict:
        return {"min_delta": self.min_delta, "max_gap_s": self.max_gap_s, "best": self.best}
