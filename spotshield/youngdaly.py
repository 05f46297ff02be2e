"""Checkpoint-interval and cost math for a job under Poisson preemptions: the one home of Young/Daly.

The trainer's adaptive strategy (spotshield/trainer/strategies/adaptive.py) and the study
(spotshield/analysis: advice, simulation, report, figures) both import this module.

Symbols (all seconds unless said otherwise):
    C    checkpoint cost: the training stall of one checkpoint
    R    restart cost: the VM time a preemption costs between the last useful step and the next
         one (the dying VM's shutdown, the new VM's boot and load). For cost, the repair gap in
         which no VM exists is not in it (it bills nothing: analysis's "R billed"); for time to
         finish it is (notice -> next training step).
    M    mean time between preemptions, 1/lambda
    tau  compute time between two checkpoints

Young (1974): tau = sqrt(2 C M), first order, good while C << M.
Daly (2006): tau = sqrt(2 C M) * [1 + sqrt(C/2M)/3 + (C/2M)/9] - C   for C < 2M, else M.
First-order waste (share of wall time lost): C/tau + (tau/2 + R)/M; R = 0 leaves only what
checkpointing and re-done work cost, which is what Young's interval minimises.
Daly's exact expectation for wall time when preemptions may strike at any moment
(compute, checkpoint or restart) and each restart resumes from the last checkpoint:
    T_wall = M * exp(R/M) * (exp((tau + C)/M) - 1) * T_work / tau
The simulation in spotshield.analysis.simulate checks this expectation.

Pure Python: no numpy, no torch, so `spotshield advise` and the trainer's strategies stay cheap.
Bad input raises SpotShieldError with one line.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from spotshield.errors import SpotShieldError

SECONDS_PER_HOUR = 3600.0
# Golden-section search bounds for the exact optimum, as multiples of Young's interval:
# the exact optimum always lies well inside [0.05x, 20x] of sqrt(2CM) for C, R >= 0.
_SEARCH_LO, _SEARCH_HI = 0.05, 20.0
_GOLDEN_ITERS = 120  # shrinks the bracket by 0.618^120, far below float precision
# Break-even search: rates from 1e-6 to 1e4 preemptions per hour cover every real case.
_RATE_LO_PER_H, _RATE_HI_PER_H = 1e-6, 1e4


def _check(C: float, M: float, R: float = 0.0) -> None:
    if C < 0:
        raise SpotShieldError(f"checkpoint cost must be >= 0 s, not {C}")
    if not M > 0:
        raise SpotShieldError(f"mean time between preemptions must be > 0 s, not {M}")
    if R < 0:
        raise SpotShieldError(f"restart cost must be >= 0 s, not {R}")


def young_interval(C: float, M: float) -> float:
    """Young's first-order optimum sqrt(2CM): the formula the adaptive strategy uses."""
    _check(C, M)
    return math.sqrt(2.0 * C * M)


def daly_interval(C: float, M: float) -> float:
    """Daly's higher-order optimum; equals M once C >= 2M (checkpointing barely helps)."""
    _check(C, M)
    if C >= 2.0 * M:
        return M
    r = C / (2.0 * M)
    return math.sqrt(2.0 * C * M) * (1.0 + math.sqrt(r) / 3.0 + r / 9.0) - C


def estimate_mtbp(preemptions: int, exposure_s: float, prior_s: float, prior_weight: float = 1.0) -> float:
    """Mean time between preemptions from a run's own history, shrunk towards a prior.

    A Gamma prior on the preemption rate worth `prior_weight` preemptions observed over
    `prior_weight * prior_s` seconds gives the posterior mean time
        (prior_weight * prior_s + exposure_s) / (prior_weight + preemptions).
    With no history it is the prior; with a long history it is exposure / preemptions.
    """
    if prior_s <= 0 or prior_weight <= 0:
        raise SpotShieldError(f"the MTBP prior needs prior_s > 0 and prior_weight > 0, not {prior_s}, {prior_weight}")
    if preemptions < 0 or exposure_s < 0:
        raise SpotShieldError(f"the MTBP estimate needs preemptions >= 0 and exposure_s >= 0, "
                              f"not {preemptions}, {exposure_s}")
    return (prior_weight * prior_s + exposure_s) / (prior_weight + preemptions)


def first_order_waste(tau: float, C: float, M: float, R: float = 0.0) -> float:
    """The textbook approximation C/tau + (tau/2 + R)/M (valid while tau, C, R << M)."""
    _check(C, M, R)
    if tau <= 0:
        raise SpotShieldError(f"checkpoint interval must be > 0 s, not {tau}")
    return C / tau + (tau / 2.0 + R) / M


def expected_wall_ratio(tau: float, C: float, R: float, M: float) -> float:
    """Daly's exact E[T_wall] / T_work for interval tau (>= 1; inf when overflowing)."""
    _check(C, M, R)
    if tau <= 0:
        raise SpotShieldError(f"checkpoint interval must be > 0 s, not {tau}")
    try:
        return M * math.exp(R / M) * math.expm1((tau + C) / M) / tau
    except OverflowError:
        return math.inf


def waste_fraction(tau: float, C: float, R: float, M: float) -> float:
    """Expected share of wall time that is not useful compute: 1 - T_work / E[T_wall]."""
    return 1.0 - 1.0 / expected_wall_ratio(tau, C, R, M)


def optimal_interval(C: float, R: float, M: float) -> float:
    """The interval minimising Daly's exact expectation (golden-section search)."""
    _check(C, M, R)
    if C == 0:
        return 0.0  # free checkpoints: checkpoint continuously
    young = young_interval(C, M)
    lo, hi = math.log(young * _SEARCH_LO), math.log(young * _SEARCH_HI)
    f = lambda u: expected_wall_ratio(math.exp(u), C, R, M)  # noqa: E731
    g = (math.sqrt(5.0) - 1.0) / 2.0
    a, b = lo, hi
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(_GOLDEN_ITERS):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = f(d)
    return math.exp((a + b) / 2.0)


def cost_ratio(wall_ratio: float, spot_price: float, ondemand_price: float) -> float:
    """Expected spot cost / on-demand cost for the same work (on-demand runs uninterrupted)."""
    if ondemand_price <= 0 or spot_price <= 0:
        raise SpotShieldError("prices must be > 0 per hour")
    return wall_ratio * spot_price / ondemand_price


def best_wall_ratio(C: float, R: float, M: float) -> float:
    if C == 0:
        _check(C, M, R)
        return math.exp(R / M)  # limit tau -> 0 of Daly's expectation with C = 0
    return expected_wall_ratio(optimal_interval(C, R, M), C, R, M)


def break_even_rate(C: float, R: float, spot_price: float, ondemand_price: float) -> float:
    """Preemptions per hour at which spot with the optimal interval costs as much as on-demand."""
    if spot_price >= ondemand_price:
        return 0.0
    target = ondemand_price / spot_price
    ratio = lambda per_h: best_wall_ratio(C, R, SECONDS_PER_HOUR / per_h)  # noqa: E731
    lo, hi = math.log(_RATE_LO_PER_H), math.log(_RATE_HI_PER_H)
    if ratio(math.exp(hi)) < target:
        return math.inf
    for _ in range(200):  # bisection in log-rate; the ratio rises monotonically with the rate
        mid = (lo + hi) / 2.0
        if ratio(math.exp(mid)) < target:
            lo = mid
        else:
            hi = mid
    return math.exp((lo + hi) / 2.0)


@dataclass(frozen=True)
class Advice:
    rate_per_h: float
    checkpoint_s: float
    restart_s: float
    spot_price: float
    ondemand_price: float
    mtbf_s: float
    young_s: float
    daly_s: float
    optimal_s: float
    waste_at_young: float
    waste_at_daly: float
    waste_at_optimal: float
    cost_ratio: float
    break_even_per_h: float


def advise(rate_per_h: float, checkpoint_s: float, restart_s: float,
           spot_price: float, ondemand_price: float) -> Advice:
    if rate_per_h <= 0:
        raise SpotShieldError(f"preemption rate must be > 0 per hour, not {rate_per_h}")
    if checkpoint_s <= 0:
        raise SpotShieldError(f"checkpoint cost must be > 0 s, not {checkpoint_s}")
    if restart_s < 0:
        raise SpotShieldError(f"restart time must be >= 0 s, not {restart_s}")
    M = SECONDS_PER_HOUR / rate_per_h
    C, R = checkpoint_s, restart_s
    young, daly, opt = young_interval(C, M), daly_interval(C, M), optimal_interval(C, R, M)
    best = expected_wall_ratio(opt, C, R, M)
    return Advice(
        rate_per_h=rate_per_h, checkpoint_s=C, restart_s=R,
        spot_price=spot_price, ondemand_price=ondemand_price, mtbf_s=M,
        young_s=young, daly_s=daly, optimal_s=opt,
        waste_at_young=waste_fraction(young, C, R, M),
        waste_at_daly=waste_fraction(daly, C, R, M),
        waste_at_optimal=waste_fraction(opt, C, R, M),
        cost_ratio=cost_ratio(best, spot_price, ondemand_price),
        break_even_per_h=break_even_rate(C, R, spot_price, ondemand_price),
    )
