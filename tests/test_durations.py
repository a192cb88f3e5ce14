"""Durations as written (status --since, scenario files) and ages as printed (status, doctor): one of each."""

import pytest

from monitor.commands import doctor, status
from monitor.spec.durations import duration_seconds, format_age
from monitor.truth import scenarios


@pytest.mark.parametrize("text, seconds", [("90s", 90), ("15m", 900), ("1h30m", 5400), ("2d", 172800), ("1d12h", 129600), (" 45m ", 2700)])
def test_durations(text, seconds):
    assert duration_seconds(text) == seconds
    assert scenarios.parse_time(text, 1000) == 1000 + seconds  # scenario offsets read the same
    if 60 <= seconds:
        assert status.parse_since(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "30", "m30", "2 h", "30m1h", "1.5h", "-5m"])
def test_not_durations(text):
    assert duration_seconds(text) is None


def test_status_and_doctor_print_ages_alike():
    assert status.format_age is format_age and not hasattr(doctor, "_age_words")
    assert [format_age(s) for s in (21, 90, 7260, 3 * 86400 + 4 * 3600)] == ["21s", "1m 30s", "2h 1m", "3d 4h"]
