"""Goodput under Poisson preemptions: each strategy's waste vs the Young/Daly optimum.

The trainer's own strategy objects (spotshield.trainer.strategies) decide when to save
while spotshield.analysis.simulate plays a long run step by step under Poisson
preemptions, with C = the checkpoint stall measured by the stall benchmark and
R = the measured resume time plus the time GCE takes to give back a Spot VM. The
optimum is Daly's exact expectation at the best interval for the same C, R and M.
Waste is measured without the emergency checkpoint (the strategies' intervals alone);
the waste with it is reported beside.
"""
from __future__ import annotations

import random

from spotshield import youngdaly
from spotshield.analysis import simulate

# GCE recreates a preempted Spot VM of a MIG and boots it in ~1-2 minutes; 90 s is the
# restart cost added to the measured resume time.
VM_RESTART_S = 90.0
# A ResNet-50 / CIFAR-100 step at batch 128 on an L4 takes ~0.25 s; 391 steps per epoch.
STEP_S = 0.25
STEPS_PER_EPOCH = 391
RATES_PER_H = {"tiny": (2.0, 12.0), "full": (1.0, 2.0, 4.0, 8.0, 16.0)}
WORK_H = {"tiny": 1.0, "full": 4.0}  # compute hours per simulated run
RUNS = {"tiny": 4, "full": 16}
STRATEGY_PARAMS = {"adaptive": {}, "naive": {}, "milestone": {}}  # the trainer's defaults


def run(size: str, checkpoint_s: float, resume_s: float, persist_s: float = 0.0, seed: int = 0) -> dict:
    from spotshield.trainer.strategies import make

    R = resume_s + VM_RESTART_S
    C = checkpoint_s
    total_steps = int(WORK_H[size] * 3600 / STEP_S)
    rows = []
    for rate in RATES_PER_H[size]:
        M = 3600.0 / rate
        opt_tau = youngdaly.optimal_interval(C, R, M)
        opt = youngdaly.waste_fraction(opt_tau, C, R, M)
        row = {"rate_per_h": rate, "optimal_interval_s": opt_tau, "optimal_waste": opt}
        # The optimum played through the same simulation and the same preemption draws
        # (a fixed interval at the optimum: naive with every_s = tau): comparing against it
        # cancels most of the sampling noise of a finite number of runs.
        policies = {"optimum": ("naive", {"every_steps": 0, "every_s": opt_tau}), **STRATEGY_PARAMS}
        for name, spec in policies.items():
            sname, params = spec if isinstance(spec, tuple) else (name, spec)
            for emergency in (False, True):
                rng = random.Random(seed)
                wall = work = 0.0
                for _ in range(RUNS[size]):
                    r = simulate.simulate_strategy(lambda: make(sname, **params), total_steps=total_steps, step_s=STEP_S,
                                                   steps_per_epoch=STEPS_PER_EPOCH, checkpoint_s=C, restart_s=R,
                                                   rate_per_s=rate / 3600.0, rng=rng, emergency=emergency,
                                                   persist_s=persist_s)
                    wall += r.wall_s
                    work += r.work_s
                key = name if not emergency else f"{name}+emergency"
                row[f"{key}_waste"] = 1.0 - work / wall
            if name != "optimum":
                row[f"{name}_vs_optimal"] = row[f"{name}_waste"] / row["optimum_waste"]
        rows.append(row)
    return {"checkpoint_s": C, "restart_s": R, "persist_s": persist_s, "step_s": STEP_S, "work_h": WORK_H[size],
            "runs_per_point": RUNS[size], "rows": rows}
