"""The job's work before its first run: the trainer's own step count, times a stated step time."""
from __future__ import annotations

import pytest

from spotshield.deadline.work import TRAIN_SIZES, estimate, total_steps
from spotshield.errors import SpotShieldError


def test_train_sizes_are_the_trainers_own():
    pytest.importorskip("torch")
    from spotshield.trainer.data import load_dataset

    assert len(load_dataset("digits").y_train) == TRAIN_SIZES["digits"]
    assert len(load_dataset("synthetic", synthetic_size=500).y_train) == 500 - 50
    assert total_steps({"data": "synthetic", "synthetic_size": 500, "batch_size": 64, "epochs": 2}) == 2 * (450 // 64)


def test_steps_as_the_trainer_counts_them():
    assert total_steps({"data": "digits", "epochs": 8, "batch_size": 32}) == 8 * 44  # the local demo: 352
    assert total_steps({"data": "digits", "epochs": 1, "batch_size": 32, "limit_train": 100}) == 3
    assert total_steps({"data": "imagenet"}) is None


def test_the_step_time_is_stated_or_the_demos_pace():
    cfg = {"data": "digits", "epochs": 8, "batch_size": 32, "pace_step_s": 0.2}
    assert estimate(cfg).work_s == pytest.approx(70.4) and "pace_step_s" in estimate(cfg).source
    assert estimate(cfg, 0.5).work_s == pytest.approx(176.0) and "stated" in estimate(cfg, 0.5).source
    with pytest.raises(SpotShieldError, match="set step_time_s"):
        estimate({"data": "digits", "epochs": 1})
    with pytest.raises(SpotShieldError, match="no known training-set size"):
        estimate({"data": "imagenet"}, 0.1)
