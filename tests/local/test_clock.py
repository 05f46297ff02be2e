"""The emulated clock: its scale, re-basing, and holds at 1x (a guest's own start-up)."""
from __future__ import annotations

import pytest

from spotshield.local import clock as clock_mod
from spotshield.local.clock import EmulatedClock


@pytest.fixture
def real(monkeypatch):
    """A controllable monotonic clock: real["t"] is the real time in seconds."""
    state = {"t": 1000.0}
    monkeypatch.setattr(clock_mod.time, "monotonic", lambda: state["t"])
    return state


def test_emulated_time_runs_at_the_scale(real):
    c = EmulatedClock(60, start=0)
    real["t"] += 2
    assert c.now() == pytest.approx(120) and c.to_real(120) == pytest.approx(2) and c.rate == 60


def test_a_hold_runs_the_clock_at_1x_until_every_hold_is_released(real):
    c = EmulatedClock(60, start=0)
    real["t"] += 1  # 60 emulated s
    c.hold("vm-a")
    c.hold("vm-b")
    assert c.held() and c.held("vm-a") and c.rate == 1.0 and c.time_scale == 60
    real["t"] += 5  # 5 emulated s: a guest's real start-up is not multiplied
    assert c.now() == pytest.approx(65) and c.to_real(30) == pytest.approx(30)
    c.release("vm-a")
    real["t"] += 1  # still held by vm-b
    assert c.now() == pytest.approx(66)
    c.release("vm-b")
    c.release("vm-b")  # twice is harmless
    real["t"] += 1
    assert c.now() == pytest.approx(126) and not c.held() and c.held_real_s == pytest.approx(6)


def test_rescaling_while_held_takes_effect_after_the_hold(real):
    c = EmulatedClock(60, start=0)
    c.hold("x")
    c.set_time_scale(10)
    real["t"] += 3
    assert c.now() == pytest.approx(3)
    c.release("x")
    real["t"] += 3
    assert c.now() == pytest.approx(33)
