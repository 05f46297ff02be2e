"""Cross-check of the advice formulas against the discrete-event simulation."""
from __future__ import annotations

from dataclasses import dataclass

from spotshield import youngdaly
from spotshield.analysis import simulate

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
