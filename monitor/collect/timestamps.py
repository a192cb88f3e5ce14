"""Enqueue times of queue messages: find the field in the JSON message and turn it into epoch seconds.

Reasons in ValueError name the field and the expected format only, never the message or the value:
a message may carry secrets.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime

from monitor.spec.sources import TimeKind, TimeSource, TimestampFormat

# A number written as text; stricter than float(), which also takes 'nan', 'inf', '1_000', ' 12 '.
_NUMERIC = re.compile(r"-?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?")
# AUTO: epoch numbers above this are milliseconds (1e11 s is the year 5138; 1e11 ms is 1973).
AUTO_MILLIS_ABOVE = 1e11
MILLIS_PER_SECOND = 1000.0


NOT_JSON = "not JSON"
NOT_STRING_OR_NUMBER = "field '{field}' is not a string or number"
NO_FIELD = "no field '{field}'"
NO_FIELD_IN_PREFIX = "no field '{field}' in the first {limit} bytes"
JOB_GONE = "job hash missing (the job went away between the reads)"
JOB_NOT_HASH = "job key is not a hash"

# Peek outcomes, as the reader's Lua script writes them and the Python twin below does too.
EMPTY, NOT_JSON_STATUS, NO_FIELD_STATUS, NOT_IN_PREFIX, STRING, NUMBER, OTHER, GONE, NOT_HASH = "EJFPSNOGW"
# A string value longer than this is no time (and is never sent back whole).
MAX_TIME_TEXT = 100
# A naive time is taken as UTC (hokusai writes datetime.utcnow().isoformat()): subtracting this gives
# what replace(tzinfo=utc).timestamp() gives, to the bit, in a third of the time (once per queue per run).
_NAIVE_EPOCH = datetime(1970, 1, 1)





def parse_enqueue_time(raw: bytes | str, field: str, fmt: TimestampFormat) -> float:
    """Epoch seconds of the message's enqueue time; ValueError with a short reason if there is none."""
    return parse_time_value(extract_field(raw, field), field, fmt)


def extract_field(raw: bytes | str, field: str) -> object:
    """The JSON value at the dotted path `field` of a JSON message."""
    if isinstance(raw, bytes):
        # Invalid UTF-8 is not our concern unless it sits in the timestamp itself (cjson agrees).
        raw = raw.decode("utf-8", "replace")
    try:
        node = json.loads(raw)
    except ValueError:
        raise ValueError(NOT_JSON) from None
    if _SURROGATE_ESCAPE.search(raw) and _lone_surrogate(node):
        raise ValueError(NOT_JSON)  # as the script's cjson says of a lone surrogate escape
    for name in filter(None, field.split(".")):  # empty parts are skipped, as the Lua side does
        if not isinstance(node, dict) or name not in node:
            raise ValueError(NO_FIELD.format(field=field))
        node = node[name]
    return node


# A UTF-16 surrogate escape (backslash, u, D800-DFFF): Python's json pairs them or keeps a lone one,
# which cjson refuses.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _lone_surrogate(node: object) -> bool:
    try:
        json.dumps(node, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def peek_json(raw: bytes | str, field: str, max_decode: int, prefix_bytes: int) -> tuple[str, str]:
    """The (status, text) the reader's script gives for a JSON message: decoded whole up to max_decode
    bytes; beyond that, the first '"name":' (name = the path's last part) in the first prefix_bytes."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    if len(raw) > max_decode:
        return _peek_prefix(raw, field.split(".")[-1], prefix_bytes)
    try:
        value = extract_field(raw, field)
    except ValueError as error:
        return (NOT_JSON_STATUS, "") if str(error) == NOT_JSON else (NO_FIELD_STATUS, "")
    if isinstance(value, str):
        return (STRING, value) if len(value.encode()) <= MAX_TIME_TEXT else (OTHER, "")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return NUMBER, "%.17g" % float(value)
    return OTHER, ""


def _peek_prefix(raw: bytes, name: str, limit: int) -> tuple[str, str]:
    head = raw[:limit]
    found = re.search(b'"' + re.escape(name.encode()) + rb'"\s*:\s*', head)
    if found is None:
        return NOT_IN_PREFIX, ""
    rest = head[found.end() :]
    if rest[:1] == b'"':
        close = rest.find(b'"', 1)
        if close < 0 or close > MAX_TIME_TEXT + 1:
            return (NOT_IN_PREFIX, "") if close < 0 else (OTHER, "")
        return STRING, rest[1:close].decode("utf-8", "replace")
    number = _PREFIX_NUMBER.match(rest)
    return (NUMBER, number.group().decode()) if number else (OTHER, "")


# What the script's Lua patterns take as a number: -?%d+%.?%d* then an optional [eE][-+]?%d+.
_PREFIX_NUMBER = re.compile(rb"-?\d+\.?\d*(?:[eE][-+]?\d+)?")


def peek_time(status: str, text: str, field: str, fmt: TimestampFormat, prefix_bytes: int) -> tuple[float | None, str | None]:
    """A peek outcome as (epoch seconds or None, reason or None); (None, None) for nothing to read."""
    if status == EMPTY:
        return None, None
    if status in _REASONS:  # formatted only when there is a reason: this runs once per queue per run
        return None, _REASONS[status].format(field=field, limit=prefix_bytes)
    try:
        value = text if status == STRING else float(text)
    except ValueError:
        return None, NOT_STRING_OR_NUMBER.format(field=field)
    try:
        return parse_time_value(value, field, fmt), None
    except ValueError as error:
        return None, str(error)


_REASONS = {
    NOT_JSON_STATUS: NOT_JSON,
    NO_FIELD_STATUS: NO_FIELD,
    NOT_IN_PREFIX: NO_FIELD_IN_PREFIX,
    OTHER: NOT_STRING_OR_NUMBER,
    GONE: JOB_GONE,
    NOT_HASH: JOB_NOT_HASH,
}


def parse_time_value(value: object, field: str, fmt: TimestampFormat) -> float:
    """Epoch seconds of a JSON value (string or number) read from `field`."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(NOT_STRING_OR_NUMBER.format(field=field))
    if type(fmt) is not TimestampFormat:  # noqa: E721 (the enum call costs more than the parse of a number)
        fmt = TimestampFormat(fmt)
    if fmt is TimestampFormat.AUTO:
        number = _as_number(value)
        if number is None:
            return _iso(value, field, fmt)
        return number / MILLIS_PER_SECOND if abs(number) > AUTO_MILLIS_ABOVE else number
    if fmt is TimestampFormat.ISO8601:
        return _iso(value, field, fmt)
    number = _as_number(value)
    if number is None:
        raise ValueError(f"unparseable {fmt.value} time in field '{field}'")
    return number / MILLIS_PER_SECOND if fmt is TimestampFormat.EPOCH_MILLIS else number


def oldest_age(outcomes, time: TimeSource, now: float, prefix_bytes: int) -> tuple[float | None, str | None]:
    """(age in seconds, parse error) of a queue from the peek outcomes of its oldest jobs, (status, text) each.

    Both ends read: the older counts; an end that cannot be read may hold the oldest job, so it gives
    no age rather than a low one. Nothing read (empty, or emptied between count and read): age 0.
    """
    oldest = reason = None
    for status, text in outcomes:
        if status == NUMBER and time.kind is TimeKind.SCORE:
            at, why = time.scale.seconds(float(text)), None
        else:
            at, why = peek_time(status, text, time.field, time.format, prefix_bytes)
        if at is not None:
            if oldest is None or at < oldest:
                oldest = at
        elif reason is None:
            reason = why  # the first end's reason
    if reason is not None:
        return None, reason
    return (0.0 if oldest is None else age_seconds(oldest, now)), None


def age_seconds(enqueued_at: float, now: float) -> float:
    """Seconds since enqueued_at; 0 for a time in the future (clock skew between hosts)."""
    return max(0.0, now - enqueued_at)


def _as_number(value: str | int | float) -> float | None:
    if isinstance(value, str):
        if not _NUMERIC.fullmatch(value):
            return None
        value = float(value)
    number = float(value)  # ints too, so both reader paths (Python json, Lua cjson) agree exactly
    return number if math.isfinite(number) else None


def _iso(value: str | int | float, field: str, fmt: TimestampFormat) -> float:
    at = _from_iso(value) if isinstance(value, str) else None
    if at is None:
        raise ValueError(f"unparseable {fmt.value} time in field '{field}'")  # made only here: _iso runs once per queue per run
    return at


def _from_iso(text: str) -> float | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return (moment - _NAIVE_EPOCH).total_seconds()
    return moment.timestamp()


def iso_time(text: str, fmt: TimestampFormat) -> float | None:
    """What parse_time_value gives for a text with a ':' under auto or iso8601 (most enqueue times),
    taken straight; None for any other text or format, or a text it cannot parse (it then says why)."""
    if ":" not in text or fmt is TimestampFormat.EPOCH_SECONDS or fmt is TimestampFormat.EPOCH_MILLIS:
        return None  # a number under auto: no ':' in any text _NUMERIC matches
    return _from_iso(text)
