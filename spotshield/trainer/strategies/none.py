"""`none`: no periodic checkpoints (the baseline). Emergency and final saves still happen
unless checkpoint.emergency is false."""
from __future__ import annotations

from typing import Optional

from spotshield.trainer.strategies.base import Progress, Strategy


class NoneStrategy(Strategy):
    name = "none"

    def should_save(self, p: Progress) -> Optional[str]:
        return None
