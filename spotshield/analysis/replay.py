"""A training job with a fixed checkpoint interval played against a real spot availability trace.

The advice (spotshield/youngdaly.py) assumes Poisson preemptions; real traces cluster. This
replay is the model's counterpart on a trace (spotshield/spot_traces.SpotTrace), used by
spotshield/analysis/advice_check.py to check the advice against real preemption histories:

  - the job needs `work_s` seconds of compute and starts at `start_s` seconds into the trace
    (the trace repeats past its span, as SpotTrace does);
  - while the zone has spot capacity it computes in segments of `interval_s`, each followed by
    a checkpoint stall of `checkpoint_s` (the same segments as simulate.simulate_run);
  - when capacity goes, the segment in progress is lost; the job waits, unbilled (no VM exists),
    until capacity returns, then restarts for `restart_s` (billed: the VM boots and loads),
    itself cut short if capacity goes again;
  - billed time is every second a VM exists: compute, checkpoints and restarts.

All times are seconds of the trace's clock: real seconds, the unit of C and R on a real VM.
Pure Python and deterministic.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from spotshield.spot_traces import SpotTrace
from spotshield.errors import SpotShieldError

SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True)
class Replay:
    wall_s: float  # start -> done, waits for capacity included
    billed_s: float  # VM time: compute, checkpoints, restarts
    work_s: float
    wasted_s: float  # compute and checkpoint stalls lost to preemptions
    waited_s: float  # time without capacity (not billed)
    preemptions: int

    @property
    def billed_ratio(self) -> float:
        """Billed VM time / work: the spot side of Daly's wall ratio, waits excluded."""
        return self.billed_s / self.work_s


def _capacity_until(trace: SpotTrace, t: float) -> float:
    """When capacity next disappears, for a t at which the zone has capacity (inf if never)."""
    end = trace.next_change(t)
    for _ in range(len(trace.outages) + 2):  # a span boundary without a flip: keep going
        if not trace.available(end):
            return end
        end = trace.next_change(end)
    return math.inf  # no outage at all


def _capacity_from(trace: SpotTrace, t: float) -> float:
    """The first time >= t with capacity."""
    for _ in range(len(trace.outages) + 2):
        if trace.available(t):
            return t
        t = trace.next_change(t)
    raise SpotShieldError(f"trace {trace.name} never has spot capacity; nothing to replay")


def capacity_losses(trace: SpotTrace) -> int:
    """How often the zone loses spot capacity in one span of the trace (the repeat included)."""
    losses = sum(1 for a, _ in trace.outages if a > 0)
    if trace.outages and trace.outages[0][0] == 0 and trace.available(trace.span_s - 1e-6):
        losses += 1  # the repeat: capacity at the span's end, none at its start
    return losses


def preemptions_per_hour(trace: SpotTrace) -> float:
    """Capacity losses per hour with capacity: the hazard a running VM sees, the rate the advice takes."""
    up = trace.span_s - sum(b - a for a, b in trace.outages)
    if up <= 0:
        raise SpotShieldError(f"trace {trace.name} never has spot capacity")
    return capacity_losses(trace) / (up / SECONDS_PER_HOUR)


def replay(trace: SpotTrace, *, start_s: float, work_s: float, interval_s: float,
           checkpoint_s: float, restart_s: float) -> Replay:
    if work_s <= 0 or interval_s <= 0 or checkpoint_s < 0 or restart_s < 0:
        raise SpotShieldError(f"replay needs work_s > 0, interval_s > 0, checkpoint_s >= 0, restart_s >= 0, "
                              f"not {work_s}, {interval_s}, {checkpoint_s}, {restart_s}")
    t = _capacity_from(trace, start_s)
    waited = t - start_s
    billed = wasted = 0.0
    done, preemptions = 0.0, 0
    gone = _capacity_until(trace, t)
    full = interval_s + checkpoint_s
    stuck, done_at_loss = 0, -1.0  # losses in a row with no committed progress
    while done < work_s - 1e-9:
        # fast-forward over the whole segments that fit before capacity goes (short intervals)
        k = min((gone - t) // full, (work_s - done) // interval_s) if gone < math.inf else (work_s - done) // interval_s
        if k >= 2:
            t += (k - 1) * full
            billed += (k - 1) * full
            done += (k - 1) * interval_s
        seg = min(interval_s, work_s - done) + checkpoint_s
        if t + seg <= gone:
            t += seg
            billed += seg
            done += seg - checkpoint_s
            continue
        billed += gone - t
        wasted += gone - t
        t = gone
        stuck = stuck + 1 if done == done_at_loss else 0
        done_at_loss = done
        if stuck > len(trace.outages) + 1:  # a whole span of the (repeating) trace without progress
            raise SpotShieldError(f"a job checkpointing every {interval_s:g} s never finishes on trace {trace.name}: "
                                  "no segment fits between its capacity losses")
        while True:  # capacity is gone: wait (unbilled), then restart (billed, interruptible)
            preemptions += 1
            back = _capacity_from(trace, t)
            waited += back - t
            t, gone = back, _capacity_until(trace, back)
            if t + restart_s <= gone:
                t += restart_s
                billed += restart_s
                break
            billed += gone - t
            t = gone
    return Replay(t - start_s, billed, work_s, wasted, waited, preemptions)
