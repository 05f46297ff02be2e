"""How much work a job is before it has run: total steps from the trainer config, times a per-step time.

A deadline check needs C(0), the job's compute, before the first VM boots: `up` must refuse a
deadline that even an all on-demand run cannot meet before it creates anything. Nothing has been
measured yet, so:

  steps      epochs x steps per epoch, where steps per epoch = training examples // batch_size,
             as the trainer counts them (spotshield/trainer/run.py); the training set's size comes
             from TRAIN_SIZES (the datasets the trainer ships; tests/deadline/test_work.py holds
             them to the trainer's own loader) or limit_train
  step time  the stated seconds per step on the fleet's machine (setting `step_time_s`), else the
             trainer config's pace_step_s (the local demo paces each step to emulate an
             accelerator, so that is its step time); without either there is nothing honest to
             say, and `up` asks for step_time_s
  work       steps x step time, in real seconds of compute; validation and checkpoint stalls are
             not in it: the restart overhead and the controller's measured rate take over once
             the run's own events exist (progress.py), which they do as soon as it resumes

A run that already has events (an `up` that resumes a run id) is measured instead: its steps done,
total steps and rate (progress.progress_from_events), so a resumed run is checked on what is left.
"""
from __future__ import annotations

from dataclasses import dataclass

from spotshield.errors import SpotShieldError

# Training examples per dataset, as spotshield/trainer/data.py splits them (digits: 1797 images,
# 20 % held out; cifar100: the 50,000-image train set; synthetic: synthetic_size less a tenth).
TRAIN_SIZES = {"digits": 1797 - int(1797 * 0.2), "cifar100": 50_000}


@dataclass(frozen=True)
class WorkEstimate:
    steps: int
    step_s: float  # real seconds per step
    source: str  # how the step time was found

    @property
    def work_s(self) -> float:
        """Real seconds of compute for the whole job."""
        return self.steps * self.step_s


def train_size(cfg: dict) -> int | None:
    data = cfg.get("data", "digits")
    if data == "synthetic":
        n = int(cfg.get("synthetic_size", 2048))
        size = n - max(1, n // 10)
    else:
        size = TRAIN_SIZES.get(data)
    limit = int(cfg.get("limit_train") or 0)
    if size is not None and limit:
        size = min(size, limit)
    return size


def total_steps(cfg: dict) -> int | None:
    """Steps of the whole job as the trainer will count them, or None for an unknown dataset."""
    size = train_size(cfg)
    batch = int(cfg.get("batch_size", 64))
    if size is None or batch <= 0:
        return None
    return int(cfg.get("epochs", 10)) * (size // batch)


def estimate(trainer_config: dict, step_time_s: float | None = None) -> WorkEstimate:
    """The job's work before it has run; one SpotShieldError line when it cannot be known."""
    steps = total_steps(trainer_config)
    if steps is None:
        raise SpotShieldError(f"a deadline needs the job's size, and data {trainer_config.get('data')!r} has no known "
                              "training-set size; run it once without --deadline, or use a known dataset")
    if step_time_s is not None:
        if not step_time_s > 0:
            raise SpotShieldError(f"step_time_s must be > 0 seconds per step, not {step_time_s}")
        return WorkEstimate(steps, float(step_time_s), "step_time_s (stated)")
    pace = float(trainer_config.get("pace_step_s") or 0.0)
    if pace > 0:
        return WorkEstimate(steps, pace, "pace_step_s of the trainer config")
    raise SpotShieldError(f"a deadline needs the job's work before its first run: {steps} steps, but how long "
                          "is one step on this machine? set step_time_s (seconds per training step, "
                          "--step-time or SPOTSHIELD_STEP_TIME_S)")
