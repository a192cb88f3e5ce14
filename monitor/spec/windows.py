"""Alarm evaluation windows (PutMetricAlarm's EvaluationWindow): sliding or wall clock, and time zones.

One place for the rules both the spec (the tier option `evaluation_window`) and the offline
evaluator (the rendered `EvaluationWindow` field) check:

    WindowKind.SLIDING      the default: the window ends at each evaluation and moves with it
    WindowKind.WALL_CLOCK   periods aligned to clock boundaries in a time zone (default UTC)

    timezone_problem("Europe/Berlin")   # None, or what is wrong and what is allowed
    timezone_of("+05:30")               # a tzinfo
    window_field(WindowKind.WALL_CLOCK, "Europe/Berlin")   # {"WallClockWindow": {"Timezone": ...}}
    read_window_field({"WallClockWindow": {}})             # (WindowKind.WALL_CLOCK, None)
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import zoneinfo
from collections.abc import Mapping

# botocore's CloudWatch model, WallClockWindow: only these periods (1 min, 5 min, 1 h, 1 day, 1 week).
WALL_CLOCK_PERIODS = (60, 300, 3600, 86400, 604800)
# botocore's CloudWatch model, Timezone: "The offset must be aligned to a multiple of 5 minutes".
TIMEZONE_OFFSET_STEP_MINUTES = 5
# botocore's CloudWatch model, Timezone shape: 1..50 characters.
MAX_TIMEZONE_LENGTH = 50
DEFAULT_TIMEZONE = "UTC"
# The two members of PutMetricAlarm's EvaluationWindow union (botocore's CloudWatch model).
SLIDING_WINDOW = "SlidingWindow"
WALL_CLOCK_WINDOW = "WallClockWindow"
# A fixed offset as the API accepts it: +05:30, -03:00, or UTC+05:30.
_OFFSET = re.compile(r"(?:UTC)?([+-])(\d{2}):(\d{2})")
_MAX_OFFSET = dt.timedelta(hours=24)

TIMEZONE_HINT = (
    "an IANA time zone name such as Europe/Berlin or America/New_York, UTC, or a UTC offset "
    f"in {TIMEZONE_OFFSET_STEP_MINUTES}-minute steps such as +05:30, -03:00 or UTC+05:45"
)
WALL_CLOCK_PERIODS_HINT = "60, 300, 3600, 86400 or 604800 seconds (1 minute, 5 minutes, 1 hour, 1 day, 1 week)"


class WindowKind(str, enum.Enum):
    SLIDING = "sliding"
    WALL_CLOCK = "wall_clock"


def _offset(text: str) -> dt.timedelta | None:
    match = _OFFSET.fullmatch(text)
    if not match:
        return None
    sign, hours, minutes = match.groups()
    delta = dt.timedelta(hours=int(hours), minutes=int(minutes))
    return -delta if sign == "-" else delta


def timezone_problem(text: str) -> str | None:
    """None if `text` is a time zone WallClockWindow accepts, else what is wrong and what is allowed."""
    if not isinstance(text, str) or not text or len(text) > MAX_TIMEZONE_LENGTH:
        return f"found {text!r}; expected {TIMEZONE_HINT}"
    offset = _offset(text)
    if offset is not None:
        minutes = int(offset.total_seconds()) // 60
        if abs(offset) >= _MAX_OFFSET or int(_OFFSET.fullmatch(text).group(3)) >= 60:
            return f"found {text!r}, which is not a UTC offset; expected {TIMEZONE_HINT}"
        if minutes % TIMEZONE_OFFSET_STEP_MINUTES:
            return f"found {text!r}; a UTC offset must be a multiple of {TIMEZONE_OFFSET_STEP_MINUTES} minutes ({TIMEZONE_HINT})"
        return None
    try:
        zoneinfo.ZoneInfo(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return f"found {text!r}, which is not a time zone; expected {TIMEZONE_HINT}"
    return None


def timezone_of(text: str | None) -> dt.tzinfo:
    """The tzinfo of a valid time zone text (None: UTC); ValueError with the allowed values otherwise."""
    if text is None:
        return dt.timezone.utc
    problem = timezone_problem(text)
    if problem:
        raise ValueError(problem)
    offset = _offset(text)
    return dt.timezone(offset) if offset is not None else zoneinfo.ZoneInfo(text)


def wall_clock_period_problem(period: int) -> str | None:
    """None if a wall-clock window can use this period, else the allowed ones."""
    if period in WALL_CLOCK_PERIODS:
        return None
    return f"a wall-clock evaluation window needs a period of {WALL_CLOCK_PERIODS_HINT}; found {period}"


def window_field(kind: WindowKind, timezone: str | None) -> dict | None:
    """PutMetricAlarm's EvaluationWindow for a window, or None for the default sliding one.

    The default is left out rather than sent as {"SlidingWindow": {}}: both mean the same to
    CloudWatch, and alarms made before the field existed stay unchanged to plan.
    """
    if kind is WindowKind.SLIDING:
        return None
    return {WALL_CLOCK_WINDOW: {"Timezone": timezone} if timezone else {}}


def read_window_field(value) -> tuple[WindowKind, str | None]:
    """(kind, time zone as written or None) of an EvaluationWindow field; left out means sliding.

    Checks the union's shape only (the period and the time zone are the caller's to check);
    ValueError saying what is allowed.
    """
    if value is None:
        return WindowKind.SLIDING, None
    members = (SLIDING_WINDOW, WALL_CLOCK_WINDOW)
    if not isinstance(value, Mapping) or len(value) != 1 or next(iter(value)) not in members:
        raise ValueError(f"EvaluationWindow must hold exactly one of {', '.join(members)}; found {value!r}")
    member, body = next(iter(value.items()))
    body = body or {}
    if member == SLIDING_WINDOW:
        if body:
            raise ValueError(f"SlidingWindow takes no options; found {body!r}")
        return WindowKind.SLIDING, None
    unknown = set(body) - {"Timezone"}
    if unknown:
        raise ValueError(f"WallClockWindow takes only Timezone; found {', '.join(sorted(unknown))}")
    return WindowKind.WALL_CLOCK, body.get("Timezone")
