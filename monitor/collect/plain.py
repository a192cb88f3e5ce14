"""Plain list queues, read fast: a lean script, and Redis measuring while this process reads.

A plain list queue is a list (maybe with a processing and a dead-letter list of its own) whose
enqueue time is a JSON field of its elements: every declared queue without a preset and every key a
pattern matches, so most of what a collector reads. They get PLAIN_SCRIPT (monitor.collect.lua) and
this path; the readings equal those of the generic script and of the pipelines (tests/test_reader.py).

Each batch of calls goes out in one write, and the next batch goes out before any reply is read, so
Redis runs the script for the next batch while this process turns the last replies into readings
(two processes, two cores: benchmarks/bench_whole_run.py). The run's first call is EVAL_RO, which
caches the script on a server that has not seen it (new, restarted, flushed) at no extra round trip.
"""

from __future__ import annotations

import itertools
import json
from typing import Callable, Iterator, NamedTuple, Sequence

import redis

from monitor.collect.lua import PLAIN_SCRIPT, PLAIN_SCRIPT_SHA
from monitor.collect.reading import QueueReading, RoundTrips
from monitor.collect.timestamps import EMPTY, STRING, age_seconds, iso_time, oldest_age
from monitor.spec.sources import OldestEnd, QueueSource, TimestampFormat

_PEEKS = {OldestEnd.HEAD: "h0", OldestEnd.TAIL: "t0", OldestEnd.BOTH: "b0"}


def is_plain(source: QueueSource) -> bool:
    """True for a list queue of distinct lists whose time is a JSON field of the element."""
    if source.waiting or source.in_flight or source.dead or source.delayed or source.time:
        return False
    processing, dead = source.processing_key, source.dead_letter_key
    return processing != source.key and (dead is None or dead not in (source.key, processing))


def read_plain(
    client: redis.Redis,
    sources: Sequence[QueueSource],
    *,
    now: float,
    batch_size: int,
    queues_per_call: int,
    max_decode: int,
    prefix_bytes: int,
    trips: RoundTrips,
    on_readings: Callable[[list[QueueReading]], None],
) -> list[QueueReading]:
    """Readings of plain list queues (is_plain), in order; one write per batch_size queues. Each
    call's readings are handed to on_readings as soon as they are made.

    A script error (a refused command, a key the ACL user may not read) is raised once every reply
    sent for has been read, so the connection stays usable; an error in the first call stops the
    run before the other batches are sent.
    """
    conn = client.connection
    pooled = conn is None
    if pooled:
        conn = client.connection_pool.get_connection()
    try:
        batches = _batches(sources if isinstance(sources, tuple) else tuple(sources), batch_size, queues_per_call, max_decode, prefix_bytes)
        sent: list[_Call] = []
        readings: list[QueueReading] = []
        error: redis.ResponseError | None = None
        first = next(batches, None)
        if first is not None:
            _send(conn, first, sent, trips)
            ahead = next(batches, None)  # made while Redis runs the first call
            error = _take(conn, sent[0], readings, now, prefix_bytes, on_readings)
            if error is None:
                for batch in itertools.chain((ahead,), batches) if ahead is not None else ():
                    _send(conn, batch, sent, trips)  # each made while Redis runs the calls before it
            for call in sent[1:]:
                failed = _take(conn, call, readings if error is None else None, now, prefix_bytes, on_readings)
                error = error or failed
        if error is not None:
            raise error
        return readings
    except redis.ResponseError:
        raise
    except BaseException:
        conn.disconnect()  # replies may be left unread: the connection is out of step
        raise
    finally:
        if pooled:
            client.connection_pool.release(conn)


# The calls written for the last read, kept for the next one when it reads the same queues (a
# collector reads the same queues every minute, and writing the calls was a tenth of its CPU);
# only up to MAX_KEPT_BYTES, so that a run of 100,000 queues keeps nothing between runs.
MAX_KEPT_BYTES = 2 * 1024 * 1024
_kept: tuple[tuple, list] = ((), [])


def _batches(sources: tuple[QueueSource, ...], batch_size: int, queues_per_call: int, max_decode: int, prefix_bytes: int) -> Iterator[list[_Call]]:
    """The batches of calls for these queues, made one at a time as they are sent, or as last kept."""
    global _kept
    key = (sources, batch_size, queues_per_call, max_decode, prefix_bytes)
    if _kept[0] == key:
        yield from _kept[1]
        return
    made: list | None = []
    size = 0
    for start in range(0, len(sources), batch_size):
        batch = _batch(sources[start : start + batch_size], queues_per_call, max_decode, prefix_bytes, start == 0)
        if made is not None:
            size += sum(len(call.packed) for call in batch)
            if size <= MAX_KEPT_BYTES:
                made.append(batch)
            else:
                made = None
        yield batch
    if made is not None:
        _kept = (key, made)


class _Call(NamedTuple):
    """One script call: the command in RESP, its queues, and what they all share, if they do."""

    packed: bytes
    part: list[QueueSource]
    alike: tuple[bool, bool, TimestampFormat] | None  # (a processing list, a dead-letter list, the time format); one peek each


def _batch(sources: Sequence[QueueSource], queues_per_call: int, max_decode: int, prefix_bytes: int, first: bool) -> list[_Call]:
    """The calls of one batch: a call holds queues of one time field."""
    calls = []
    start = 0
    while start < len(sources):
        field = sources[start].timestamp_field
        keys: list[str] = []
        shape: list[str] = []
        part: list[QueueSource] = []
        for source in sources[start : start + queues_per_call]:
            if source.timestamp_field != field:
                break
            keys.append(source.key)
            lists = 0
            if source.processing_key is not None:
                keys.append(source.processing_key)
                lists = 1
            if source.dead_letter_key is not None:
                keys.append(source.dead_letter_key)
                lists += 1
            peek = _PEEKS[source.oldest_end]
            shape.append(peek if lists == 0 else peek[0] + str(lists))
            part.append(source)
        command = ("EVAL_RO", PLAIN_SCRIPT) if first and not calls else ("EVALSHA_RO", PLAIN_SCRIPT_SHA)
        packed = _packed([*command, str(len(keys)), *keys, field, str(max_decode), str(prefix_bytes), "".join(shape)])
        kinds = {(s.processing_key is not None, s.dead_letter_key is not None, s.timestamp_format, s.oldest_end is OldestEnd.BOTH) for s in part}
        alike = next(iter(kinds))[:3] if len(kinds) == 1 and not next(iter(kinds))[3] else None
        calls.append(_Call(packed, part, alike))
        start += len(part)
    return calls


def _packed(args: list[str]) -> bytes:
    """One command in RESP, as redis-py's packer writes it (which costs three times as much in Python)."""
    encoded = [arg.encode() for arg in args]
    return b"*%d\r\n" % len(encoded) + b"".join([b"$%d\r\n%b\r\n" % (len(arg), arg) for arg in encoded])


def _send(conn, batch: list[_Call], sent: list[_Call], trips: RoundTrips) -> None:
    conn.send_packed_command([b"".join(call.packed for call in batch)], check_health=not sent)
    trips.count += 1
    sent.extend(call._replace(packed=b"") for call in batch)  # what is sent need not stay in memory


def _take(conn, call: _Call, readings: list | None, now: float, prefix_bytes: int, on_readings) -> redis.ResponseError | None:
    """Read one call's reply into readings (None: read and dropped); its error, if it is one."""
    try:
        reply = conn.read_response()
    except redis.ResponseError as error:
        return error
    if readings is not None:
        decoded = json.loads(reply)
        counts, statuses, texts = decoded["c"], decoded["s"], decoded["t"]
        made = _alike_readings(call, counts, statuses, texts, now) or _readings(call.part, counts, statuses, texts, now, prefix_bytes)
        readings.extend(made)
        on_readings(made)
    return None


def _alike_readings(call: _Call, counts: list[int], statuses: str, texts: list[str], now: float) -> list[QueueReading] | None:
    """_readings of a call whose queues are alike (_Call.alike), every key a list and every oldest
    message's time a text iso_time reads (or the queue empty): a column at a time. None otherwise."""
    if call.alike is None or min(counts) < 0:
        return None
    processing, dead, fmt = call.alike
    ages = []
    for status, text in zip(statuses, texts):
        if status == STRING:
            at = iso_time(text, fmt)
            if at is None:
                return None
            ages.append(age_seconds(at, now))
        elif status == EMPTY:
            ages.append(0.0)
        else:
            return None
    step = 1 + processing + dead
    none = itertools.repeat(None)
    in_flight = counts[1::step] if processing else none
    dead_letter = counts[1 + processing :: step] if dead else none
    return list(map(QueueReading, call.part, counts[::step], in_flight, dead_letter, ages, none, itertools.repeat(())))


def _readings(part: Sequence[QueueSource], counts: list[int], statuses: str, texts: list[str], now: float, prefix_bytes: int) -> list[QueueReading]:
    """The readings of one call's queues from its reply (see PLAIN_SCRIPT)."""
    readings = []
    c = s = 0
    for source in part:
        processing, dead_key = source.processing_key, source.dead_letter_key
        depth = counts[c]
        c += 1
        in_flight = dead = None
        if processing is not None:
            in_flight = counts[c]
            c += 1
        if dead_key is not None:
            dead = counts[c]
            c += 1
        wrong: tuple[str, ...] = ()
        if depth < 0 or (in_flight is not None and in_flight < 0) or (dead is not None and dead < 0):
            listed = ((source.key, depth), (processing, in_flight), (dead_key, dead))
            wrong = tuple(key for key, n in listed if n is not None and n < 0)
            depth, in_flight, dead = (None if n is not None and n < 0 else n for n in (depth, in_flight, dead))
        ends = 2 if source.oldest_end is OldestEnd.BOTH else 1
        age = reason = at = None
        if depth is not None:
            if ends == 1 and statuses[s] == STRING:  # the common case, taken straight
                at = iso_time(texts[s], source.timestamp_format)
            if at is not None:
                age = age_seconds(at, now)
            else:
                age, reason = oldest_age(zip(statuses[s : s + ends], texts[s : s + ends]), source.time_source(), now, prefix_bytes)
        s += ends
        readings.append(QueueReading(source, depth, in_flight, dead, age, reason, wrong))
    return readings
