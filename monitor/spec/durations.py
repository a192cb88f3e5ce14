"""Durations as people write them (15m, 1h30m, 2d) and ages as people read them (15m 3s, 2h 5m).

One parser for the command line (`status --since`) and the scenario files (`at: 15m`), and one way
to print an age for the commands that show one (status, doctor).
"""

from __future__ import annotations

import re

# Days, hours, minutes, seconds, each optional, in that order: 90s, 15m, 1h30m, 2d, 1d12h.
_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
# Seconds per unit, largest first, as ages name them.
_UNITS = ((86400, "d"), (3600, "h"), (60, "m"), (1, "s"))


def duration_seconds(text: str) -> int | None:
    """Seconds of a duration like 90s, 15m, 1h30m or 2d (surrounding blanks allowed); None if it is not one."""
    text = text.strip()
    match = _DURATION.fullmatch(text)
    if not text or not match:
        return None
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def format_age(seconds: float | None) -> str:
    """Human age in its two largest units: 45s, 15m 3s, 2h 5m, 3d 4h ('-' when unknown)."""
    if seconds is None:
        return "-"
    total = max(0, int(seconds))
    for (size, name), (small_size, small_name) in zip(_UNITS, _UNITS[1:]):
        if total >= size:
            first, rest = divmod(total, size)
            second = rest // small_size
            return f"{first}{name} {second}{small_name}" if second else f"{first}{name}"
    return f"{total}s"
