"""What `spotshield validate` runs: a Step is any zero-argument callable returning a StepResult.

runner.py (fmt, invariants, checkov, the order) and terraform_cli.py (provider, init, validate,
test) both build their steps with `timed`, so that every step measures its time the same way,
never raises, and reports in one line.
"""
from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from typing import Callable

DETAIL_MAX_CHARS = 600  # one readable line per step, not a log dump


@dataclass
class StepResult:
    name: str
    ok: bool | None  # False: failed; a skipped step (nothing was checked, a tool is missing) is not failed
    seconds: float
    detail: str = ""
    skipped: bool = False

    @property
    def failed(self) -> bool:
        return self.ok is False

    @property
    def was_skipped(self) -> bool:
        return self.skipped or self.ok is None


Step = Callable[[], StepResult]


class Skip(Exception):
    """Raised by a step's body: nothing was checked, for the reason in the message."""


def one_line(text: str, limit: int = DETAIL_MAX_CHARS) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def run_timed(name: str, fn: Callable[[], "tuple[bool | None, str] | StepResult"],
              skip_on: tuple[type[BaseException], ...] = ()) -> StepResult:
    """Run fn() -> (ok, detail) now, timed. ok None, Skip or an exception in skip_on: skipped;
    any other exception: a failed step with one line, never a traceback."""
    t0 = time.monotonic()
    try:
        out = fn()
    except (Skip, *skip_on) as e:
        out = (None, str(e))
    except subprocess.TimeoutExpired as e:
        out = (False, f"timed out after {e.timeout:.0f} s")
    except Exception as e:  # a broken step is a failed step
        out = (False, f"{type(e).__name__}: {e}")
    if isinstance(out, StepResult):
        return out
    ok, detail = out
    seconds = round(time.monotonic() - t0, 2)
    if ok is None:
        return StepResult(name, True, seconds, one_line(detail), skipped=True)
    return StepResult(name, ok, seconds, one_line(detail))


def timed(name: str, fn: Callable[[], "tuple[bool | None, str] | StepResult"],
          skip_on: tuple[type[BaseException], ...] = ()) -> Step:
    """A Step that runs fn with run_timed when called."""

    def step() -> StepResult:
        return run_timed(name, fn, skip_on)

    step.__name__ = name
    return step


def skipped(name: str, why: str) -> Step:
    step = lambda: StepResult(name, True, 0.0, why, skipped=True)  # noqa: E731
    step.__name__ = name
    return step
