"""Enqueue-time parsing, with the formats the hokusai producers write exactly as they write them."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from monitor.collect.timestamps import age_seconds, extract_field, parse_enqueue_time
from monitor.spec.sources import TimestampFormat

T = datetime(2026, 11, 26, 7, 1, 2, 123456, tzinfo=timezone.utc)
EPOCH = T.timestamp()  # 1795676462.123456
ISO = TimestampFormat.ISO8601
SECONDS = TimestampFormat.EPOCH_SECONDS
MILLIS = TimestampFormat.EPOCH_MILLIS
AUTO = TimestampFormat.AUTO


def message(value, field="timestamp") -> str:
    return json.dumps({field: value})


def test_hokusai_envelope_utcnow_isoformat_means_utc():
    # model_ready_queue: timestamp = datetime.utcnow().isoformat(), no zone
    naive = T.replace(tzinfo=None).isoformat()
    assert naive == "2026-11-26T07:01:02.123456"
    envelope = json.dumps(
        {"message_id": "m-1", "message_type": "model_ready", "payload": {"model_id": "x"},
         "timestamp": naive, "retry_count": 0, "max_retries": 3}
    )
    assert parse_enqueue_time(envelope, "timestamp", AUTO) == pytest.approx(EPOCH, abs=1e-6)
    assert parse_enqueue_time(envelope, "timestamp", ISO) == pytest.approx(EPOCH, abs=1e-6)


def test_utcnow_isoformat_without_microseconds():
    # isoformat() drops the fraction when microsecond == 0
    value = datetime(2026, 11, 26, 7, 1, 2).isoformat()
    assert value == "2026-11-26T07:01:02"
    assert parse_enqueue_time(message(value), "timestamp", AUTO) == T.replace(microsecond=0).timestamp()


@pytest.mark.parametrize(
    "value",
    [
        T.isoformat(),  # mint: datetime.now(timezone.utc).isoformat() -> +00:00
        "2026-11-26T07:01:02.123456Z",
        "2026-11-26T12:31:02.123456+05:30",
        "2026-11-26T02:01:02.123456-05:00",
        "2026-11-26 07:01:02.123456",
    ],
)
def test_iso_with_zones_and_separators(value):
    assert parse_enqueue_time(message(value), "timestamp", ISO) == pytest.approx(EPOCH, abs=1e-6)


@pytest.mark.parametrize(
    "value, fmt",
    [
        (int(EPOCH), SECONDS),
        (EPOCH, SECONDS),
        (str(int(EPOCH)), SECONDS),
        (int(EPOCH * 1000), MILLIS),
        (str(int(EPOCH * 1000)), MILLIS),
        (EPOCH * 1000, MILLIS),
        (int(EPOCH), AUTO),
        (EPOCH, AUTO),
        (int(EPOCH * 1000), AUTO),
        (str(int(EPOCH * 1000)), AUTO),
        (f"{EPOCH:.6f}", AUTO),
    ],
)
def test_epoch_numbers_and_numeric_strings(value, fmt):
    assert parse_enqueue_time(message(value), "timestamp", fmt) == pytest.approx(int(EPOCH), abs=1)


def test_auto_tells_millis_from_seconds_at_1e11():
    assert parse_enqueue_time(message(99_999_999_999), "timestamp", AUTO) == 99_999_999_999
    assert parse_enqueue_time(message(100_000_000_001), "timestamp", AUTO) == 100_000_000.001


def test_millis_keep_their_precision():
    assert parse_enqueue_time(message(1795676462123), "timestamp", MILLIS) == 1795676462.123


def test_nested_dotted_path():
    raw = json.dumps({"payload": {"meta": {"created_at": "2026-11-26T07:01:02.123456"}}})
    assert parse_enqueue_time(raw, "payload.meta.created_at", AUTO) == pytest.approx(EPOCH, abs=1e-6)


def test_bytes_are_accepted():
    assert parse_enqueue_time(message(int(EPOCH)).encode(), "timestamp", SECONDS) == int(EPOCH)


def test_format_may_be_given_as_its_string_value():
    assert parse_enqueue_time(message(int(EPOCH)), "timestamp", "epoch_seconds") == int(EPOCH)


SECRET = "sk_live_SECRET123"


@pytest.mark.parametrize(
    "raw, field, fmt, reason",
    [
        (f"not json {SECRET}", "timestamp", AUTO, "not JSON"),
        (b"\xff\xfe" + SECRET.encode(), "timestamp", AUTO, "not JSON"),
        (json.dumps({"token": SECRET}), "timestamp", AUTO, "no field 'timestamp'"),
        (json.dumps({"payload": SECRET}), "payload.created_at", AUTO, "no field 'payload.created_at'"),
        (json.dumps([SECRET]), "timestamp", AUTO, "no field 'timestamp'"),
        (json.dumps(SECRET), "timestamp", AUTO, "no field 'timestamp'"),
        (message(SECRET), "timestamp", AUTO, "unparseable auto time in field 'timestamp'"),
        (message(SECRET), "timestamp", ISO, "unparseable iso8601 time in field 'timestamp'"),
        (message(SECRET), "timestamp", SECONDS, "unparseable epoch_seconds time in field 'timestamp'"),
        (message(SECRET), "timestamp", MILLIS, "unparseable epoch_millis time in field 'timestamp'"),
        (message(int(EPOCH)), "timestamp", ISO, "unparseable iso8601 time in field 'timestamp'"),
        (message(T.isoformat()), "timestamp", SECONDS, "unparseable epoch_seconds time in field 'timestamp'"),
        (message(None), "timestamp", AUTO, "field 'timestamp' is not a string or number"),
        (message(True), "timestamp", SECONDS, "field 'timestamp' is not a string or number"),
        (message({"k": SECRET}), "timestamp", AUTO, "field 'timestamp' is not a string or number"),
        (message([1]), "timestamp", AUTO, "field 'timestamp' is not a string or number"),
        ('{"timestamp": NaN}', "timestamp", SECONDS, "unparseable epoch_seconds time in field 'timestamp'"),
        ('{"timestamp": Infinity}', "timestamp", AUTO, "unparseable auto time in field 'timestamp'"),
        (message("nan"), "timestamp", SECONDS, "unparseable epoch_seconds time in field 'timestamp'"),
        (message("1_000"), "timestamp", SECONDS, "unparseable epoch_seconds time in field 'timestamp'"),
        (message(""), "timestamp", AUTO, "unparseable auto time in field 'timestamp'"),
    ],
)
def test_unreadable_times_give_short_reasons_without_the_content(raw, field, fmt, reason):
    with pytest.raises(ValueError) as caught:
        parse_enqueue_time(raw, field, fmt)
    assert str(caught.value) == reason
    assert "SECRET" not in str(caught.value)


def test_extract_field_returns_the_json_value():
    assert extract_field('{"a": {"b": 5}}', "a.b") == 5
    assert extract_field('{"a": {"b": "x"}}', "a.b") == "x"


def test_age_is_never_negative():
    assert age_seconds(EPOCH, EPOCH + 12.5) == 12.5
    assert age_seconds(EPOCH + 60, EPOCH) == 0.0  # producer clock ahead of ours
    future = (T + timedelta(hours=1)).isoformat()
    assert age_seconds(parse_enqueue_time(message(future), "timestamp", AUTO), EPOCH) == 0.0
