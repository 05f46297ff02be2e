"""`adaptive`: the Young/Daly interval sqrt(2*C*M), re-estimated as the run goes.

C (checkpoint cost) is an EMA of measured costs, starting from cost_prior_s. With
asynchronous saving the cost to training is the snapshot stall ("stall"); "total" adds
the persist time (right for a synchronous checkpointer; conservative otherwise).
M (mean time between preemptions) comes from this run's own history (preemptions and
exposure seen in earlier boots' events, plus this boot's uptime), shrunk towards
mtbp_prior_s. The interval is recomputed after each save and each preemption, and is
never shorter than a persist (at most one persist is in flight) nor min_interval_s.
"""
from __future__ import annotations

from typing import Optional

from spotshield.errors import SpotShieldError
from spotshield.trainer.strategies.base import Progress, Strategy, check_param
from spotshield.youngdaly import estimate_mtbp as estimate_mtbp_s, young_interval as young_interval_s

COSTS = ("stall", "total")


class AdaptiveStrategy(Strategy):
    name = "adaptive"

    def __init__(
        self,
        mtbp_prior_s: float = 3600.0,
        prior_weight: float = 1.0,
        cost_prior_s: float = 1.0,
        cost: str = "stall",
        ema_alpha: float = 0.3,
        min_interval_s: float = 1.0,
        max_interval_s: float = 3600.0,
    ):
        super().__init__()
        self.mtbp_prior_s = check_param(self.name, "mtbp_prior_s", mtbp_prior_s, strict=True)
        self.prior_weight = check_param(self.name, "prior_weight", prior_weight, strict=True)
        self.cost_prior_s = check_param(self.name, "cost_prior_s", cost_prior_s)
        if cost not in COSTS:
            raise SpotShieldError(f"strategy adaptive: cost must be stall or total, not {cost!r}")
        self.cost = cost
        self.ema_alpha = check_param(self.name, "ema_alpha", ema_alpha, strict=True)
        if self.ema_alpha > 1:
            raise SpotShieldError(f"strategy adaptive: ema_alpha must be in (0, 1], not {ema_alpha}")
        self.min_interval_s = check_param(self.name, "min_interval_s", min_interval_s)
        self.max_interval_s = check_param(self.name, "max_interval_s", max_interval_s, strict=True)
        if self.max_interval_s < self.min_interval_s:
            raise SpotShieldError("strategy adaptive: max_interval_s must be >= min_interval_s")
        self.cost_s: float | None = None  # EMA of measured cost; None until the first save
        self.persist_s = 0.0  # EMA of persist time: the floor of the interval
        self.preemptions = 0
        self.exposure_s = 0.0  # run time observed in earlier boots
        self.start_t = 0.0
        self.interval_s = self._recompute(0.0)

    # --- estimates ---------------------------------------------------------------------
    def mtbp_s(self, now: float) -> float:
        exposure = self.exposure_s + max(0.0, now - self.start_t)
        return estimate_mtbp_s(self.preemptions, exposure, self.mtbp_prior_s, self.prior_weight)

    def _recompute(self, now: float) -> float:
        # 1. C: the measured cost, or the prior before the first measurement
        c = self.cost_prior_s if self.cost_s is None else self.cost_s
        # 2. M: this run's preemption history shrunk towards the prior
        m = self.m_s = self.mtbp_s(now)
        # 3. Young/Daly, kept within [max(min_interval, persist time), max_interval]
        floor = max(self.min_interval_s, self.persist_s)
        self.interval_s = min(max(young_interval_s(c, m), floor), self.max_interval_s)
        return self.interval_s

    # --- lifecycle ---------------------------------------------------------------------
    def on_start(self, now: float, step: int = 0, preemptions: int = 0, exposure_s: float = 0.0) -> None:
        super().on_start(now, step)
        self.start_t = now
        self.preemptions = preemptions
        self.exposure_s = exposure_s
        self._recompute(now)

    def should_save(self, p: Progress) -> Optional[str]:
        if p.now - self.last_save_t >= self.interval_s:
            return "adaptive"
        return None

    def on_checkpoint(self, now: float, step: int, stall_s: float, persist_s: float) -> None:
        sample = stall_s + (persist_s if self.cost == "total" else 0.0)
        a = self.ema_alpha
        self.cost_s = sample if self.cost_s is None else a * sample + (1 - a) * self.cost_s
        self.persist_s = persist_s if self.persist_s == 0 else a * persist_s + (1 - a) * self.persist_s
        self._recompute(now)

    def on_preemption(self, now: float) -> None:
        self.preemptions += 1
        self._recompute(now)

    def state_dict(self) -> dict:
        return {"cost_s": self.cost_s, "persist_s": self.persist_s}

    def load_state_dict(self, state: dict) -> None:
        self.cost_s = state.get("cost_s")
        self.persist_s = state.get("persist_s") or 0.0
        self._recompute(self.start_t)

    def describe(self) -> dict:
        return {
            "interval_s": round(self.interval_s, 4),
            "cost_s": self.cost_s,
            "persist_s": self.persist_s,
            "mtbp_s": round(self.m_s, 3),  # as of the last recompute
            "preemptions": self.preemptions,
        }
