"""StepMeter: the numbers of the step and epoch_end events (mean loss, samples per second).

A loss may be a tensor on the accelerator: it is summed where it is and read (one device sync)
only when an event is written or a checkpoint is taken, never per step. The epoch's loss sums
travel in the checkpoint marker, so a resumed epoch reports the same mean as an uninterrupted one.
"""
from __future__ import annotations

import time


class StepMeter:
    def __init__(self, log_every_s: float):
        self.log_every_s = log_every_s
        self.first = True  # the first step of every process is reported at once
        self.t0 = self.epoch_t0 = time.monotonic()
        self._loss, self._n, self._samples = 0.0, 0, 0  # since the last step event
        self.epoch_samples = 0  # this process's part of the epoch (throughput)
        self.epoch_loss = {"sum": 0.0, "n": 0}  # the whole epoch's, across resumes

    def add(self, loss=None, samples: int | None = None) -> dict | None:
        """One optimizer step. The step event's fields when one is due, else None."""
        if loss is not None:
            self._loss = loss.detach().float() + self._loss if hasattr(loss, "detach") else float(loss) + self._loss
            self._n += 1
        self._samples += samples or 0
        self.epoch_samples += samples or 0
        now = time.monotonic()
        if not (self.first or now - self.t0 >= self.log_every_s):
            return None
        mean = self.fold()
        ips = self._samples / max(1e-9, now - self.t0) if self._samples else None
        fields = {"loss": None if mean is None else round(mean, 5),
                  "samples_per_s": None if ips is None else round(ips, 1), "first": self.first}
        self.first, self.t0, self._samples = False, now, 0
        return fields

    def fold(self) -> float | None:
        """Move the loss window into the epoch's sums; the window's mean, or None."""
        if not self._n:
            return None
        total = float(self._loss.item() if hasattr(self._loss, "item") else self._loss)
        n, self._loss, self._n = self._n, 0.0, 0
        self.epoch_loss = {"sum": self.epoch_loss["sum"] + total, "n": self.epoch_loss["n"] + n}
        return total / n

    def end_epoch(self) -> dict:
        """The epoch_end event's loss, samples_per_s and epoch_seconds; starts the next epoch."""
        self.fold()
        now = time.monotonic()
        secs = now - self.epoch_t0
        el = self.epoch_loss
        out = {"loss": round(el["sum"] / el["n"], 5) if el["n"] else None,
               "samples_per_s": round(self.epoch_samples / max(1e-9, secs), 1) if self.epoch_samples else None,
               "epoch_seconds": round(secs, 3)}
        self.epoch_t0, self.epoch_samples, self.epoch_loss = now, 0, {"sum": 0.0, "n": 0}
        return out

    def state(self) -> dict:
        self.fold()
        return dict(self.epoch_loss)

    def load(self, state: dict | None) -> None:
        if state:
            self.epoch_loss = {"sum": float(state.get("sum", 0.0)), "n": int(state.get("n", 0))}
