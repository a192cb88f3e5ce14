"""Streams and delayed sorted sets against real redis-servers: values, wrong types, round trips, read-only."""

from __future__ import annotations

import time

import pytest
import redis

from monitor.collect.publish import Point
from monitor.collect.queue_types import (
    DelayedReading,
    GroupReading,
    StreamReading,
    delayed_points,
    read_typed_queues,
    stream_points,
)
from monitor.spec import metrics
from monitor.spec.sources import DelayedSource, ScoreUnit, StreamSource

NOW = 1_795_676_460.0  # a fixed "now" for delayed scores


def read(client, streams=(), delayed=(), **kwargs):
    return read_typed_queues(client, streams, delayed, now=kwargs.pop("now", time.time()), **kwargs)


def seed_orders(client, *, idle: float = 0.0) -> None:
    """orders: 5 entries; billing read 2 (pending, the first `idle` seconds before the second),
    shipping created at the end, audit created at the start and never read."""
    for n in range(5):
        client.xadd("orders", {"n": n})
    client.xgroup_create("orders", "billing", id="0")
    client.xgroup_create("orders", "shipping", id="$")
    client.xgroup_create("orders", "audit", id="0")
    client.xreadgroup("billing", "worker-1", {"orders": ">"}, count=1)
    time.sleep(idle)
    client.xreadgroup("billing", "worker-2", {"orders": ">"}, count=1)


# ---------------------------------------------------------------- streams


def test_stream_length_lag_pending_and_oldest_idle(redis_plain):
    client = redis_plain.client()
    seed_orders(client, idle=1.1)  # the first pending entry is idle for at least 1.1 s
    started = time.monotonic()
    result = read(client, [StreamSource("orders")])
    elapsed = time.monotonic() - started
    (stream,) = result.streams
    assert stream.length == 5 and stream.read_errors == 0
    groups = {g.name: g for g in stream.groups}
    assert set(groups) == {"billing", "shipping", "audit"}  # no list given: every group
    billing = groups["billing"]
    assert (billing.lag, billing.pending) == (3, 2)
    assert 1.1 <= billing.oldest_pending_idle_seconds <= 1.1 + elapsed + 5  # the older of the two, not the newer
    assert groups["shipping"] == GroupReading("shipping", 0, 0, 0.0)
    assert groups["audit"] == GroupReading("audit", 5, 0, 0.0)  # lag without anything pending


def test_listed_groups_only_and_a_listed_group_that_does_not_exist_is_a_read_error(redis_plain):
    client = redis_plain.client()
    seed_orders(client)
    (stream,) = read(client, [StreamSource("orders", ("billing", "refunds"))]).streams
    assert [g.name for g in stream.groups] == ["billing"]
    assert stream.missing_groups == ("refunds",) and stream.read_errors == 1
    points = {(p.metric.name, p.group): p.value for p in stream_points(stream)}
    assert points[("QueueReadErrors", None)] == 1
    assert ("ConsumerGroupPending", "refunds") not in points and points[("ConsumerGroupPending", "billing")] == 2


def test_a_missing_stream_is_length_zero_without_errors(redis_plain):
    (stream,) = read(redis_plain.client(), [StreamSource("nothing:here", ("billing",))]).streams
    assert (stream.length, stream.groups, stream.missing_groups, stream.read_errors) == (0, (), (), 0)
    assert {p.metric.name: p.value for p in stream_points(stream)} == {"StreamLength": 0, "QueueReadErrors": 0}


def test_an_empty_stream_with_a_group_has_zero_everything(redis_plain):
    client = redis_plain.client()
    client.xgroup_create("empty", "g", id="$", mkstream=True)
    (stream,) = read(client, [StreamSource("empty", ("g",))]).streams
    assert stream.length == 0 and stream.groups == (GroupReading("g", 0, 0, 0.0),)


def test_lag_redis_cannot_compute_is_not_published_but_pending_is(redis_plain):
    client = redis_plain.client()
    ids = [client.xadd("s", {"n": n}) for n in range(5)]
    client.xgroup_create("s", "g", id="0")
    client.xreadgroup("g", "c", {"s": ">"}, count=2)
    client.xdel("s", ids[3])  # a deleted entry after the group's position: Redis answers lag nil
    (stream,) = read(client, [StreamSource("s")]).streams
    (group,) = stream.groups
    assert group.lag is None and group.pending == 2
    names = {p.metric.name for p in stream_points(stream)}
    assert "ConsumerGroupLag" not in names and {"ConsumerGroupPending", "OldestPendingIdleSeconds", "StreamLength"} <= names


def test_entries_acknowledged_by_the_consumers_leave_the_pending_count(redis_plain):
    client = redis_plain.client()
    seed_orders(client)
    delivered = client.xpending_range("orders", "billing", "-", "+", 10)
    client.xack("orders", "billing", *[d["message_id"] for d in delivered])
    (stream,) = read(client, [StreamSource("orders", ("billing",))]).streams
    assert stream.groups == (GroupReading("billing", 3, 0, 0.0),)


def test_group_names_that_are_not_utf8_are_counted_and_skipped(redis_plain):
    client = redis_plain.client()
    client.xadd("s", {"n": 1})
    client.xgroup_create("s", b"\xff\xfe", id="0")
    client.xgroup_create("s", "fine", id="0")
    (stream,) = read(client, [StreamSource("s")]).streams
    assert [g.name for g in stream.groups] == ["fine"] and stream.undecodable_groups == 1


def test_decode_responses_clients_work_too(redis_plain):
    seed_orders(redis_plain.client())
    plain = read(redis_plain.client(), [StreamSource("orders")]).streams[0]
    decoded = read(redis_plain.client(decode_responses=True), [StreamSource("orders")]).streams[0]
    assert [(g.name, g.lag, g.pending) for g in plain.groups] == [(g.name, g.lag, g.pending) for g in decoded.groups]


# ---------------------------------------------------------------- delayed sets


def test_delayed_total_and_overdue_in_seconds_and_milliseconds(redis_plain):
    client = redis_plain.client()
    client.zadd("due:s", {"past-1": NOW - 3600, "past-2": NOW - 1, "now": NOW, "future": NOW + 60})
    client.zadd("due:ms", {"past": (NOW - 0.5) * 1000, "future-1": (NOW + 0.5) * 1000, "future-2": (NOW + 86400) * 1000})
    sources = [DelayedSource("due:s"), DelayedSource("due:ms", ScoreUnit.MILLISECONDS), DelayedSource("due:s", grace_seconds=10), DelayedSource("none")]
    result = read(client, delayed=sources, now=NOW)
    assert [(d.total, d.overdue) for d in result.delayed] == [(4, 3), (3, 1), (4, 1), (0, 0)]
    assert result.round_trips == 1


def test_seconds_scores_read_as_milliseconds_would_hide_overdue_jobs(redis_plain):
    """Why score_unit matters: epoch-seconds scores are all 'overdue' against a milliseconds cutoff and vice versa."""
    client = redis_plain.client()
    client.zadd("due:s", {"future": NOW + 60})
    (as_ms,) = read(client, delayed=[DelayedSource("due:s", ScoreUnit.MILLISECONDS)], now=NOW).delayed
    (as_s,) = read(client, delayed=[DelayedSource("due:s")], now=NOW).delayed
    assert (as_ms.overdue, as_s.overdue) == (1, 0)


# ---------------------------------------------------------------- wrong types


def test_wrong_types_are_none_and_read_errors_never_zero(redis_plain):
    client = redis_plain.client()
    client.set("a:string", "v")
    client.lpush("a:list", "x")
    client.xadd("a:stream", {"f": "v"})
    client.zadd("a:zset", {"m": 1})
    result = read(client, [StreamSource("a:string"), StreamSource("a:list"), StreamSource("a:zset")], [DelayedSource("a:stream"), DelayedSource("a:list")], now=NOW)
    assert [s.length for s in result.streams] == [None, None, None]
    assert [(d.total, d.overdue) for d in result.delayed] == [(None, None)] * 2
    assert result.wrong_type_keys == 5
    points = result.points()
    assert {p.metric.name for p in points} == {"QueueReadErrors"}  # no length, lag, total or overdue at all
    assert all(p.value == 1 for p in points) and len(points) == 5


def test_other_errors_are_raised_not_hidden(redis_acl):
    """A user without the stream commands gets NOPERM: the collector's connection-failure signal, not a zero."""
    admin = redis_acl.admin()
    admin.xadd("s", {"f": "v"})
    admin.acl_setuser("lists-only", enabled=True, passwords=["+lists-only-password"], keys=["%R~*"], commands=["-@all", "+llen", "+lindex"])
    client = redis_acl.server.client(username="lists-only", password="lists-only-password")
    with pytest.raises(redis.exceptions.NoPermissionError):
        read(client, [StreamSource("s")])


# ---------------------------------------------------------------- round trips


def test_round_trips_two_phases_of_a_thousand_commands(redis_plain):
    client = redis_plain.client()
    pipe = client.pipeline(transaction=False)
    for i in range(600):
        pipe.xadd(f"s:{i}", {"n": 1})
        pipe.xgroup_create(f"s:{i}", "g", id="0")
        pipe.xreadgroup("g", "c", {f"s:{i}": ">"}, count=1)
    for i in range(100):
        pipe.zadd(f"z:{i}", {"job": NOW - 1})
    pipe.execute()
    streams = [StreamSource(f"s:{i}", ("g",)) for i in range(600)]
    delayed = [DelayedSource(f"z:{i}") for i in range(100)]
    client.config_resetstat()
    result = read(client, streams, delayed, now=NOW)
    # Phase one: XLEN + XINFO GROUPS per stream, ZCARD + ZCOUNT per set = 1400 commands, 2 pipelines;
    # phase two: XPENDING for the 600 groups with pending entries, 1 pipeline.
    assert result.round_trips == 3
    assert all(s.groups[0].pending == 1 and s.groups[0].lag == 0 for s in result.streams)
    assert all((d.total, d.overdue) == (1, 1) for d in result.delayed)
    stats = client.info("commandstats")
    assert stats["cmdstat_xpending"]["calls"] == 600 and stats["cmdstat_xlen"]["calls"] == 600


def test_round_trips_without_pending_entries_or_without_anything(redis_plain):
    client = redis_plain.client()
    client.xgroup_create("s", "g", id="$", mkstream=True)
    assert read(client, [StreamSource("s")]).round_trips == 1  # no second phase when nothing is pending
    assert read(client).round_trips == 0
    assert read(client, [StreamSource("s")] * 3, batch_size=2).round_trips == 3  # 6 commands, 2 per pipeline


# ---------------------------------------------------------------- read only, proven


def snapshot(client) -> dict:
    return {key: (client.dump(key), client.execute_command("PEXPIRETIME", key)) for key in client.scan_iter(count=1000)}


def test_reading_never_changes_a_byte_and_runs_only_read_commands(redis_acl):
    admin = redis_acl.admin()
    seed_orders(admin)
    admin.zadd("delayed", {"a": NOW - 5, "b": NOW + 5})
    admin.set("a:string", "v")
    admin.expire("delayed", 3600)
    streams = [StreamSource("orders"), StreamSource("orders", ("billing", "missing")), StreamSource("a:string")]
    delayed = [DelayedSource("delayed"), DelayedSource("orders")]
    before = snapshot(admin)
    pending_before = admin.xpending_range("orders", "billing", "-", "+", 10)
    admin.config_resetstat()

    readings = []
    for client in (admin, redis_acl.client_for(redis_acl.reader), redis_acl.client_for(redis_acl.reader_noscript)):
        for _ in range(3):
            readings.append(read(client, streams, delayed, now=NOW))

    executed = {name.removeprefix("cmdstat_").split("|")[0] for name, stats in admin.info("commandstats").items() if stats["calls"] > 0}
    assert snapshot(admin) == before
    # Delivery counts unchanged: nothing was claimed or re-delivered.
    assert [p["times_delivered"] for p in admin.xpending_range("orders", "billing", "-", "+", 10)] == [p["times_delivered"] for p in pending_before]
    assert {"xlen", "xinfo", "xpending", "zcard", "zcount"} <= executed
    table = admin.command()
    assert {name for name in executed if "write" in table[name]["flags"]} == set()
    assert executed <= {"xlen", "xinfo", "xpending", "zcard", "zcount", "hello", "client", "config", "info"}
    first = readings[0]
    assert all((r.streams[0].length, r.delayed[0].overdue) == (first.streams[0].length, first.delayed[0].overdue) for r in readings)


@pytest.mark.parametrize(
    "write",
    [
        lambda c: c.xadd("orders", {"n": 9}),
        lambda c: c.xreadgroup("billing", "intruder", {"orders": ">"}),
        lambda c: c.xack("orders", "billing", "0-1"),
        lambda c: c.xautoclaim("orders", "billing", "intruder", 0),
        lambda c: c.xgroup_create("orders", "new", id="0"),
        lambda c: c.zadd("delayed", {"x": 1}),
        lambda c: c.zpopmin("delayed"),
    ],
    ids=["xadd", "xreadgroup", "xack", "xautoclaim", "xgroup-create", "zadd", "zpopmin"],
)
def test_acl_reader_cannot_change_streams_or_delayed_sets(redis_acl, write):
    admin = redis_acl.admin()
    seed_orders(admin)
    admin.zadd("delayed", {"a": 1})
    before = snapshot(admin)
    with pytest.raises(redis.ResponseError):
        write(redis_acl.client_for(redis_acl.reader))
    assert snapshot(admin) == before


# ---------------------------------------------------------------- points (pure)


def test_stream_points_carry_the_consumer_group_dimension():
    reading = StreamReading(
        StreamSource("orders"), 7, (GroupReading("billing", 3, 2, 12.3456), GroupReading("audit", None, 0, 0.0)), ("gone",)
    )
    points = stream_points(reading)
    assert points == [
        Point(metrics.STREAM_LENGTH, "orders", 7),
        Point(metrics.CONSUMER_GROUP_LAG, "orders", 3, "billing"),
        Point(metrics.CONSUMER_GROUP_PENDING, "orders", 2, "billing"),
        Point(metrics.OLDEST_PENDING_IDLE, "orders", 12.346, "billing"),
        Point(metrics.CONSUMER_GROUP_PENDING, "orders", 0, "audit"),
        Point(metrics.OLDEST_PENDING_IDLE, "orders", 0.0, "audit"),
        Point(metrics.QUEUE_READ_ERRORS, "orders", 1),
    ]
    dims = points[1].metric.dimensions("dev", "orders", "billing")
    assert dims == [{"Name": "Environment", "Value": "dev"}, {"Name": "Queue", "Value": "orders"}, {"Name": "ConsumerGroup", "Value": "billing"}]


def test_delayed_points():
    assert delayed_points(DelayedReading(DelayedSource("d"), 10, 4)) == [
        Point(metrics.DELAYED_TOTAL, "d", 10),
        Point(metrics.DELAYED_OVERDUE, "d", 4),
        Point(metrics.QUEUE_READ_ERRORS, "d", 0),
    ]
    assert delayed_points(DelayedReading(DelayedSource("d"), None, None)) == [Point(metrics.QUEUE_READ_ERRORS, "d", 1)]


def test_a_group_metric_needs_its_group_and_others_refuse_one():
    with pytest.raises(ValueError):
        metrics.CONSUMER_GROUP_LAG.dimensions("dev", "orders")
    with pytest.raises(ValueError):
        metrics.STREAM_LENGTH.dimensions("dev", "orders", "billing")
