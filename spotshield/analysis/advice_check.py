"""Checks of the advice (spotshield/youngdaly.py) against three things it did not come from:
the discrete-event simulation (same model, played out), replays of real preemption traces
(clustered, not Poisson), and the study's emulator runs (what the meter billed)."""
from __future__ import annotations

import math
from dataclasses import dataclass

from spotshield import youngdaly
from spotshield.analysis import replay, simulate, stats
from spotshield import spot_traces as traces
from spotshield.errors import SpotShieldError

# Relative tolerance between Daly's exact expectation and the simulated mean wall time.
# With the default 2000 runs of 50 intervals the standard error is ~0.2%, so 2% leaves
# room for sampling noise while catching any real modelling error (those are >5%).
SIM_TOLERANCE = 0.02
SIM_RUNS = 2000
SIM_INTERVALS = 50  # checkpoint intervals of work per simulated run, at least...
SIM_MTBP = 5  # ...and at least this many mean times between preemptions, so every run meets
# several preemptions and the standard error stays well inside the tolerance


@dataclass(frozen=True)
class Check:
    formula_wall_ratio: float
    simulated_wall_ratio: float
    simulated_se: float
    relative_error: float
    tolerance: float

    @property
    def ok(self) -> bool:
        return self.relative_error <= self.tolerance


def check_advice(advice: youngdaly.Advice, *, runs: int = SIM_RUNS, seed: int = 0) -> Check:
    tau = advice.optimal_s
    C, R, M = advice.checkpoint_s, advice.restart_s, advice.mtbf_s
    formula = youngdaly.expected_wall_ratio(tau, C, R, M)
    work = max(tau * SIM_INTERVALS, M * SIM_MTBP)
    sim = simulate.simulate_mean(work, C, R, 1.0 / M, simulate.Fixed(tau), runs=runs, seed=seed)
    rel = abs(sim["wall_ratio"] - formula) / formula
    return Check(formula, sim["wall_ratio"], sim["wall_ratio_se"], rel, SIM_TOLERANCE)


# --- against real preemption traces --------------------------------------------------------
# The advice assumes Poisson preemptions; real traces cluster. A job with the advised interval
# is replayed (spotshield/analysis/replay.py) from TRACE_STARTS start times spread over the
# trace, and its mean billed VM time / work is compared with advise's expected wall ratio.
# Tolerance on the cost: the trace's own rate is an estimate from its n capacity losses, with a
# 95% interval of about rate x (1 +- 1.96/sqrt(n)) (Poisson count, normal approximation); the
# replay must lie between advise's expectations at the two ends of that interval. With ~40
# losses that is roughly +-30% in rate, +-20% in the expected overhead over the work.
# Tolerance on the recommendation: the advised interval's replayed cost is within
# RECOMMENDATION_REGRET of the best of INTERVAL_MULTIPLES x the advised interval.
TRACE_STARTS = 50
TRACE_WORK_S = 24 * 3600.0  # a day of compute: several capacity losses at the traces' rates
MIN_TRACE_LOSSES = 10  # fewer and the rate (hence the advice) is unknowable from the trace
RECOMMENDATION_REGRET = 0.02
INTERVAL_MULTIPLES = (0.25, 0.5, 1.0, 2.0, 4.0)


@dataclass(frozen=True)
class TraceCheck:
    trace: str
    losses: int
    rate_per_h: float  # capacity losses per hour with capacity
    advised_interval_s: float
    advised_ratio: float  # advise's expected wall (= billed) time / work at the advised interval
    band: tuple[float, float]  # advise's expectation at the rate's 95% interval
    replayed_ratio: float  # mean billed time / work of the replays at the advised interval
    by_multiple: dict[float, float]  # interval multiple -> mean replayed ratio
    regret_tolerance: float = RECOMMENDATION_REGRET

    @property
    def cost_ok(self) -> bool:
        return self.band[0] <= self.replayed_ratio <= self.band[1]

    @property
    def regret(self) -> float:
        return self.replayed_ratio / min(self.by_multiple.values()) - 1.0

    @property
    def interval_ok(self) -> bool:
        return self.regret <= self.regret_tolerance

    @property
    def ok(self) -> bool:
        return self.cost_ok and self.interval_ok

    @property
    def overhead_error(self) -> float:
        """(replayed - advised) / advised overhead over the work (wall ratio - 1)."""
        return (self.replayed_ratio - self.advised_ratio) / (self.advised_ratio - 1.0)


def check_trace(trace, checkpoint_s: float, restart_s: float, *, starts: int = TRACE_STARTS,
                work_s: float = TRACE_WORK_S) -> TraceCheck:
    """advise at the trace's own rate vs replays of the trace (times in the trace's real seconds)."""
    n = replay.capacity_losses(trace)
    if n < MIN_TRACE_LOSSES:
        raise SpotShieldError(f"trace {trace.name} loses capacity {n} times; at least {MIN_TRACE_LOSSES} "
                              "are needed to know its rate")
    rate = replay.preemptions_per_hour(trace)
    C, R = checkpoint_s, restart_s
    # what `spotshield advise` says at this rate; at equal prices its cost ratio is the wall ratio
    a = youngdaly.advise(rate, C, R, 1.0, 1.0)
    tau, advised = a.optimal_s, a.cost_ratio
    lo, hi = rate * max(1e-9, 1 - 1.96 / math.sqrt(n)), rate * (1 + 1.96 / math.sqrt(n))
    band = tuple(youngdaly.best_wall_ratio(C, R, youngdaly.SECONDS_PER_HOUR / r) for r in (lo, hi))
    by = {}
    for mult in INTERVAL_MULTIPLES:
        rs = [replay.replay(trace, start_s=trace.span_s * i / starts, work_s=work_s, interval_s=tau * mult,
                            checkpoint_s=C, restart_s=R) for i in range(starts)]
        by[mult] = sum(r.billed_ratio for r in rs) / len(rs)
    return TraceCheck(trace.name, n, rate, tau, advised, band, by[1.0], by)


# --- against the study's emulator runs -----------------------------------------------------
# Each spot run is compared with advise at that run's own preemption rate (its preemptions per
# emulated hour of VM time), the study's C, billed R and prices: advise's expected spot /
# on-demand cost vs the run's billed one. Using the run's own rate tests what advise charges per
# preemption (R, C and the work lost), which is what a run with 0-3 preemptions can test; the
# arrivals are what the trace replays test. Tolerance: the mean relative gap over the runs is
# within STUDY_TOLERANCE (5% of the cost, about 2 points of savings at a 60% discount).
# Advise assumes no work is lost beyond the optimal interval, which the emergency checkpoint
# makes true; without it, each strategy's own interval loses more, and runs cost more than
# advised (the gap at their own intervals, from Daly's expectation, is reported beside it).
STUDY_TOLERANCE = 0.05


@dataclass(frozen=True)
class StudyCheck:
    runs: int
    preempted_runs: int
    gap: stats.Interval  # (measured - advised) / advised cost, over the runs
    gap_own_interval: stats.Interval  # the same against Daly's expectation at each run's own interval
    tolerance: float = STUDY_TOLERANCE

    @property
    def ok(self) -> bool:
        return abs(self.gap.mean) <= self.tolerance


def _emulated(row, name: str) -> float:
    """A metrics_summary duration on the emulated clock: its <name>_emulated_s column (the run's
    time model, guest_time), else (tables from before the split) its real seconds x time_scale."""
    v = row.get(f"{name}_emulated_s", math.nan)
    if v is not None and not (isinstance(v, float) and math.isnan(v)):
        return float(v)
    return float(row[f"{name}_s"]) * float(row["time_scale"])


def run_rate_per_h(row) -> float:
    """Preemptions per emulated hour of a run's VM time (a metrics_summary row): the hazard of a
    running VM, which is what advise's rate is; no VM is preempted in a repair gap."""
    hours = _emulated(row, "billable") / youngdaly.SECONDS_PER_HOUR
    return float(row["preemptions"]) / hours if hours > 0 else 0.0


def check_study(df, checkpoint_s: float, restart_s: float, spot: float, od: float) -> StudyCheck:
    """advise vs the spot runs of a metrics_summary table (C and R in emulated seconds; R the
    restart time a VM bills, analyze's restart_billed_s)."""
    C, R = checkpoint_s, restart_s
    gaps, gaps_own = [], []
    runs = df[~df["baseline"].astype(bool)]
    for _, row in runs.iterrows():
        measured = float(row["cost_spot"]) / float(row["cost_ondemand"])
        rate = run_rate_per_h(row)
        advised = own = spot / od  # no preemption: the bare price ratio
        if rate > 0:
            advised = youngdaly.advise(rate, C, R, spot, od).cost_ratio
            # the run's own interval: its useful compute per regular checkpoint, emulated seconds
            ckpts = float(row.get("checkpoints", math.nan))
            if ckpts > 0:
                tau = _emulated(row, "useful") / ckpts
                own = youngdaly.cost_ratio(youngdaly.expected_wall_ratio(tau, C, R, youngdaly.SECONDS_PER_HOUR / rate),
                                           spot, od)
            else:
                own = advised
        gaps.append((measured - advised) / advised)
        gaps_own.append((measured - own) / own)
    return StudyCheck(len(runs), int((runs["preemptions"] > 0).sum()), stats.mean_ci(gaps), stats.mean_ci(gaps_own))


# The project's reading first (a source tick of 1 = spot available, spot_traces.py), then the one
# the exports' column names (and the traces' README) follow: advise must hold under both.
TRACE_READINGS = traces.READINGS


def shipped_trace_checks(checkpoint_s: float, restart_s: float, reading: str = TRACE_READINGS[0],
                         **kw) -> list[TraceCheck]:
    """check_trace on every shipped real trace with enough capacity losses to know its rate."""
    out = []
    for name, path in traces.shipped().items():
        tr = traces.from_csv(path, name, reading=reading)
        if replay.capacity_losses(tr) >= MIN_TRACE_LOSSES:
            out.append(check_trace(tr, checkpoint_s, restart_s, **kw))
    return out
