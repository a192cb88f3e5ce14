"""Read queue depths and oldest-message ages from Redis lists, read-only and in few round trips.

The caller hands in a redis.Redis client (decode_responses=False is best: message bytes need not be
UTF-8). Connection errors (ConnectionError, TimeoutError, AuthenticationError...) are not caught
here: the collector turns them into its connection-failure signal.

Two paths give identical readings:
- a read-only Lua script (EVALSHA_RO, Redis 7+) that measures a batch of queues in one call and
  extracts only the timestamp field of each oldest message server-side, so payloads up to
  DEFAULT_MAX_DECODE_BYTES stay in Redis (larger ones are shipped: decoding them there would block it);
- a pipeline of LLEN + LINDEX per queue, used when scripts are not permitted (an ACL user without
  EVALSHA_RO, a Redis before 7, a managed Redis with scripting disabled).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Iterable, Sequence

import redis

from monitor.collect.timestamps import (
    NO_FIELD,
    NOT_JSON,
    age_seconds,
    parse_enqueue_time,
    parse_time_value,
)
from monitor.spec.sources import OldestEnd, QueueSource

# Queues per script call or pipeline. Server time grows with it: benchmarks/bench_reader.py
# measured about 9 ms per call of 1000 queues on a busy 2-vCPU VM; lower it to block Redis less.
DEFAULT_BATCH_SIZE = 1000
# Queues per script call: each call blocks Redis while it runs, so it is kept to about a millisecond
# of server time (measured here: 9-13 ms per 1000 queues with processing and DLQ lists). The calls
# of one batch travel in one pipeline, so the round trips stay one per DEFAULT_BATCH_SIZE queues.
SCRIPT_QUEUES_PER_CALL = 100
# Larger oldest messages are shipped and decoded here rather than by cjson inside Redis: decoding a
# 2.5 MB message there blocked the server for 84 ms, shipping it cost 0.3 ms of its time.
DEFAULT_MAX_DECODE_BYTES = 16 * 1024
DEFAULT_SCAN_COUNT = 1000
DEFAULT_MAX_KEYS = 10_000
DEFAULT_DISCOVERY_BUDGET_SECONDS = 2.0

# What an ACL user for the reader needs: read-only access to keys, and only these commands.
# Without +evalsha_ro +eval_ro the reader falls back to pipelines of LLEN + LINDEX.
# Streams and delayed sorted sets (monitor.collect.queue_types) add +xlen +xinfo|groups +xpending +zcard +zcount.
READER_ACL_COMMANDS = ("+llen", "+lindex", "+scan", "+evalsha_ro", "+eval_ro", "+xlen", "+xinfo|groups", "+xpending", "+zcard", "+zcount")
READER_ACL_RULES = "resetkeys %R~* resetchannels -@all " + " ".join(READER_ACL_COMMANDS)

_WRONGTYPE = "WRONGTYPE"





@dataclass(frozen=True, slots=True)  # slots: 100k readings stay small
class QueueReading:
    source: QueueSource
    depth: int | None  # None when the key has the wrong type
    in_flight: int | None  # None when no processing_key or wrong type
    dead_letter: int | None
    oldest_age_seconds: float | None  # 0.0 for an empty queue; None on parse error or wrong type
    parse_error: str | None  # short reason, never the message body
    wrong_type_keys: tuple[str, ...]  # keys that exist but are not lists
    unread_keys: tuple[str, ...] = ()  # keys on a cluster node that could not be read (monitor.collect.cluster)


@dataclass(frozen=True)
class ReadResult:
    readings: tuple[QueueReading, ...]
    round_trips: int
    used_script: bool


@dataclass(frozen=True)
class Discovery:
    keys: tuple[str, ...]  # sorted
    truncated: bool  # stopped at max_keys
    timed_out: bool  # stopped at the time budget
    round_trips: int
    undecodable_keys: int = 0  # list keys whose names are not UTF-8: they cannot be dimensions


# Server side. The batch travels as one JSON argument, {"k": [distinct keys], "q": [[position in
# k, list index, dotted field path] per queue], "m": max bytes to decode}: as separate EVAL arguments, redis-py's packing of
# thousands of them cost more than the whole read (measured: benchmarks/bench_reader.py). Keys
# outside KEYS are still checked by ACL on every call the script makes; the script is not meant
# for Redis Cluster (a batch spans slots), where the pipeline path is the one to use.
# The reply is one JSON text: {"l": [LLEN of each key, -1 for another type], "p": [[status, text]
# per queue]}, status being E empty, J not JSON, F no such field, S a string, N a number (text =
# %.17g, exact for doubles where Lua's default %.14g is not), O another JSON type, R too large to
# decode here (text = its place among the raw messages that follow the JSON text in the reply).
SCRIPT = """#!lua flags=no-writes
local batch = cjson.decode(ARGV[1])
local keys, queues, max_decode = batch.k, batch.q, batch.m
local lengths, raws = {}, {}
for i = 1, #keys do
  local n = redis.pcall('LLEN', keys[i])
  if type(n) == 'table' then
    if string.sub(n.err, 1, 9) ~= 'WRONGTYPE' then return n end
    n = -1
  end
  lengths[i] = n
end
local paths, peeks = {}, {}
for j = 1, #queues do
  local pos, index, field = queues[j][1], queues[j][2], queues[j][3]
  local path = paths[field]
  if path == nil then
    path = {}
    for name in string.gmatch(field, '[^.]+') do path[#path + 1] = name end
    paths[field] = path
  end
  local peek = {'E', ''}
  local raw = lengths[pos] > 0 and redis.call('LINDEX', keys[pos], index)
  if raw and #raw > max_decode then
    raws[#raws + 1] = raw
    peek = {'R', tostring(#raws)}
  elseif raw then
    local ok, node = pcall(cjson.decode, raw)
    if not ok then
      peek = {'J', ''}
    else
      for _, name in ipairs(path) do
        if type(node) ~= 'table' then node = nil break end
        node = node[name]
        if node == nil then break end
      end
      if node == nil then peek = {'F', ''}
      elseif type(node) == 'string' then peek = {'S', node}
      elseif type(node) == 'number' then peek = {'N', string.format('%.17g', node)}
      else peek = {'O', ''} end
    end
  end
  peeks[j] = peek
end
local reply = {cjson.encode({l = lengths, p = peeks})}
for i = 1, #raws do reply[i + 1] = raws[i] end
return reply
"""
SCRIPT_SHA = hashlib.sha1(SCRIPT.encode()).hexdigest()


def read_queues(
    client: redis.Redis,
    sources: Iterable[QueueSource],
    *,
    now: float,
    batch_size: int = DEFAULT_BATCH_SIZE,
    use_script: bool = True,
    max_decode_bytes: int = DEFAULT_MAX_DECODE_BYTES,
) -> ReadResult:
    """Depths and oldest ages of the queues, in order; at most ceil(n / batch_size) + 1 round trips."""
    sources = tuple(sources)
    readings: list[QueueReading] = []
    trips = _RoundTrips()
    script_refused = not use_script
    for start in range(0, len(sources), batch_size):
        batch = _Batch(sources[start : start + batch_size])
        measured = None
        if not script_refused:
            try:
                measured = _run_script(client, batch, trips, max_decode_bytes)
            except redis.ResponseError as error:
                if not _script_not_permitted(error):
                    raise
                script_refused = True
        if measured is None:
            measured = _run_pipeline(client, batch, trips)
        readings.extend(_readings(batch, *measured, now=now))
    return ReadResult(tuple(readings), trips.count, used_script=not script_refused)


def key_types(client, keys: Sequence[str]) -> list[str] | None:
    """TYPE of each key ("none" when absent) in one round trip; None when the ACL user may not run TYPE."""
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.type(key)
    try:
        return [t.decode() if isinstance(t, bytes) else t for t in pipe.execute()]
    except redis.exceptions.NoPermissionError:
        return None


def discover(
    client: redis.Redis,
    pattern: str,
    *,
    scan_count: int = DEFAULT_SCAN_COUNT,
    max_keys: int = DEFAULT_MAX_KEYS,
    time_budget_seconds: float = DEFAULT_DISCOVERY_BUDGET_SECONDS,
    clock=time.monotonic,
) -> Discovery:
    """List keys matching a glob pattern (SCAN MATCH ... TYPE list), bounded in count and time."""
    found: set[str] = set()
    undecodable: set[bytes] = set()
    cursor, round_trips = 0, 0
    truncated = timed_out = False
    started = clock()
    while True:
        cursor, keys = client.scan(cursor=cursor, match=pattern, count=scan_count, _type="list")
        round_trips += 1
        for key in keys:
            if isinstance(key, bytes):
                try:
                    key = key.decode("utf-8")
                except UnicodeDecodeError:
                    undecodable.add(key)
                    continue
            found.add(key)
        if int(cursor) == 0:
            break
        if len(found) >= max_keys:
            truncated = True
            break
        if clock() - started >= time_budget_seconds:
            timed_out = True
            break
    truncated = truncated or len(found) > max_keys
    return Discovery(tuple(sorted(found)[:max_keys]), truncated, timed_out, round_trips, len(undecodable))


class _RoundTrips:
    """Requests sent to Redis: each command or pipeline execute is one."""

    count = 0


class _Batch:
    """The distinct keys of a batch of queues, and where each queue's keys sit among them."""

    def __init__(self, sources: Sequence[QueueSource]):
        self.sources = sources
        self.keys: list[str] = []
        self.position: dict[str, int] = {}
        for source in sources:
            for key in (source.key, source.processing_key, source.dead_letter_key):
                if key is not None and key not in self.position:
                    self.position[key] = len(self.keys)
                    self.keys.append(key)


def _list_index(source: QueueSource) -> int:
    return 0 if source.oldest_end is OldestEnd.HEAD else -1


def _run_script(client, batch: _Batch, trips: _RoundTrips, max_decode_bytes: int):
    """(lengths, peek outcomes) from the read-only script: calls of SCRIPT_QUEUES_PER_CALL queues, one pipeline."""
    parts = [_Batch(batch.sources[i : i + SCRIPT_QUEUES_PER_CALL]) for i in range(0, len(batch.sources), SCRIPT_QUEUES_PER_CALL)]
    arguments = [
        json.dumps(
            {"k": part.keys, "q": [[part.position[s.key] + 1, _list_index(s), s.timestamp_field] for s in part.sources], "m": max_decode_bytes},
            ensure_ascii=False,
        ).encode()
        for part in parts
    ]
    replies = _script_pipeline(client, arguments, trips, load_first=False)
    if any(isinstance(reply, redis.exceptions.NoScriptError) for reply in replies):
        # Not cached yet (or flushed by a restart): the first call is EVAL_RO, which caches it for the rest.
        replies = _script_pipeline(client, arguments, trips, load_first=True)
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    lengths_by_key: dict[str, int | None] = {}
    peeks = []
    for part, reply in zip(parts, replies):
        decoded, raws = json.loads(reply[0]), reply[1:]
        lengths_by_key.update((key, None if n < 0 else n) for key, n in zip(part.keys, decoded["l"]))
        peeks += [
            _pipeline_peek(raws[int(text) - 1], source) if status == "R" else _script_peek(status, text, source)
            for (status, text), source in zip(decoded["p"], part.sources)
        ]
    return [lengths_by_key[key] for key in batch.keys], peeks


def _script_pipeline(client, arguments: Sequence[bytes], trips: _RoundTrips, *, load_first: bool) -> list:
    """Every script call in one round trip; errors come back in place, for the caller to judge."""
    pipe = client.pipeline(transaction=False)
    for index, argument in enumerate(arguments):
        if load_first and index == 0:
            pipe.eval_ro(SCRIPT, 0, argument)
        else:
            pipe.evalsha_ro(SCRIPT_SHA, 0, argument)
    trips.count += 1
    return pipe.execute(raise_on_error=False)


def _script_peek(status: str, text: str, source: QueueSource):
    """The script's peek as (enqueue time or None, reason or None), as the pipeline path has it."""
    if status == "E":
        return None, None
    field = source.timestamp_field
    if status == "J":
        return None, NOT_JSON
    if status == "F":
        return None, NO_FIELD.format(field=field)
    value = text if status == "S" else float(text) if status == "N" else None
    try:
        return parse_time_value(value, field, source.timestamp_format), None
    except ValueError as error:
        return None, str(error)


def _run_pipeline(client, batch: _Batch, trips: _RoundTrips):
    """(lengths, peek outcomes) from one pipeline of LLEN per key and LINDEX per queue."""
    pipe = client.pipeline(transaction=False)
    for key in batch.keys:
        pipe.llen(key)
    for source in batch.sources:
        pipe.lindex(source.key, _list_index(source))
    trips.count += 1
    replies = pipe.execute(raise_on_error=False)
    lengths = [_length(reply) for reply in replies[: len(batch.keys)]]
    peeks = []
    for source, reply in zip(batch.sources, replies[len(batch.keys) :]):
        if isinstance(reply, Exception):
            _length(reply)  # raises unless WRONGTYPE, which LLEN has reported already
            reply = None
        peeks.append(_pipeline_peek(reply, source))
    return lengths, peeks


def _length(reply) -> int | None:
    if isinstance(reply, redis.ResponseError) and str(reply).startswith(_WRONGTYPE):
        return None
    if isinstance(reply, Exception):
        raise reply
    return reply


def _pipeline_peek(raw, source: QueueSource):
    if raw is None:
        return None, None
    try:
        return parse_enqueue_time(raw, source.timestamp_field, source.timestamp_format), None
    except ValueError as error:
        return None, str(error)


def _readings(batch: _Batch, lengths, peeks, *, now: float):
    for source, (enqueued_at, reason) in zip(batch.sources, peeks):
        depth = lengths[batch.position[source.key]]
        in_flight = lengths[batch.position[source.processing_key]] if source.processing_key else None
        dead_letter = lengths[batch.position[source.dead_letter_key]] if source.dead_letter_key else None
        wrong_type = tuple(
            key
            for key in (source.key, source.processing_key, source.dead_letter_key)
            if key is not None and lengths[batch.position[key]] is None
        )
        if depth is None:
            age, reason = None, None
        elif enqueued_at is None and reason is None:
            age = 0.0  # empty (or emptied between LLEN and LINDEX on the pipeline path)
        else:
            age = None if reason else age_seconds(enqueued_at, now)
        yield QueueReading(source, depth, in_flight, dead_letter, age, reason, wrong_type)


def _script_not_permitted(error: redis.ResponseError) -> bool:
    """True when the server refuses the script commands as such (ACL, Redis < 7, renamed away)."""
    text = str(error).lower()
    if isinstance(error, redis.exceptions.NoPermissionError):
        # Only a refused command; a refused key would fail the pipeline just the same.
        return "'evalsha_ro'" in text or "'eval_ro'" in text
    return "unknown command" in text
