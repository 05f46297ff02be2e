"""A clock and a job that makes progress only while the FakeActuator has an instance of it up."""
from __future__ import annotations

from spotshield.deadline.actuator import FakeActuator
from spotshield.deadline.progress import JobProgress
from spotshield.deadline.state import Where


class Clock:
    def __init__(self, t: float = 1.8e9):
        self.t = t

    def __call__(self) -> float:
        return self.t


class JobModel:
    """Progress source for the controller: work advances at rate 1 on spot or on-demand, after a
    restart overhead at each new instance; billed seconds per kind, for the cost."""

    def __init__(self, actuator: FakeActuator, work_s: float, restart_s: float, measured_restart_s=None):
        self.actuator, self.work_s, self.restart_s = actuator, work_s, restart_s
        self.measured_restart_s = measured_restart_s
        self.done = 0.0
        self.billed = {Where.SPOT: 0.0, Where.ON_DEMAND: 0.0}
        self._on: tuple | None = None
        self._change_left = 0.0
        self.finished_at: float | None = None

    def advance(self, now: float, dt: float) -> None:
        obs = self.actuator.observe()
        here = (obs.running, obs.zone) if obs.running != Where.NONE else None
        if here != self._on:
            self._on, self._change_left = here, (self.restart_s if here else 0.0)
        if here is None or self.done >= self.work_s:
            return
        self.billed[obs.running] += dt
        lost = min(self._change_left, dt)
        self._change_left -= lost
        self.done = min(self.work_s, self.done + dt - lost)
        if self.done >= self.work_s and self.finished_at is None:
            self.finished_at = now + dt

    def __call__(self) -> JobProgress:
        return JobProgress(self.done, self.work_s, self.done >= self.work_s, self.measured_restart_s)
