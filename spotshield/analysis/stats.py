"""Statistics over seeds: mean with a 95% Student-t interval, paired differences by seed, and
the verdict "within the noise of the seeds".

A study condition (strategy x pattern) is run once per seed; the seed fixes the preemption
schedule, so two strategies run on the same seed meet the same preemptions and their
difference is best judged paired by seed. Intervals are two-sided 95% Student t on the
mean over seeds (t quantile with n - 1 degrees of freedom): with 2 seeds the quantile is
12.7, so small studies get honest, wide intervals. One seed gives no interval at all.

Pure Python (the analysis extra has no scipy): the t quantile is a table for small df and
the Cornish-Fisher expansion beyond, within 3e-4 of the exact value.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping

LEVEL = 0.95
# savings are rounded to 0.1 point (billing.Bill.savings_pct): beating the price discount by
# less than half of that is rounding, not a saving above the ceiling
CEILING_SLACK = 0.0005
_Z975 = 1.959963984540054
# exact t_{0.975, df} for df = 1..10, where the expansion below is least accurate
_T975 = (12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281)


def t975(df: int) -> float:
    """The 97.5% quantile of Student's t with `df` degrees of freedom (two-sided 95%)."""
    if df < 1:
        raise ValueError(f"Student t needs df >= 1, not {df}")
    if df <= len(_T975):
        return _T975[df - 1]
    z = _Z975
    return (z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2)
            + (3 * z ** 7 + 19 * z ** 5 + 17 * z ** 3 - 15 * z) / (384 * df ** 3))


@dataclass(frozen=True)
class Interval:
    """Mean of n values with its 95% Student-t interval (nan bounds when n < 2)."""

    mean: float
    low: float
    high: float
    n: int

    @property
    def half(self) -> float:
        return (self.high - self.low) / 2.0

    @property
    def defined(self) -> bool:
        return self.n >= 2 and not math.isnan(self.low)

    def contains(self, x: float) -> bool:
        return self.defined and self.low <= x <= self.high

    def overlaps(self, other: "Interval") -> bool:
        return self.defined and other.defined and self.low <= other.high and other.low <= self.high

    def text(self, scale: float = 1.0, fmt: str = ".1f", unit: str = "") -> str:
        """'53.1 ± 9.9' (unit after each number), 'n/a' without values, '53.1 (1 seed)' without an interval."""
        if self.n == 0 or math.isnan(self.mean):
            return "n/a"
        m = format(self.mean * scale, fmt) + unit
        if not self.defined:
            return f"{m} (1 seed)"
        return f"{m} ± {format(self.half * scale, fmt.lstrip('+'))}{unit}"


def _clean(values: Iterable[float]) -> list[float]:
    return [float(v) for v in values if v is not None and not math.isnan(float(v))]


def mean_ci(values: Iterable[float]) -> Interval:
    """Mean and 95% Student-t interval of the values (NaNs dropped)."""
    xs = _clean(values)
    n = len(xs)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    mean = sum(xs) / n
    if n == 1:
        return Interval(mean, math.nan, math.nan, 1)
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
    half = t975(n - 1) * sd / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n)


def paired_diff(a: Mapping, b: Mapping) -> Interval:
    """Mean of a[k] - b[k] over the keys (seeds) both have, with its 95% interval."""
    keys = [k for k in a if k in b]
    return mean_ci(float(a[k]) - float(b[k]) for k in keys)


@dataclass(frozen=True)
class Comparison:
    """A - B on one figure, paired by seed, and each side's own interval."""

    a: str
    b: str
    diff: Interval
    a_ci: Interval
    b_ci: Interval

    @property
    def within_noise(self) -> bool:
        """True unless the paired interval excludes 0. One pair (no interval) cannot tell: noise."""
        return not self.diff.defined or self.diff.contains(0.0)

    def verdict(self, scale: float = 100.0, unit: str = " points") -> str:
        d = self.diff
        if d.n == 0:
            return f"{self.a} vs {self.b}: no common seeds"
        if not d.defined:
            return (f"{self.a} − {self.b} = {d.mean * scale:+.1f}{unit} on 1 common seed: "
                    "no interval, cannot be told from noise")
        where = (f"{self.a} − {self.b} = {d.mean * scale:+.1f}{unit}, 95% CI [{d.low * scale:+.1f}, "
                 f"{d.high * scale:+.1f}] over {d.n} paired seeds")
        overlap = "intervals overlap" if self.a_ci.overlaps(self.b_ci) else "intervals do not overlap"
        if self.within_noise:
            return f"{where}: **within the noise of the seeds** (the paired interval includes 0; {overlap})"
        better = self.a if d.mean > 0 else self.b
        return f"{where}: {better} is higher beyond the seeds' noise ({overlap})"


def compare(by_key_a: Mapping, by_key_b: Mapping, a: str, b: str) -> Comparison:
    return Comparison(a, b, paired_diff(by_key_a, by_key_b), mean_ci(by_key_a.values()), mean_ci(by_key_b.values()))


# --- study tables -------------------------------------------------------------------------

# figures of a condition given with their interval, and how the report prints them:
# (column, scale, format, unit). Times are in the events' clock, like metrics_summary.csv.
INTERVAL_COLUMNS = (
    ("preemptions", 1.0, ".1f", ""),
    ("wasted_emulated_s", 1.0, ".0f", ""),  # the run's time model: what R and the bill use
    ("recovery_emulated_s_mean", 1.0, ".0f", ""),
    ("checkpoint_overhead", 100.0, ".2f", "%"),
    ("goodput", 100.0, ".1f", "%"),
    ("savings", 100.0, ".1f", "%"),
    ("accuracy_delta", 1.0, "+.4f", ""),
    ("cost_spot", 1.0, ".4f", ""),
)


def paired_accuracy_delta(df):
    """Each run's final accuracy minus that of the on-demand baseline of the SAME seed.

    Across seeds the data order and initial weights differ, so a delta against the mean
    baseline measures the seed-to-seed gap, not what preemptions did. NaN where the run's
    seed has no baseline (the report counts those)."""
    base = df[df["baseline"]]
    by_seed = base.groupby("seed")["final_accuracy"].mean().to_dict()
    return df["final_accuracy"] - df["seed"].map(by_seed)


def condition_intervals(df):
    """One row per strategy x pattern: seeds, then <col>, <col>_low, <col>_high for INTERVAL_COLUMNS."""
    import pandas as pd

    rows = []
    for (strategy, pattern), g in df[~df["baseline"]].groupby(["strategy", "pattern"]):
        row = {"strategy": strategy, "pattern": pattern, "seeds": int(g["seed"].nunique()), "runs": len(g),
               "zero_preemption_runs": int((g["preemptions"] == 0).sum())}
        for col, *_ in INTERVAL_COLUMNS:
            ci = mean_ci(g[col]) if col in g else mean_ci([])
            row.update({col: ci.mean, f"{col}_low": ci.low, f"{col}_high": ci.high})
        rows.append(row)
    return pd.DataFrame(rows)


def by_seed(g, col: str) -> dict:
    """{seed: value} of one condition (the mean when a seed ran twice)."""
    return g.groupby("seed")[col].mean().to_dict()


def strategy_comparisons(df, col: str = "savings") -> list[tuple[str, Comparison]]:
    """Every pair of strategies on `col`, paired by seed within each pattern, then pooled over
    patterns (paired by pattern and seed). Returns (scope, comparison), scope a pattern or 'all'."""
    runs = df[~df["baseline"]]
    strategies = sorted(runs["strategy"].unique())
    out = []
    scopes = [(p, runs[runs["pattern"] == p]) for p in sorted(runs["pattern"].unique())]
    if len(scopes) > 1:
        scopes.append(("all patterns", runs.assign(seed=list(zip(runs["pattern"], runs["seed"])))))
    for scope, sub in scopes:
        vals = {s: by_seed(sub[sub["strategy"] == s], col) for s in strategies}
        for i, a in enumerate(strategies):
            for b in strategies[i + 1:]:
                if vals[a] and vals[b]:
                    out.append((scope, compare(vals[a], vals[b], a, b)))
    return out


@dataclass(frozen=True)
class BestFlags:
    strategy: str
    pattern: str
    savings: Interval
    runs: int
    zero_preemption_runs: int
    above_ceiling_runs: int  # runs whose savings exceed the price discount
    ceiling: float
    runner_up: Comparison | None

    def warnings(self) -> list[str]:
        name, out = f"{self.strategy}/{self.pattern}", []
        if self.zero_preemption_runs:
            out.append(f"{self.zero_preemption_runs} of its {self.runs} runs met no preemption, so its savings are "
                       f"partly those of an uninterrupted run, not of a strategy surviving preemptions")
        if self.savings.mean > self.ceiling + CEILING_SLACK or self.above_ceiling_runs:
            out.append(f"{self.above_ceiling_runs} of its {self.runs} runs save more than the price discount "
                       f"({self.ceiling:.1%}), which no spot run of the same work can: the excess is measurement noise "
                       f"(step speed, start-up), not a saving")
        if self.runner_up is not None and self.runner_up.within_noise:
            out.append(f"it cannot be told from the runner-up: {self.runner_up.verdict()}")
        return [f"best {name}: {w}" for w in out]


def best_condition(df, ceiling: float) -> BestFlags | None:
    """The condition with the highest mean savings, with what makes its rank doubtful.

    `ceiling` is the price discount 1 - spot/on-demand: the most a spot run can save."""
    runs = df[~df["baseline"]].dropna(subset=["savings"])
    if not len(runs):
        return None
    means = runs.groupby(["strategy", "pattern"])["savings"].mean().sort_values(ascending=False)
    s, p = means.index[0]
    g = runs[(runs["strategy"] == s) & (runs["pattern"] == p)]
    runner = None
    if len(means) > 1:
        s2, p2 = means.index[1]
        g2 = runs[(runs["strategy"] == s2) & (runs["pattern"] == p2)]
        # same pattern: paired by seed; another pattern: its seeds meet other schedules, still the best pairing there is
        runner = compare(by_seed(g, "savings"), by_seed(g2, "savings"), f"{s}/{p}", f"{s2}/{p2}")
    return BestFlags(s, p, mean_ci(g["savings"]), len(g), int((g["preemptions"] == 0).sum()),
                     int((g["savings"] > ceiling + CEILING_SLACK).sum()), ceiling, runner)
