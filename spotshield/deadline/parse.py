"""`--deadline` text to an absolute unix time: a duration from now, or an ISO 8601 time.

  8h, 90m, 2d, 1h30m, 1.5h, 45s    a duration from now (units d, h, m, s; at least one)
  2026-12-04T17:00+01:00            an ISO 8601 time with an offset
  2026-12-04T17:00, 2026-12-04      an ISO 8601 time without one: read as UTC, not local time,
                                    so the same text means the same deadline on every machine
Garbage and a deadline already past (checks.check_not_past) raise SpotShieldError with one line.
"""
from __future__ import annotations

import re
import time
from datetime import datetime, timezone

from spotshield.deadline.checks import check_not_past
from spotshield.errors import SpotShieldError

_UNIT_S = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)([dhms])")
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?[dhms])+")
FORMS = "a duration (8h, 90m, 2d, 1h30m) or an ISO 8601 time (2026-12-04T17:00+01:00; no offset means UTC)"


def parse_duration(text: str) -> float | None:
    """Seconds in '1h30m' and the like, or None when the text is not a duration."""
    t = text.strip().lower()
    if not _DURATION.fullmatch(t):
        return None
    return sum(float(n) * _UNIT_S[u] for n, u in _PART.findall(t))


def parse_time(text: str) -> float | None:
    """Unix seconds of an ISO 8601 time (no offset = UTC), or None when it is not one."""
    t = text.strip()
    if t[-1:] in ("Z", "z"):
        t = t[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(t)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def parse_deadline(text: str, now: float | None = None) -> float:
    """The absolute unix deadline `text` names, checked to lie after `now` (default: time.time())."""
    now = time.time() if now is None else now
    if not isinstance(text, str) or not text.strip():
        raise SpotShieldError(f"deadline needs a value: {FORMS}")
    seconds = parse_duration(text)
    if seconds is not None:
        deadline = now + seconds
    else:
        deadline = parse_time(text)
        if deadline is None:
            raise SpotShieldError(f"deadline {text.strip()!r} is not {FORMS}")
    check_not_past(deadline, now, text)
    return deadline
