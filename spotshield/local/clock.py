"""One emulated clock for the whole region: emulated seconds run `time_scale` times faster.

Everything that is priced or scheduled in "GCP time" (preemption schedules, boot and repair
delays, the notice window, billed RUNNING seconds) reads this clock, so one knob makes a
ten-hour spot day fit in ten minutes. Changing the scale re-bases the clock so emulated
time never jumps or runs backwards.
"""
from __future__ import annotations

import threading
import time


class EmulatedClock:
    def __init__(self, time_scale: float = 1.0, *, start: float | None = None):
        if time_scale <= 0:
            raise ValueError("time_scale must be > 0")
        self._lock = threading.Lock()
        self._scale = float(time_scale)
        self._base_real = time.monotonic()
        self._base_emulated = float(start if start is not None else time.time())

    @property
    def time_scale(self) -> float:
        return self._scale

    def now(self) -> float:
        """Emulated seconds (an epoch that started at real wall time when the clock was made)."""
        with self._lock:
            return self._base_emulated + (time.monotonic() - self._base_real) * self._scale

    def set_time_scale(self, time_scale: float) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be > 0")
        with self._lock:
            real = time.monotonic()
            self._base_emulated += (real - self._base_real) * self._scale
            self._base_real = real
            self._scale = float(time_scale)

    def to_real(self, emulated_s: float) -> float:
        """Real seconds that `emulated_s` emulated seconds take at the current scale."""
        return emulated_s / self._scale

    def sleep(self, emulated_s: float, stop: threading.Event | None = None) -> bool:
        """Sleep emulated seconds; returns True early if `stop` is set."""
        real = max(0.0, self.to_real(emulated_s))
        if stop is not None:
            return stop.wait(real)
        time.sleep(real)
        return False
