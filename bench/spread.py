"""A timing's median with its spread: the one home of how the benchmarks summarise repetitions.

Every timing the benchmarks report is a median over repetitions with its interquartile range
(p25-p75) and its min-max beside it, so that a reader can tell a difference between methods
from the noise of a shared machine. Quartiles use the inclusive method (the sample's own
min and max are p0 and p100), which stays defined for 2 samples.
"""
from __future__ import annotations

import statistics


def summary(samples_s: list[float], scale: float = 1000.0) -> dict:
    """{median, p25, p75, min, max, n} of samples given in seconds, scaled (default: to ms).

    Bad input (no samples) raises ValueError: a benchmark with nothing measured has a bug.
    """
    xs = sorted(float(x) * scale for x in samples_s)
    if not xs:
        raise ValueError("no samples to summarise")
    q = statistics.quantiles(xs, n=4, method="inclusive") if len(xs) > 1 else [xs[0]] * 3
    return {"median": statistics.median(xs), "p25": q[0], "p75": q[2], "min": xs[0], "max": xs[-1], "n": len(xs)}


def text(s: dict, digits: int = 1) -> str:
    """'12.3 (IQR 11.0-13.1, min-max 10.2-15.0, n=5)': a summary in one cell, unit left to the caller."""
    f = f"{{:.{digits}f}}"
    return (f"{f.format(s['median'])} (IQR {f.format(s['p25'])}-{f.format(s['p75'])}, "
            f"min-max {f.format(s['min'])}-{f.format(s['max'])}, n={s['n']})")
