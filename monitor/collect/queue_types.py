"""Streams and delayed (sorted-set) queues: what to read, reading them read-only in few round trips, their points.

Lists are read by monitor.collect.reader; this module reads the two other shapes a job queue takes in Redis:
- a stream consumed by consumer groups: XLEN and XINFO GROUPS (lag, pending) per stream, then
  XPENDING key group - + 1 (the oldest pending entry's idle time) for each group with pending
  entries. The second phase needs the group names the first one returns, so a run takes two
  pipelined phases;
- a sorted set of delayed jobs scored by due time: ZCARD and ZCOUNT key -inf cutoff.
Every phase sends at most `batch_size` commands per pipeline, one round trip each (on a cluster,
monitor.collect.cluster sends each command to the primary owning its key, per node). Only read
commands are used: XREADGROUP, XACK, XCLAIM and XAUTOCLAIM all change a group's state.

A missing key reads as an empty queue. A key of another type is reported (QueueReadErrors), never
read as 0. Connection, permission and other errors are not caught: the collector turns them into its
connection-failure signal, as for lists. The ACL commands these need are in
reader.READER_ACL_COMMANDS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, NamedTuple

import redis

from monitor.collect.publish import Point
from monitor.collect.reader import DEFAULT_BATCH_SIZE, UNREAD, WRONGTYPE_ERROR, RoundTrips, count_reply, pipelined
from monitor.spec import metrics
from monitor.spec.sources import DelayedSource, StreamSource

_NO_SUCH_KEY = "no such key"  # XINFO GROUPS on a missing key (redis-py drops the "ERR " prefix)
_NOGROUP = "NOGROUP"  # XPENDING when the group (or the key) is gone
PER_KEY_ERRORS = (WRONGTYPE_ERROR, _NO_SUCH_KEY, _NOGROUP)  # error replies about one key, which a reading reports

@dataclass(frozen=True, slots=True)
class GroupReading:
    name: str
    lag: int | None  # None when Redis cannot compute it (entries deleted after the group's position, or Redis < 7)
    pending: int
    oldest_pending_idle_seconds: float | None  # 0.0 when nothing is pending; None if the group vanished mid-read


@dataclass(frozen=True, slots=True)
class StreamReading:
    source: StreamSource
    length: int | None  # None when the key holds another type
    groups: tuple[GroupReading, ...]
    missing_groups: tuple[str, ...] = ()  # listed in the spec but absent from the (existing) stream
    undecodable_groups: int = 0  # group names that are not UTF-8: they cannot be dimensions
    unread: bool = False  # cluster: its node failed (or moved it twice), so nothing is known

    @property
    def read_errors(self) -> int:
        return (1 if self.length is None else 0) + len(self.missing_groups)


@dataclass(frozen=True, slots=True)
class DelayedReading:
    source: DelayedSource
    total: int | None  # None when the key holds another type
    overdue: int | None
    unread: bool = False  # cluster: its node failed (or moved it twice), so nothing is known


@dataclass(frozen=True)
class TypedReadResult:
    streams: tuple[StreamReading, ...]
    delayed: tuple[DelayedReading, ...]
    round_trips: int

    @property
    def wrong_type_keys(self) -> int:
        return sum(1 for s in self.streams if s.length is None and not s.unread) + sum(1 for d in self.delayed if d.total is None and not d.unread)

    @property
    def unread_keys(self) -> int:
        return sum(1 for s in self.streams if s.unread) + sum(1 for d in self.delayed if d.unread)

    def points(self) -> list[Point]:
        return [p for s in self.streams for p in stream_points(s)] + [p for d in self.delayed for p in delayed_points(d)]


# ---------------------------------------------------------------- points (pure)


def stream_points(reading: StreamReading) -> list[Point]:
    """The metric points of one stream reading."""
    key = reading.source.key
    points = []
    if reading.length is not None:
        points.append(Point(metrics.STREAM_LENGTH, key, reading.length))
    for group in reading.groups:
        if group.lag is not None:
            points.append(Point(metrics.CONSUMER_GROUP_LAG, key, group.lag, group.name))
        points.append(Point(metrics.CONSUMER_GROUP_PENDING, key, group.pending, group.name))
        if group.oldest_pending_idle_seconds is not None:
            points.append(Point(metrics.OLDEST_PENDING_IDLE, key, round(group.oldest_pending_idle_seconds, 3), group.name))
    points.append(Point(metrics.QUEUE_READ_ERRORS, key, reading.read_errors))
    return points


def delayed_points(reading: DelayedReading) -> list[Point]:
    """The metric points of one delayed-set reading."""
    key = reading.source.key
    points = []
    if reading.total is not None:
        points.append(Point(metrics.DELAYED_TOTAL, key, reading.total))
    if reading.overdue is not None:
        points.append(Point(metrics.DELAYED_OVERDUE, key, reading.overdue))
    points.append(Point(metrics.QUEUE_READ_ERRORS, key, 0 if reading.total is not None else 1))
    return points


# ---------------------------------------------------------------- reading (thin)


def read_typed_queues(
    client: redis.Redis,
    streams: Iterable[StreamSource],
    delayed: Iterable[DelayedSource],
    *,
    now: float,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> TypedReadResult:
    """Read every stream and delayed set: ceil(2 (s + d) / batch_size) + ceil(pending groups / batch_size) round trips."""
    trips = RoundTrips()

    def send(commands):
        return [reply for start in range(0, len(commands), batch_size) for reply in pipelined(client, commands[start : start + batch_size], trips)]

    stream_readings, delayed_readings = read_typed_with(send, streams, delayed, now=now)
    return TypedReadResult(stream_readings, delayed_readings, trips.count)


def read_typed_with(send, streams: Iterable[StreamSource], delayed: Iterable[DelayedSource], *, now: float):
    """The readings, from two calls of `send` (commands (name, key, *args) -> replies, errors as exceptions, UNREAD when not read)."""
    streams, delayed = tuple(streams), tuple(delayed)
    first = [("xlen", s.key) for s in streams] + [("xinfo_groups", s.key) for s in streams]
    first += [("zcard", d.key) for d in delayed] + [("zcount", d.key, "-inf", repr(d.cutoff(now))) for d in delayed]
    replies = send(first)
    n, m = len(streams), len(delayed)
    lengths, infos = replies[:n], replies[n : 2 * n]
    totals, overdues = replies[2 * n : 2 * n + m], replies[2 * n + m :]

    partial = [_stream_groups(source, length, info) for source, length, info in zip(streams, lengths, infos)]
    # Phase two: the oldest pending entry of each group that has any (its name came from phase one).
    wanted = [(i, j) for i, part in enumerate(partial) for j, group in enumerate(part.groups) if group.pending > 0]
    second = [("xpending_range", streams[i].key, partial[i].groups[j].raw_name, "-", "+", 1) for i, j in wanted]
    idle = dict(zip(wanted, send(second) if second else ()))

    stream_readings = []
    for i, part in enumerate(partial):
        if part.unread or any(idle.get((i, j)) is UNREAD for j in range(len(part.groups))):
            stream_readings.append(StreamReading(streams[i], None, (), unread=True))
            continue
        readings = tuple(GroupReading(g.name, g.lag, g.pending, _idle_seconds(idle[(i, j)]) if (i, j) in idle else 0.0) for j, g in enumerate(part.groups))
        stream_readings.append(StreamReading(streams[i], part.length, readings, part.missing, part.undecodable))
    delayed_readings = [_delayed_reading(source, total, overdue) for source, total, overdue in zip(delayed, totals, overdues)]
    return tuple(stream_readings), tuple(delayed_readings)


def _delayed_reading(source: DelayedSource, total, overdue) -> DelayedReading:
    if total is UNREAD or overdue is UNREAD:
        return DelayedReading(source, None, None, unread=True)
    return DelayedReading(source, count_reply(total), None if count_reply(total) is None else count_reply(overdue))


class _Group(NamedTuple):
    name: str
    raw_name: bytes | str  # as Redis returned it, to ask XPENDING about exactly this group
    lag: int | None
    pending: int


class _FirstPhase(NamedTuple):
    length: int | None
    groups: list[_Group]
    missing: tuple[str, ...] = ()
    undecodable: int = 0
    unread: bool = False


def _stream_groups(source: StreamSource, length_reply, info_reply) -> _FirstPhase:
    """What XLEN and XINFO GROUPS told about one stream."""
    if length_reply is UNREAD or info_reply is UNREAD:
        return _FirstPhase(None, [], unread=True)
    length = count_reply(length_reply)
    if length is None:
        return _FirstPhase(None, [])
    if isinstance(info_reply, redis.ResponseError) and str(info_reply).startswith(_NO_SUCH_KEY):
        return _FirstPhase(0, [])  # no key: an empty queue, whose groups cannot exist yet
    if isinstance(info_reply, redis.ResponseError) and str(info_reply).startswith(WRONGTYPE_ERROR):
        return _FirstPhase(None, [])  # replaced by another type between the two commands
    if isinstance(info_reply, Exception):
        raise info_reply
    groups, undecodable = [], 0
    for info in info_reply:
        raw = info["name"]
        try:
            name = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        except UnicodeDecodeError:
            undecodable += 1
            continue
        if source.groups and name not in source.groups:
            continue
        lag = info.get("lag")  # absent before Redis 7; None when Redis cannot compute it
        groups.append(_Group(name, raw, None if lag is None else int(lag), int(info["pending"])))
    found = {g.name for g in groups}
    return _FirstPhase(length, groups, tuple(g for g in source.groups if g not in found), undecodable)


def _idle_seconds(reply) -> float | None:
    """Idle seconds of the oldest pending entry from XPENDING's extended form; 0.0 if acknowledged meanwhile."""
    if isinstance(reply, redis.ResponseError) and str(reply).startswith((_NOGROUP, WRONGTYPE_ERROR)):
        return None  # the group or the stream went away between the phases
    if isinstance(reply, Exception):
        raise reply
    if not reply:
        return 0.0
    return reply[0]["time_since_delivered"] / 1000
