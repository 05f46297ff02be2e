"""Savings and break-even as a function of the restart time R, so a reader can use their own VM's.

R (preemption notice -> next training step) sets what each preemption costs, and the study's
R is the emulator's, not your VM's. This evaluates the one model of spotshield/youngdaly.py
(Daly's expectation at the optimal interval; break_even_rate) over a range of R at the study's
measured checkpoint cost C. R is in seconds of the VM's clock: emulated seconds in the emulator,
real seconds on a real VM. At C ~ 0 the break-even is close to ln(on-demand / spot) x 3600 / R.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from spotshield import youngdaly

R_VALUES_S = (30.0, 60.0, 120.0, 180.0, 300.0, 450.0, 600.0)  # 30 s to 10 min
RATES_PER_H = (0.3, 1.0, 3.0, 10.0)  # ~ the real AWS traces' rate, the study's ~1-2/h, high hazard


@dataclass(frozen=True)
class Point:
    restart_s: float
    break_even_per_h: float  # inf: spot always cheaper
    savings: dict[float, float]  # preemptions per hour -> expected savings (1 - spot / on-demand cost)
    measured: bool = False  # the study's own R


def expected_savings(C: float, R: float, rate_per_h: float, spot: float, od: float) -> float:
    """1 - expected spot cost / on-demand cost at the optimal interval (youngdaly's model)."""
    ratio = youngdaly.best_wall_ratio(C, R, youngdaly.SECONDS_PER_HOUR / rate_per_h)
    return 1.0 - youngdaly.cost_ratio(ratio, spot, od)


def curve(C: float, spot: float, od: float, *, r_values=R_VALUES_S, rates=RATES_PER_H,
          measured_r: float | None = None) -> list[Point]:
    """One Point per R (ascending), the measured R included and marked when given."""
    rs = sorted(set(r_values) | ({measured_r} if measured_r is not None and measured_r > 0 else set()))
    return [Point(R, youngdaly.break_even_rate(C, R, spot, od),
                  {lam: expected_savings(C, R, lam, spot, od) for lam in rates},
                  measured=measured_r is not None and math.isclose(R, measured_r))
            for R in rs]


def dense(C: float, spot: float, od: float, lo: float = R_VALUES_S[0], hi: float = R_VALUES_S[-1],
          n: int = 60, rates=RATES_PER_H) -> list[Point]:
    """Log-spaced R from lo to hi, for the figure."""
    rs = [lo * (hi / lo) ** (i / (n - 1)) for i in range(n)]
    return curve(C, spot, od, r_values=rs, rates=rates)
