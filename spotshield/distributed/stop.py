"""A stop that every rank agrees on: a notice on any node becomes one consistent emergency checkpoint.

GCE sends its 30 s notice to one VM. Its ranks see the PreemptionFlag (SIGTERM or metadata);
the others do not. At each step boundary (every `every` steps) every rank all-reduces one
4-element tensor with MAX:
    [this rank's flag, -its notice time, its rank if flagged else -1, a caller's value]
so each rank learns, from the same collective, whether any rank was told to stop, the earliest
notice time (the deadline of the whole job is counted from it) and a rank that was told.
That is one tiny all-reduce per check on the training process group; bench/distributed.py
measures it. Because every rank decides from the same reduced value at the same step, all
of them stop at the same step boundary and call the (collective) emergency save together.
"""
from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass

import torch
import torch.distributed as dist

from spotshield.errors import StoreError
from spotshield.trainer.preemption import PreemptionFlag

_NO_NOTICE = -1e30  # -notice_t when the flag is clear: loses every MAX against a real notice


@dataclass
class StopDecision:
    stop: bool
    step: int
    notice_t: float | None = None  # unix time of the earliest notice on any rank
    rank: int | None = None  # a rank that saw a notice (the highest one, when several did)
    value: float = -1.0  # the MAX over ranks of check(value=...): e.g. rank 0's save decision


class StopAgreement:
    """check(step) -> StopDecision, the same on every rank; collective every `every` steps."""

    def __init__(self, flag: PreemptionFlag, *, every: int = 1, group=None):
        if every < 1:
            raise ValueError("every must be >= 1")
        self.flag, self.every, self.group = flag, every, group
        backend = dist.get_backend(group)
        # NCCL reduces device tensors only; gloo reduces CPU tensors
        device = torch.device("cuda", torch.cuda.current_device()) if backend == "nccl" else torch.device("cpu")
        self._buf = torch.empty(4, dtype=torch.float64, device=device)
        self.rank = dist.get_rank()
        self.checks = 0

    def check(self, step: int, value: float = -1.0) -> StopDecision:
        """`value` rides along in the same all-reduce (MAX): a caller whose other ranks pass -1
        learns one rank's value (spotshield.Run: rank 0's save decision) at no extra collective."""
        if step % self.every:
            return StopDecision(False, step)
        flagged = self.flag.is_set()
        self._buf[0] = 1.0 if flagged else 0.0
        self._buf[1] = -self.flag.notice_t if flagged else _NO_NOTICE
        self._buf[2] = float(self.rank) if flagged else -1.0
        self._buf[3] = float(value)
        dist.all_reduce(self._buf, op=dist.ReduceOp.MAX, group=self.group)
        self.checks += 1
        stop, neg_t, rank, agreed = self._buf.tolist()
        if stop < 0.5:
            return StopDecision(False, step, value=agreed)
        return StopDecision(True, step, notice_t=-neg_t, rank=int(rank), value=agreed)


@dataclass
class EmergencyOutcome:
    ok: bool  # a checkpoint of this step is committed (now or already before)
    saved: bool  # this call wrote a new one
    seconds: float
    error: str | None = None


def emergency_checkpoint(ckpt, state: dict, *, step: int, epoch: int, notice_t: float,
                         deadline_s: float) -> EmergencyOutcome:
    """One consistent checkpoint of `step` on every rank, bounded by notice_t + deadline_s (unix).

    Called by every rank after the same StopDecision. The in-flight persist finishes first (it
    may hold this very step). When the deadline passes first, the rank stops waiting and
    returns ok=False: the marker is written only once every rank's shard is durable, so the
    previous committed checkpoint stays the valid one."""
    t0 = time.monotonic()

    def left() -> float:
        return max(0.0, notice_t + deadline_s - time.time())

    try:
        if not ckpt.wait(left()):
            return EmergencyOutcome(False, False, time.monotonic() - t0,
                                    "deadline passed while the previous persist was in flight")
        if step in ckpt.committed_steps:
            return EmergencyOutcome(True, False, time.monotonic() - t0)
        ckpt.save(state, step=step, epoch=epoch, reason="emergency")
        if not ckpt.wait(left()):
            return EmergencyOutcome(False, True, time.monotonic() - t0, "deadline passed during the emergency persist")
        return EmergencyOutcome(True, True, time.monotonic() - t0)
    except StoreError as e:
        return EmergencyOutcome(False, False, time.monotonic() - t0, str(e))


def exit_now(code: int) -> None:
    """Exit the worker with `code` (75 after a stop) without running C++ destructors.

    After the stop some peers have already exited; tearing down the process groups at
    interpreter exit can then abort ("terminate called without an active exception", SIGABRT),
    and torchrun would see -6 instead of 75. Everything durable is in the store by now."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)
