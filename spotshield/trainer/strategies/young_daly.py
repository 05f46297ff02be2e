"""The Young/Daly optimal checkpoint interval, and the estimates that feed it.

Pure Python (no torch) so the advice/study code can import it cheaply.

Young (1974): with checkpoint cost C and mean time between failures M, the interval
T that minimises the expected waste is T = sqrt(2*C*M). Daly (2006) adds higher-order
terms that matter when C is not small against M. Waste per unit of time is about
C/T (checkpointing) + T/(2M) (work redone after a failure, on average half an interval).
"""
from __future__ import annotations

import math


def young_interval_s(cost_s: float, mtbp_s: float) -> float:
    """sqrt(2*C*M): the first-order optimal seconds between checkpoint starts."""
    if cost_s < 0 or mtbp_s <= 0:
        raise ValueError(f"need cost_s >= 0 and mtbp_s > 0, got {cost_s}, {mtbp_s}")
    return math.sqrt(2.0 * cost_s * mtbp_s)


def daly_interval_s(cost_s: float, mtbp_s: float) -> float:
    """Daly's higher-order estimate; equals M once C >= 2M (checkpointing is then hopeless)."""
    if cost_s < 0 or mtbp_s <= 0:
        raise ValueError(f"need cost_s >= 0 and mtbp_s > 0, got {cost_s}, {mtbp_s}")
    if cost_s >= 2.0 * mtbp_s:
        return mtbp_s
    r = cost_s / (2.0 * mtbp_s)
    return math.sqrt(2.0 * cost_s * mtbp_s) * (1.0 + math.sqrt(r) / 3.0 + r / 9.0) - cost_s


def estimate_mtbp_s(preemptions: int, exposure_s: float, prior_s: float, prior_weight: float = 1.0) -> float:
    """Mean time between preemptions from this run's own history, shrunk towards a prior.

    A Gamma prior on the preemption rate worth `prior_weight` preemptions observed over
    `prior_weight * prior_s` seconds gives the posterior mean time
        (prior_weight * prior_s + exposure_s) / (prior_weight + preemptions).
    With no history it is the prior; with a long history it is exposure / preemptions.
    """
    if prior_s <= 0 or prior_weight <= 0:
        raise ValueError(f"need prior_s > 0 and prior_weight > 0, got {prior_s}, {prior_weight}")
    if preemptions < 0 or exposure_s < 0:
        raise ValueError(f"need preemptions >= 0 and exposure_s >= 0, got {preemptions}, {exposure_s}")
    return (prior_weight * prior_s + exposure_s) / (prior_weight + preemptions)


def expected_waste_fraction(interval_s: float, cost_s: float, mtbp_s: float) -> float:
    """First-order share of wall time lost: C/T for saving plus T/(2M) redone after preemptions."""
    if interval_s <= 0 or mtbp_s <= 0:
        raise ValueError("need interval_s > 0 and mtbp_s > 0")
    return cost_s / interval_s + interval_s / (2.0 * mtbp_s)
