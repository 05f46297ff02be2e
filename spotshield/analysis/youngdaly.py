"""Checkpoint-interval and cost math for a job under Poisson preemptions.

Symbols (all seconds unless said otherwise):
    C  checkpoint cost: the training stall of one checkpoint
    R  restart cost: preemption notice -> next training step (VM recreate, boot, load)
    M  mean time between preemptions, 1/lambda
    tau  compute time between two checkpoints

Young (1974): tau = sqrt(2 C M), first order, good while C << M.
Daly (2006): tau = sqrt(2 C M) * [1 + sqrt(C/2M)/3 + (C/2M)/9] - C   for C < 2M, else M.
Daly's exact expectation for wall time when preemptions may strike at any moment
(compute, checkpoint or restart) and each restart resumes from the last checkpoint:
    T_wall = M * exp(R/M) * (exp((tau + C)/M) - 1) * T_work / tau
The simulation in spotshield.analysis.simulate checks this expectation.

Pure Python: no numpy, no torch, so `spotshield advise` stays instant.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from spotshield.errors import SpotShieldError
# One implementation of the intervals, shared with the trainer's adaptive strategy.
from spotshield.trainer.strategies.young_daly import daly_interval_s, young_interval_s

SECONDS_PER_HOUR = 3600.0
# Golden-section search bounds for the exact optimum, as multiples of Young's interval:
# the exact optimum always lies well inside [0.05x, 20x] of sqrt(2CM) for C, R >= 0.
_SEARCH_LO, _SEARCH_HI = 0.05, 20.0
_GOLDEN_ITERS = 120  # shrinks the bracket by 0.618^120, far below float precision
# Break-even search: rates from 1e-6 to 1e4 preemptions per hour cover every real case.
_RATE_LO_PER_H, _RATE_HI_PER_H = 1e-6, 1e4


def _check(C: float, M: float) -> None:
    if C < 0:
        raise SpotShieldError(f"checkpoint cost must be >= 0 s, not {C}")
    if not M > 0:
        raise SpotShieldError(f"mean time between preemptions must be > 0 s, not {M}")


def young_interval(C: float, M: float) -> float:
    """Young's first-order optimum sqrt(2CM): the formula the adaptive strategy uses."""
    _check(C, M)
    return young_interval_s(C, M)


def daly_interval(C: float, M: float) -> float:
    """Daly's higher-order optimum; equals M once C >= 2M (checkpointing barely helps)."""
    _check(C, M)
    return daly_interval_s(C, M)


def expected_wall_ratio(tau: float, C: float, R: float, M: float) -> float:
    """Daly's exact E[T_wall] / T_work for interval tau (>= 1; inf when overflowing)."""
    _check(C, M)
    if tau <= 0:
        raise SpotShieldError(f"checkpoint interval must be > 0 s, not {tau}")
    if R < 0:
        raise SpotShieldError(f"restart cost must be >= 0 s, not {R}")
    try:
        return M * math.exp(R / M) * math.expm1((tau + C) / M) / tau
    except OverflowError:
        return math.inf


def waste_fraction(tau: float, C: float, R: float, M: float) -> float:
    """Expected share of wall time that is not useful compute: 1 - T_work / E[T_wall]."""
    return 1.0 - 1.0 / expected_wall_ratio(tau, C, R, M)


def first_order_waste(tau: float, C: float, R: float, M: float) -> float:
    """The textbook approximation C/tau + (tau/2 + R)/M (valid while tau, C, R << M)."""
    _check(C, M)
    return C / tau + (tau / 2.0 + R) / M


def optimal_interval(C: float, R: float, M: float) -> float:
    """The interval minimising Daly's exact expectation (golden-section search)."""
    _check(C, M)
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
