"""run_history: what earlier boots of a run tell the one starting now."""
import pytest

from spotshield.library.history import run_history


def test_run_history_counts_preemptions_and_uses_the_latest_boot():
    ev = [
        {"event": "start", "t": 0.0, "boot": "a"}, {"event": "step", "step": 100, "t": 50.0, "boot": "a"},
        {"event": "preempt_notice", "step": 100, "t": 60.0, "boot": "a"},
        {"event": "exit", "step": 100, "code": 75, "t": 61.0, "boot": "a"},
        {"event": "start", "t": 70.0, "boot": "b"}, {"event": "step", "step": 95, "t": 80.0, "boot": "b"},  # kill -9
        {"event": "start", "t": 90.0, "boot": "me"},
    ]
    h = run_history(ev, boot="me")
    assert h["preemptions"] == 2 and h["boots"] == 2
    assert h["exposure_s"] == pytest.approx(61.0 + 10.0)
    assert (h["last_step"], h["last_t"]) == (95, 80.0)  # the most recent boot, not the highest step ever
