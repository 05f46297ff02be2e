"""Discrete-event simulation of one training job under Poisson preemptions.

Same model as spotshield.youngdaly's exact expectation, played out event by
event so the formulas can be checked and so policies that change their interval while
they learn the preemption rate (adaptive) can be measured:

  - the job needs `work_s` seconds of compute;
  - before each segment the policy picks how much compute to do before the next
    checkpoint; a checkpoint stalls training for `checkpoint_s`;
  - preemptions arrive as a Poisson process in wall time, at any moment (compute,
    checkpoint or restart); a preemption loses the segment in progress and costs a
    restart of `restart_s` (itself interruptible) before work resumes from the last
    checkpoint;
  - with `emergency=True` a preemption that lands during compute first saves the work
    done so far (SpotShield's notice-triggered emergency checkpoint, which fits the
    30 s notice), so only the restart is lost.

Pure Python and seeded: random.Random(seed) makes every run reproducible.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Protocol

from spotshield import youngdaly


@dataclass
class SimResult:
    wall_s: float = 0.0
    work_s: float = 0.0
    wasted_s: float = 0.0  # compute and checkpoint time thrown away by preemptions
    checkpoint_s: float = 0.0  # stall time of checkpoints that committed
    restart_s: float = 0.0  # time spent restarting (including restarts cut short)
    preemptions: int = 0
    checkpoints: int = 0
    intervals: list[float] = field(default_factory=list)

    @property
    def waste_fraction(self) -> float:
        return 1.0 - self.work_s / self.wall_s if self.wall_s > 0 else 0.0


class Policy(Protocol):
    def next_interval(self, wall_s: float, preemptions: int) -> float: ...


@dataclass
class Fixed:
    """Checkpoint every `interval_s` of compute (naive; milestone with the epoch length)."""

    interval_s: float

    def next_interval(self, wall_s: float, preemptions: int) -> float:
        return self.interval_s


@dataclass
class AdaptiveDaly:
    """Daly's interval for the preemption rate observed so far.

    The rate estimate is (preemptions + prior_events) / (wall + prior_events * prior_mtbf_s):
    a prior worth `prior_events` preemptions keeps the first intervals sane before any
    preemption has been seen.
    """

    checkpoint_s: float
    prior_mtbf_s: float
    prior_events: float = 1.0

    def next_interval(self, wall_s: float, preemptions: int) -> float:
        mtbf = (wall_s + self.prior_events * self.prior_mtbf_s) / (preemptions + self.prior_events)
        return youngdaly.daly_interval(self.checkpoint_s, mtbf)


def _restart(t: float, res: "SimResult", rng, rate_per_s: float, restart_s: float) -> tuple[float, float]:
    """Count a preemption at t and restart; a restart that is itself preempted starts over.

    Returns (time the restart ends, time of the next preemption).
    """
    while True:
        res.preemptions += 1
        next_preempt = t + rng.expovariate(rate_per_s)
        if next_preempt >= t + restart_s:
            res.restart_s += restart_s
            return t + restart_s, next_preempt
        res.restart_s += next_preempt - t
        t = next_preempt


def simulate_run(work_s: float, checkpoint_s: float, restart_s: float, rate_per_s: float,
                 policy: Policy, rng: random.Random, *, emergency: bool = False) -> SimResult:
    res = SimResult()
    next_preempt = rng.expovariate(rate_per_s) if rate_per_s > 0 else math.inf
    done = 0.0  # committed work
    t = 0.0
    while done < work_s - 1e-9:
        tau = min(max(policy.next_interval(t, res.preemptions), 1e-6), work_s - done)
        res.intervals.append(tau)
        seg = tau + checkpoint_s
        if next_preempt >= t + seg:
            t += seg
            done += tau
            res.checkpoint_s += checkpoint_s
            res.checkpoints += 1
            continue
        lost = next_preempt - t
        t = next_preempt
        if emergency and lost <= tau:
            done += lost  # the notice-triggered save keeps the compute; only the restart is lost
        else:
            res.wasted_s += lost
        t, next_preempt = _restart(t, res, rng, rate_per_s, restart_s)
    res.wall_s = t
    res.work_s = work_s
    return res


def simulate_mean(work_s: float, checkpoint_s: float, restart_s: float, rate_per_s: float,
                  policy: Policy, *, runs: int, seed: int, emergency: bool = False) -> dict:
    """Mean wall ratio and waste over `runs` seeded runs, with the standard error."""
    rng = random.Random(seed)
    ratios, wastes = [], []
    for _ in range(runs):
        r = simulate_run(work_s, checkpoint_s, restart_s, rate_per_s, policy, rng, emergency=emergency)
        ratios.append(r.wall_s / work_s)
        wastes.append(r.waste_fraction)
    n = len(ratios)
    mean = sum(ratios) / n
    var = sum((x - mean) ** 2 for x in ratios) / max(1, n - 1)
    return {
        "wall_ratio": mean,
        "wall_ratio_se": math.sqrt(var / n),
        "waste_fraction": 1.0 - 1.0 / mean,
        "mean_run_waste": sum(wastes) / n,
        "runs": n,
    }


# --- step-level simulation driving the trainer's own strategy objects -----------------

def _accuracy_curve(epoch: int) -> float:
    # A saturating learning curve: milestone saves on improvement, so it needs one.
    return 1.0 - math.exp(-(epoch + 1) / 3.0)


def simulate_strategy(make_strategy, *, total_steps: int, step_s: float, steps_per_epoch: int,
                      checkpoint_s: float, restart_s: float, rate_per_s: float,
                      rng: random.Random, emergency: bool = False, persist_s: float = 0.0) -> SimResult:
    """Play a run step by step, asking a spotshield.trainer strategy when to save.

    make_strategy() builds a fresh strategy per boot, as a restarted trainer does; its
    state_dict travels inside each committed checkpoint and it is told the preemptions
    and exposure of earlier boots, as the trainer tells it from the events history.
    """
    from spotshield.trainer.strategies.base import Progress

    res = SimResult()
    t = 0.0
    next_preempt = t + rng.expovariate(rate_per_s) if rate_per_s > 0 else math.inf
    committed_step, committed_state = 0, {}
    exposure = 0.0

    while True:
        boot_t = t
        strat = make_strategy()
        strat.load_state_dict(committed_state)
        strat.on_start(t, committed_step, res.preemptions, exposure)
        step = committed_step
        preempted = False
        while step < total_steps:
            if next_preempt < t + step_s:  # preempted mid-step
                lost_step = next_preempt - t
                t = next_preempt
                if emergency:
                    committed_step, committed_state = step, strat.state_dict()
                    res.wasted_s += lost_step
                else:
                    res.wasted_s += lost_step + (step - committed_step) * step_s
                preempted = True
                break
            t += step_s
            step += 1
            end = step % steps_per_epoch == 0
            epoch = step // steps_per_epoch
            reason = strat.should_save(Progress(now=t, step=step, epoch=epoch, epoch_end=end,
                                                metric=_accuracy_curve(epoch - 1) if end else None))
            if reason is None and step < total_steps:
                continue
            # a save (or the final one): the stall is itself exposed to preemption
            strat.on_save(t, step)
            if next_preempt < t + checkpoint_s:
                res.wasted_s += (next_preempt - t) + (step - committed_step) * step_s * (not emergency)
                if emergency:
                    committed_step, committed_state = step, strat.state_dict()
                t = next_preempt
                preempted = True
                break
            t += checkpoint_s
            res.checkpoint_s += checkpoint_s
            res.checkpoints += 1
            res.intervals.append((step - committed_step) * step_s)
            strat.on_checkpoint(t, step, checkpoint_s, persist_s)  # persist runs in the background
            committed_step, committed_state = step, strat.state_dict()
        if not preempted:
            break
        exposure += t - boot_t
        strat.on_preemption(t)
        t, next_preempt = _restart(t, res, rng, rate_per_s, restart_s)
    res.wall_s = t
    res.work_s = total_steps * step_s
    return res
