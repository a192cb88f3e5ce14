"""The compact series notation of scenario files: one datapoint per period, written as tokens.

    "0x10 1500x6 _x3"   ten 0s, six 1500s, then three periods with no data
    "5 7 _ 9"           plain numbers are one period each; "_" is one missing period
    "0..1500x6"         a linear ramp over 6 periods: 0, 300, 600, 900, 1200, 1500

Tokens are separated by whitespace. `parse_series(text, start, period)` turns the text into
(epoch seconds, value) samples, one per non-missing period, the first at `start`.
"""

from __future__ import annotations

import math
import re

from monitor.errors import ExitStatus, MonitorError

MISSING = "_"
REPEAT_MARK = "x"
RAMP_MARK = ".."

_TOKEN = re.compile(r"\S+")
_COUNT = re.compile(r"[0-9]+")
_EXPECTED = "expected NUMBER, NUMBERxCOUNT, FROM..TOxCOUNT, _ or _xCOUNT"


class SeriesSyntaxError(MonitorError, ValueError):
    """A scenario series is not valid notation; the message names the token and its position."""

    exit_status = ExitStatus.INVALID


def parse_series(text: str, start: int, period: int) -> list[tuple[int, float]]:
    """Samples (time, value) for the notation in `text`, one period apart from `start`."""
    if period <= 0:
        raise ValueError(f"period must be a positive number of seconds, got {period}")
    samples: list[tuple[int, float]] = []
    index = 0
    for match in _TOKEN.finditer(text):
        for value in _expand(match.group(), match.start() + 1, text):
            if value is not None:
                samples.append((start + index * period, value))
            index += 1
    return samples


def period_count(text: str) -> int:
    """How many periods the notation spans, trailing missing periods included."""
    return sum(len(_expand(m.group(), m.start() + 1, text)) for m in _TOKEN.finditer(text))


def _expand(token: str, position: int, text: str) -> list[float | None]:
    """The per-period values of one token (None for a missing period)."""

    def fail(problem: str) -> SeriesSyntaxError:
        return SeriesSyntaxError(f"bad token {token!r} at position {position} of {text!r}: {problem}")

    body, count = token, 1
    if REPEAT_MARK in token:
        body, _, count_text = token.rpartition(REPEAT_MARK)
        if not _COUNT.fullmatch(count_text):
            raise fail(f"the repeat count {count_text!r} is not a whole number; {_EXPECTED}")
        count = int(count_text)
        if count < 1:
            raise fail("the repeat count must be at least 1")
    if body == MISSING:
        return [None] * count
    if RAMP_MARK in body:
        first_text, _, last_text = body.partition(RAMP_MARK)
        first, last = _number(first_text, fail), _number(last_text, fail)
        if REPEAT_MARK not in token or count < 2:
            raise fail("a ramp needs a count of at least 2, as in 0..100x5")
        step = (last - first) / (count - 1)
        return [first + step * i for i in range(count - 1)] + [last]
    return [_number(body, fail)] * count


def _number(text: str, fail) -> float:
    """A finite number, or the error `fail` builds."""
    try:
        value = float(text)
    except ValueError:
        raise fail(f"{text!r} is not a number; {_EXPECTED}") from None
    # CloudWatch rejects NaN and infinities in PutMetricData, so a scenario cannot contain them.
    if not math.isfinite(value):
        raise fail("NaN and infinities are not valid metric values")
    return value
