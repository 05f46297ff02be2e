"""ElasticSampler: which samples each rank trains on, resumable at any world size.

The order of epoch e is a pure function of (seed, e) (spotshield.trainer.data.epoch_order,
the single-process trainer's own). The state is global, not per rank: the epoch, the number
of samples of that order already consumed by the whole job, and the step counter. Each step
takes the next `global_batch` samples of the order (fewer at the end of an epoch) and splits
them between the ranks of the current world into contiguous parts whose sizes differ by at
most one. Hence:
  - same world size: the same samples on the same ranks, step for step (bit-identical resume);
  - another world size: the remainder of the epoch is split across the new world, so no
    sample is skipped or repeated, and since the global batch is fixed the steps per epoch,
    the learning-rate schedule and the step counter do not change either.
With uneven parts, a rank's summed loss times `Batch.scale` makes DDP's average of gradients
the mean over the global batch (see Batch). With drop_last an epoch is its whole global batches
only (the tail that does not fill one is left out), as the single-process trainer's epochs are
(spotshield.trainer.run): the same order and the same global batches at any world size.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from spotshield.errors import SpotShieldError
from spotshield.trainer.data import epoch_order


@dataclass
class Batch:
    indices: torch.Tensor  # this rank's samples (may be empty when a tail batch has fewer samples than ranks)
    global_count: int  # samples in the step across all ranks
    world: int

    @property
    def scale(self) -> float:
        """Multiply this rank's *summed* loss by this: DDP averages gradients over `world` ranks, so
        the result is the mean gradient over the global batch whatever the split."""
        return self.world / self.global_count


def split(count: int, world: int, rank: int) -> tuple[int, int]:
    """[start, end) of rank's contiguous part of `count` items shared by `world` ranks."""
    base, extra = divmod(count, world)
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


class ElasticSampler:
    """A Stateful (state_dict/load_state_dict) replicated on every rank."""

    def __init__(self, n: int, global_batch: int, seed: int, epochs: int, *, drop_last: bool = False):
        if n < 1 or global_batch < 1 or epochs < 1:
            raise ValueError("n, global_batch and epochs must be >= 1")
        if drop_last and global_batch > n:
            raise ValueError("drop_last with global_batch > n leaves no batch")
        self.n, self.global_batch, self.seed, self.epochs = n, global_batch, seed, epochs
        self.drop_last = drop_last
        # samples of each epoch's order that are trained: all, or the whole global batches
        self.per_epoch = n - n % global_batch if drop_last else n
        self.epoch = 0
        self.consumed = 0  # samples of this epoch's order taken by earlier steps
        self.step = 0  # global steps done
        self._order: tuple[int, torch.Tensor] | None = None

    @property
    def steps_per_epoch(self) -> int:
        return -(-self.per_epoch // self.global_batch)

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.epochs

    @property
    def done(self) -> bool:
        return self.epoch >= self.epochs

    def order(self) -> torch.Tensor:
        if self._order is None or self._order[0] != self.epoch:
            self._order = (self.epoch, epoch_order(self.n, self.seed, self.epoch))
        return self._order[1]

    def next_batch(self, rank: int, world: int) -> Batch:
        """This rank's part of the next step; call advance() once the step is done."""
        if self.done:
            raise StopIteration("every epoch is done")
        count = min(self.global_batch, self.per_epoch - self.consumed)
        start, end = split(count, world, rank)
        chunk = self.order()[self.consumed:self.consumed + count]
        return Batch(chunk[start:end], count, world)

    def advance(self) -> bool:
        """Mark the step done; True when it ended an epoch."""
        self.consumed += min(self.global_batch, self.per_epoch - self.consumed)
        self.step += 1
        if self.consumed >= self.per_epoch:
            self.epoch += 1
            self.consumed = 0
            return True
        return False

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "consumed": self.consumed, "step": self.step, "n": self.n,
                "global_batch": self.global_batch, "seed": self.seed, "drop_last": self.drop_last}

    def load_state_dict(self, state: dict) -> None:
        for key in ("n", "global_batch", "seed", "drop_last"):
            if state.get(key, False) != getattr(self, key):  # no drop_last: a checkpoint from before it
                raise SpotShieldError(f"the checkpoint's sampler has {key}={state[key]}, this job "
                                      f"{getattr(self, key)}; use a new store for a different run")
        self.epoch, self.consumed, self.step = int(state["epoch"]), int(state["consumed"]), int(state["step"])
