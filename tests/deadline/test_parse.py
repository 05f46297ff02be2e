from datetime import datetime, timedelta, timezone

import pytest

from spotshield.deadline.parse import parse_deadline, parse_duration, parse_time
from spotshield.errors import SpotShieldError

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc).timestamp()


@pytest.mark.parametrize("text,seconds", [
    ("8h", 8 * 3600), ("90m", 90 * 60), ("2d", 2 * 86400), ("1h30m", 5400), ("1.5h", 5400),
    ("45s", 45), ("1d2h3m4s", 86400 + 7200 + 180 + 4), (" 8H ", 8 * 3600),
])
def test_durations_count_from_now(text, seconds):
    assert parse_duration(text) == seconds
    assert parse_deadline(text, NOW) == NOW + seconds


def test_iso_time_with_offset():
    # 17:00 at +01:00 is 16:00 UTC
    want = datetime(2026, 12, 4, 16, 0, tzinfo=timezone.utc).timestamp()
    assert parse_deadline("2026-12-04T17:00+01:00", NOW) == want
    assert parse_deadline("2026-12-04T16:00Z", NOW) == want


def test_iso_time_without_offset_is_utc_not_local(monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")
    import time

    time.tzset()
    try:
        assert parse_time("2026-12-04T16:00") == datetime(2026, 12, 4, 16, 0, tzinfo=timezone.utc).timestamp()
        assert parse_time("2026-12-04") == datetime(2026, 12, 4, tzinfo=timezone.utc).timestamp()
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


@pytest.mark.parametrize("text", ["soon", "8", "1h30", "h", "-1h", "8 hours", "2026-13-40", "friday", ""])
def test_garbage_is_one_clear_line(text):
    with pytest.raises(SpotShieldError) as e:
        parse_deadline(text, NOW)
    msg = str(e.value)
    assert "\n" not in msg
    assert ("8h" in msg and "ISO 8601" in msg), msg


@pytest.mark.parametrize("text", ["0h", "2026-11-30T12:00Z", (datetime.fromtimestamp(NOW, timezone.utc)
                                                                 - timedelta(minutes=1)).isoformat()])
def test_deadline_already_past(text):
    with pytest.raises(SpotShieldError, match="already past") as e:
        parse_deadline(text, NOW)
    assert "\n" not in str(e.value) and "2026-12-01T12:00:00Z" in str(e.value)  # says what now is
