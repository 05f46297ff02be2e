"""One emulated clock for the whole region: emulated seconds run `time_scale` times faster.

Everything that is priced or scheduled in "GCP time" (preemption schedules, boot and repair
delays, the notice window, billed RUNNING seconds) reads this clock, so one knob makes a
ten-hour spot day fit in ten minutes. Changing the scale re-bases the clock so emulated
time never jumps or runs backwards.

Holds: what the emulator does not model but a guest really does (its start-up: Python, torch,
data, checkpoint download and load; its shutdown after a notice) takes the same real seconds on a
VM, so it must not be multiplied. While anything holds the clock (hold(key) .. release(key); the
fleet holds it for a guest's start-up and shutdown under guest_time "real"), it runs at 1x: one
emulated second per real second. `time_scale` stays the configured scale; `rate` is the current one.
"""
from __future__ import annotations

import threading
import time

# The time models of a guest (docs/emulator.md "Time"): "scaled", every real second of it is
# time_scale emulated seconds; "real", its own start-up (power-on -> first training step) and
# shutdown (notice -> exit) run the clock at 1x, as they take the same real seconds on a VM.
GUEST_TIMES = ("scaled", "real")


class EmulatedClock:
    def __init__(self, time_scale: float = 1.0, *, start: float | None = None):
        if time_scale <= 0:
            raise ValueError("time_scale must be > 0")
        self._lock = threading.Lock()
        self._scale = float(time_scale)
        self._base_real = time.monotonic()
        self._base_emulated = float(start if start is not None else time.time())
        self._holds: set = set()
        self.held_real_s = 0.0  # real seconds the clock has run at 1x so far (all holds together)
        self._held_since: float | None = None

    @property
    def time_scale(self) -> float:
        return self._scale

    @property
    def rate(self) -> float:
        """Emulated seconds per real second now: 1 while held, else the time scale."""
        return 1.0 if self._holds else self._scale

    def now(self) -> float:
        """Emulated seconds (an epoch that started at real wall time when the clock was made)."""
        with self._lock:
            return self._base_emulated + (time.monotonic() - self._base_real) * self.rate

    def _rebase(self) -> None:  # under the lock, before the rate changes
        real = time.monotonic()
        self._base_emulated += (real - self._base_real) * self.rate
        self._base_real = real

    def set_time_scale(self, time_scale: float) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be > 0")
        with self._lock:
            self._rebase()
            self._scale = float(time_scale)

    def hold(self, key) -> None:
        """Run at 1x until release(key) (and every other hold) is released."""
        with self._lock:
            if key in self._holds:
                return
            self._rebase()
            if not self._holds:
                self._held_since = time.monotonic()
            self._holds.add(key)

    def release(self, key) -> None:
        with self._lock:
            if key not in self._holds:
                return
            self._rebase()
            self._holds.discard(key)
            if not self._holds and self._held_since is not None:
                self.held_real_s += time.monotonic() - self._held_since
                self._held_since = None

    def held(self, key=None) -> bool:
        with self._lock:
            return bool(self._holds) if key is None else key in self._holds

    def to_real(self, emulated_s: float) -> float:
        """Real seconds that `emulated_s` emulated seconds take at the current rate."""
        return emulated_s / self.rate

    def sleep(self, emulated_s: float, stop: threading.Event | None = None) -> bool:
        """Sleep emulated seconds; returns True early if `stop` is set."""
        real = max(0.0, self.to_real(emulated_s))
        if stop is not None:
            return stop.wait(real)
        time.sleep(real)
        return False
