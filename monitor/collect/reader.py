"""Read queue depths and oldest-message ages from Redis, read-only and in few round trips.

A queue is made of parts (waiting, in flight, dead, delayed), each a sum of keys of any type a job
queue uses (list, sorted set counted whole or by score, hash, stream), and a time source (the
oldest element's JSON, the element, a job hash it names, a hash of JSON by id, or a score): see
monitor.spec.sources. `plan` turns one queue into the count operations and the peek it needs.

The caller hands in a redis.Redis client (decode_responses=False is best: message bytes need not be
UTF-8). Connection errors (ConnectionError, TimeoutError, AuthenticationError...) are not caught
here: the collector turns them into its connection-failure signal.

Two paths give identical readings:
- a read-only Lua script (EVALSHA_RO, Redis 7+) that measures a batch of queues in one call and
  extracts only the enqueue time of each oldest job server-side (job hashes included), so no
  message body ever leaves Redis;
- pipelines of the same read commands (counts and oldest elements per batch, then the job hashes
  they name in one more round trip), used when scripts are not permitted (an ACL user without
  EVALSHA_RO, a Redis before 7, a managed Redis with scripting disabled) and on Redis Cluster.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from dataclasses import dataclass
from typing import Iterable, NamedTuple, Sequence

import redis

from monitor.collect.timestamps import (
    EMPTY,
    GONE,
    MAX_TIME_TEXT,
    NOT_HASH,
    NUMBER,
    OTHER,
    STRING,
    age_seconds,
    peek_json,
    peek_time,
)
from monitor.spec.sources import KeySource, KeyType, QueueSource, TimeKind, TimeSource

# Queues per script call or pipeline. Server time grows with it: benchmarks/bench_reader.py
# measured about 9 ms per call of 1000 queues on a busy 2-vCPU VM; lower it to block Redis less.
DEFAULT_BATCH_SIZE = 1000
# Queues per script call: each call blocks Redis while it runs, so it is kept to about a millisecond
# of server time (measured here: 9-13 ms per 1000 queues with processing and DLQ lists). The calls
# of one batch travel in one pipeline, so the round trips stay one per DEFAULT_BATCH_SIZE queues.
SCRIPT_QUEUES_PER_CALL = 100
# Oldest messages up to this size are decoded whole by cjson inside Redis. Larger ones are searched
# for '"field":' in their first TIMESTAMP_PREFIX_BYTES instead: decoding a 2.5 MB message there
# blocked the server for 84 ms, and shipping it would bring it into the collector's memory.
DEFAULT_MAX_DECODE_BYTES = 16 * 1024
TIMESTAMP_PREFIX_BYTES = 64 * 1024
DEFAULT_SCAN_COUNT = 1000
DEFAULT_MAX_KEYS = 10_000
DEFAULT_DISCOVERY_BUDGET_SECONDS = 2.0

# What an ACL user for the reader needs: read-only access to keys, and only these commands.
# Without +evalsha_ro +eval_ro the reader falls back to pipelines of LLEN + LINDEX.
# Streams and delayed sorted sets (monitor.collect.queue_types) add +xlen +xinfo|groups +xpending +zcard +zcount.
# Framework presets add +zrangebyscore +zrange +hget +hlen (sorted-set queues, job hashes).
READER_ACL_COMMANDS = (
    "+llen", "+lindex", "+scan", "+evalsha_ro", "+eval_ro", "+xlen", "+xinfo|groups", "+xpending", "+zcard", "+zcount",
    "+zrange", "+zrangebyscore", "+hget", "+hlen",
)
READER_ACL_RULES = "resetkeys %R~* resetchannels -@all " + " ".join(READER_ACL_COMMANDS)

_WRONGTYPE = "WRONGTYPE"


# Server side. A script call measures up to SCRIPT_QUEUES_PER_CALL queues; its batch travels as one
# JSON argument of flat arrays and strings (as separate EVAL arguments, redis-py's packing of
# thousands of them cost more than the whole read; nested tables cost cjson time: bench_reader.py):
#   k: the distinct keys;  o: one letter per count operation, L LLEN, C ZCARD, Z ZCOUNT, H HLEN,
#   X XLEN;  ok: the key position of each operation;  zb: min, max of each Z operation in turn;
#   g: per queue, the operation whose count gates its peek (no peek when 0 or another type);
#   e: one letter per queue, the peek: h / t / b LINDEX at the head / tail / both, z the lowest
#   member within the next range of zr, n none;  r: the distinct recipes;  ri: each queue's recipe;
#   m: bytes decoded whole;  x: bytes searched in larger messages.
# A recipe says where the time is: [j, path] a field of the JSON element; [e] the element itself;
# [h, field, before, after] field of the hash named before..element..after; [d, path, hash] the JSON
# in field element of one hash; [s] the member's score.
# Keys outside KEYS are still checked by ACL on every call the script makes. On Redis Cluster the
# pipelines of monitor.collect.cluster are used instead (a batch spans slots).
# The reply is one JSON text {"c": [count per operation, -1 for another type], "s": one status letter
# per element read (two for b), "t": [text per element read]}; the statuses are those of
# monitor.collect.timestamps (E empty, J not JSON, F no field, P no field in the searched prefix, S a
# string, N a number (%.17g, exact for doubles where Lua's default %.14g is not), O another JSON
# type, G job hash gone, W job key not a hash).
# No message body ever leaves Redis: a message larger than m is searched, not decoded (cjson held the
# server's only thread 84 ms for a 2.5 MB message) and not shipped.
SCRIPT = """#!lua flags=no-writes
local b = cjson.decode(ARGV[1])
local keys, codes, opkeys, zb, max_decode, prefix = b.k, b.o, b.ok, b.zb, b.m, b.x
local counts = {}
local commands = {L = 'LLEN', C = 'ZCARD', H = 'HLEN', X = 'XLEN'}
local z = 1
for i = 1, #opkeys do
  local code = string.sub(codes, i, i)
  local n
  if code == 'Z' then
    n = redis.pcall('ZCOUNT', keys[opkeys[i]], zb[z], zb[z + 1])
    z = z + 2
  else
    n = redis.pcall(commands[code], keys[opkeys[i]])
  end
  if type(n) == 'table' then
    if string.sub(n.err, 1, 9) ~= 'WRONGTYPE' then return n end
    n = -1
  end
  counts[i] = n
end
local statuses, texts = {}, {}
local function put(status, text)
  statuses[#statuses + 1] = status
  texts[#texts + 1] = text
end
local function short(text)
  if #text > 100 then return put('O', '') end
  put('S', text)
end
local paths = {}
local function split(field)
  local path = paths[field]
  if path == nil then
    path = {}
    for name in string.gmatch(field, '[^.]+') do path[#path + 1] = name end
    paths[field] = path
  end
  return path
end
local function in_prefix(raw, name)
  local head = raw
  if #raw > prefix then head = string.sub(raw, 1, prefix) end
  local pattern = '"' .. string.gsub(name, '[%^%$%(%)%%%.%[%]%*%+%-%?]', '%%%0') .. '"%s*:%s*'
  local _, e = string.find(head, pattern)
  if e == nil then return put('P', '') end
  if string.sub(head, e + 1, e + 1) == '"' then
    local close = string.find(head, '"', e + 2, true)
    if close == nil then return put('P', '') end
    return short(string.sub(head, e + 2, close - 1))
  end
  local number = string.match(head, '^-?%d+%.?%d*', e + 1)
  if number == nil then return put('O', '') end
  local exponent = string.match(head, '^[eE][-+]?%d+', e + 1 + #number)
  put('N', number .. (exponent or ''))
end
local function from_json(raw, field)
  local path = split(field)
  if #raw > max_decode then return in_prefix(raw, path[#path]) end
  local ok, node = pcall(cjson.decode, raw)
  if not ok then return put('J', '') end
  for _, name in ipairs(path) do
    if type(node) ~= 'table' then node = nil break end
    node = node[name]
    if node == nil then break end
  end
  if node == nil then put('F', '')
  elseif type(node) == 'string' then short(node)
  elseif type(node) == 'number' then put('N', string.format('%.17g', node))
  else put('O', '') end
end
local function lookup(key, field)
  local value = redis.pcall('HGET', key, field)
  if type(value) == 'table' and value.err then
    if string.sub(value.err, 1, 9) ~= 'WRONGTYPE' then error(value.err) end
    put('W', '')
    return nil
  end
  if not value then put('G', '') end
  return value
end
local function time_of(raw, score, recipe)
  local kind = recipe[1]
  if kind == 'j' then return from_json(raw, recipe[2])
  elseif kind == 'e' then return short(raw)
  elseif kind == 's' then return put('N', score)
  elseif kind == 'h' then
    local value = lookup(recipe[3] .. raw .. recipe[4], recipe[2])
    if value then short(value) end
    return
  end
  local value = lookup(recipe[3], raw)
  if value then from_json(value, recipe[2]) end
end
local ends = {h = {0}, t = {-1}, b = {0, -1}}
local gates, peeks, ranges, recipes, chosen = b.g, b.e, b.zr, b.r, b.ri
local zr = 1
for j = 1, #gates do
  local peek = string.sub(peeks, j, j)
  local count = counts[gates[j]]
  local key = keys[opkeys[gates[j]]]
  local recipe = recipes[chosen[j]]
  if peek == 'z' then
    local member = count > 0 and redis.call('ZRANGE', key, ranges[zr], ranges[zr + 1], 'BYSCORE', 'LIMIT', 0, 1, 'WITHSCORES')
    zr = zr + 2
    if member and member[1] then time_of(member[1], member[2], recipe) else put('E', '') end
  elseif peek == 'n' then
    put('E', '')
  else
    for _, index in ipairs(ends[peek]) do
      local raw = count > 0 and redis.call('LINDEX', key, index)
      if raw then time_of(raw, nil, recipe) else put('E', '') end
    end
  end
end
return cjson.encode({c = counts, s = table.concat(statuses), t = texts})
"""
SCRIPT_SHA = hashlib.sha1(SCRIPT.encode()).hexdigest()

_COUNT_CODES = {KeyType.LIST: "L", KeyType.HASH: "H", KeyType.STREAM: "X"}
_COUNT_COMMANDS = {"L": "llen", "C": "zcard", "Z": "zcount", "H": "hlen", "X": "xlen"}


class _Unread:
    """The reply of a command sent to a cluster node that failed: nothing is known."""


UNREAD = _Unread()

# A count operation: (code, key, min, max); min and max only for ZCOUNT.
CountOp = tuple


def count_op(source: KeySource, now: float) -> CountOp:
    """The command that counts one key of a part."""
    if source.type is KeyType.ZSET:
        bounds = source.bounds(now)
        return ("C", source.key, "", "") if bounds is None else ("Z", source.key, *bounds)
    return (_COUNT_CODES[source.type], source.key, "", "")


def overdue_op(source: KeySource, now: float) -> CountOp | None:
    """The command that counts the overdue members of a delayed sorted set."""
    bounds = source.overdue_bounds(now)
    return None if bounds is None else ("Z", source.key, *bounds)


class _Plan(NamedTuple):  # a tuple: made for every queue on every run, and a frozen dataclass costs twice as much
    """What to send for one queue: its count operations per part, and how to find its oldest job's time."""

    source: QueueSource
    time: TimeSource
    waiting: tuple[CountOp, ...]
    in_flight: tuple[CountOp, ...]
    dead: tuple[CountOp, ...]
    delayed: tuple[CountOp, ...]
    overdue: tuple[CountOp, ...]  # () when a delayed key is not a sorted set: overdue is unknown
    gate: CountOp  # the count of the key the time is read from
    peek: str  # l (list indexes), z (lowest score in range), n (none)
    at: tuple  # list indexes, or the score range

    ops: tuple[CountOp, ...]  # all of the above, each once


@functools.lru_cache(maxsize=1024)  # presets make a TimeSource per queue, alike but for nothing that matters here
def _recipe(kind: TimeKind, field: str, key_template: str | None) -> str:
    """The script's recipe (see SCRIPT) for a time source, as JSON text."""
    if kind is TimeKind.HASH_FIELD:
        before, _, after = (key_template or "").partition("{id}")
        recipe = ["h", field, before, after]
    elif kind is TimeKind.HASH_JSON:
        recipe = ["d", field, key_template]
    else:
        recipe = [{TimeKind.ELEMENT: "e", TimeKind.SCORE: "s"}.get(kind, "j"), field]
    return json.dumps(recipe, ensure_ascii=False)


def plan(source: QueueSource, now: float) -> _Plan:
    """The reads one queue needs at `now` (pure)."""
    if not (source.waiting or source.in_flight or source.dead or source.delayed or source.time):
        return _list_plan(source)
    parts = source.parts()
    counted = [tuple([count_op(s, now) for s in part]) if part else () for part in parts[:4]]
    first, gate = parts.waiting[0], counted[0][0]
    peek, at = "n", ()
    if parts.time.kind is not TimeKind.NONE:
        if first.type is KeyType.LIST:
            peek, at = "l", source.oldest_end.indexes
        elif first.type is KeyType.ZSET:
            peek, at = "z", first.bounds(now) or ("-inf", "+inf")
    overdue = tuple([overdue_op(s, now) for s in parts.delayed])
    overdue = overdue if all(overdue) else ()
    every = tuple(dict.fromkeys([op for part in counted for op in part] + list(overdue)))
    return _Plan(source, parts.time, *counted, overdue, gate, peek, at, every)


def _list_plan(source: QueueSource) -> _Plan:
    """plan() of a plain list queue (every pattern's, most declared ones), without the KeySource objects
    of its implied parts: built once per queue per run, for 100k queues. Not cached: a cache of 100k
    plans would cost tens of MB, and a pattern's sources are new objects every run."""
    waiting = ("L", source.key, "", "")
    in_flight = (("L", source.processing_key, "", ""),) if source.processing_key else ()
    dead = (("L", source.dead_letter_key, "", ""),) if source.dead_letter_key else ()
    every = (waiting, *in_flight, *dead)
    if source.processing_key == source.key or (source.dead_letter_key and source.dead_letter_key in (source.key, source.processing_key)):
        every = tuple(dict.fromkeys(every))  # a list named twice is counted once, as plan() does
    return _Plan(source, source.time_source(), (waiting,), in_flight, dead, (), (), waiting, "l", source.oldest_end.indexes, every)


@dataclass(frozen=True, slots=True)  # slots: 100k readings stay small
class QueueReading:
    source: QueueSource
    depth: int | None  # waiting jobs; None when a waiting key has the wrong type (or was not read)
    in_flight: int | None  # None when no in-flight part, or a wrong type
    dead_letter: int | None
    oldest_age_seconds: float | None  # 0.0 for an empty queue; None on parse error, wrong type, or no time source
    parse_error: str | None  # short reason, never the message body
    wrong_type_keys: tuple[str, ...]  # keys that exist with another type than their part declares
    unread_keys: tuple[str, ...] = ()  # keys on a cluster node that could not be read (monitor.collect.cluster)
    delayed_total: int | None = None  # None when no delayed part (or a wrong type)
    delayed_overdue: int | None = None  # None as delayed_total, or when the delayed part is a list


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


def read_queues(
    client: redis.Redis,
    sources: Iterable[QueueSource],
    *,
    now: float,
    batch_size: int = DEFAULT_BATCH_SIZE,
    use_script: bool = True,
    max_decode_bytes: int = DEFAULT_MAX_DECODE_BYTES,
    prefix_bytes: int = TIMESTAMP_PREFIX_BYTES,
) -> ReadResult:
    """Depths and oldest ages of the queues, in order; at most ceil(n / batch_size) + 1 round trips."""
    sources = tuple(sources)
    readings: list[QueueReading] = []
    trips = RoundTrips()
    script_refused = not use_script
    start = 0
    while start < len(sources) and not script_refused:
        batch = [plan(source, now) for source in sources[start : start + batch_size]]  # per batch: 100k plans would not fit
        try:
            counts, outcomes = _run_script(client, batch, trips, max_decode_bytes, prefix_bytes)
        except redis.ResponseError as error:
            if not _script_not_permitted(error):
                raise
            script_refused = True
            break
        readings.extend(assemble(p, counts, o, now, prefix_bytes) for p, o in zip(batch, outcomes))
        start += batch_size
    if start < len(sources):

        def send(commands):
            return pipelined(client, commands, trips)

        readings.extend(read_with_pipelines(send, sources[start:], now, batch_size, max_decode_bytes, prefix_bytes))
    return ReadResult(tuple(readings), trips.count, used_script=not script_refused)


def part_counts(client, sources: Sequence[QueueSource], *, now: float) -> list[dict[str, list[int | None]]]:
    """Per queue, per part (waiting, in_flight, dead, delayed), the count of each of its keys, as the
    reader counts them (None: another type); one pipeline. For `doctor`, which shows keys one by one."""
    plans = [plan(source, now) for source in sources]
    ops = list(dict.fromkeys(op for p in plans for op in p.ops))
    counts = {op: count_reply(reply) for op, reply in zip(ops, pipelined(client, [_count_command(op) for op in ops], RoundTrips()))}
    return [
        {"waiting": [counts[op] for op in p.waiting], "in_flight": [counts[op] for op in p.in_flight], "dead": [counts[op] for op in p.dead], "delayed": [counts[op] for op in p.delayed]}
        for p in plans
    ]


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


class RoundTrips:
    """Requests sent to Redis: each command or pipeline execute is one."""

    count = 0


_PEEK_LETTERS = {(0,): "h", (-1,): "t", (0, -1): "b"}


def _script_argument(part: Sequence[_Plan], max_decode: int, prefix_bytes: int) -> tuple[bytes, list[CountOp]]:
    """The JSON argument of one script call (see SCRIPT), and its count operations in order."""
    keys: dict[str, int] = {}
    ops: dict[CountOp, int] = {}
    recipes: dict[str, int] = {}
    zb: list[str] = []
    for p in part:
        for op in p.ops:
            if op not in ops:
                ops[op] = len(ops) + 1
                keys.setdefault(op[1], len(keys) + 1)
                if op[0] == "Z":
                    zb += op[2:]
    gates, peeks, ranges, chosen = [], [], [], []
    texts: dict[int, str] = {}  # recipe text by id of the TimeSource: plain queues share one
    for p in part:
        gates.append(ops[p.gate])
        if p.peek == "l":
            peeks.append(_PEEK_LETTERS[p.at])
        else:
            peeks.append(p.peek)
            if p.peek == "z":
                ranges += p.at
        recipe = texts.get(id(p.time))
        if recipe is None:
            time = p.time
            recipe = texts[id(time)] = _recipe(time.kind, time.field, time.key_template)
        chosen.append(recipes.setdefault(recipe, len(recipes) + 1))
    body = (
        '{"k":%s,"o":"%s","ok":%s,"zb":%s,"g":%s,"e":"%s","zr":%s,"r":[%s],"ri":%s,"m":%d,"x":%d}'
        % (
            json.dumps(list(keys), ensure_ascii=False),
            "".join(op[0] for op in ops),
            json.dumps([keys[op[1]] for op in ops]),
            json.dumps(zb),
            json.dumps(gates),
            "".join(peeks),
            json.dumps(ranges),
            ",".join(recipes),
            json.dumps(chosen),
            max_decode,
            prefix_bytes,
        )
    )
    return body.encode(), list(ops)


def _run_script(client, batch: Sequence[_Plan], trips: RoundTrips, max_decode: int, prefix_bytes: int):
    """(counts by operation, peek outcomes per queue) from the read-only script: calls of SCRIPT_QUEUES_PER_CALL queues, one pipeline."""
    parts = [batch[i : i + SCRIPT_QUEUES_PER_CALL] for i in range(0, len(batch), SCRIPT_QUEUES_PER_CALL)]
    built = [_script_argument(part, max_decode, prefix_bytes) for part in parts]
    arguments = [argument for argument, _ in built]
    replies = _script_pipeline(client, arguments, trips, load_first=False)
    if any(isinstance(reply, redis.exceptions.NoScriptError) for reply in replies):
        # Not cached yet (or flushed by a restart): the first call is EVAL_RO, which caches it for the rest.
        replies = _script_pipeline(client, arguments, trips, load_first=True)
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    counts: dict[CountOp, int | None] = {}
    outcomes: list[list] = []
    for part, (_, ops), reply in zip(parts, built, replies):
        decoded = json.loads(reply)
        counts.update((op, None if n < 0 else n) for op, n in zip(ops, decoded["c"]))
        statuses, texts = decoded["s"], decoded["t"]
        at = 0
        for p in part:
            if p.peek == "l" and len(p.at) == 2:
                outcomes.append(((statuses[at], texts[at]), (statuses[at + 1], texts[at + 1])))
                at += 2
            else:
                outcomes.append(((statuses[at], texts[at]),))
                at += 1
    return counts, outcomes


def _script_pipeline(client, arguments: Sequence[bytes], trips: RoundTrips, *, load_first: bool) -> list:
    """Every script call in one round trip; errors come back in place, for the caller to judge."""
    pipe = client.pipeline(transaction=False)
    for index, argument in enumerate(arguments):
        if load_first and index == 0:
            pipe.eval_ro(SCRIPT, 0, argument)
        else:
            pipe.evalsha_ro(SCRIPT_SHA, 0, argument)
    trips.count += 1
    return pipe.execute(raise_on_error=False)


def pipelined(client, commands: Sequence[tuple], trips: RoundTrips) -> list:
    """Replies of the commands (errors in place) in one pipeline."""
    if not commands:
        return []
    pipe = client.pipeline(transaction=False)
    for name, *args in commands:
        getattr(pipe, name)(*args)
    trips.count += 1
    return pipe.execute(raise_on_error=False)


def read_with_pipelines(send, sources: Sequence[QueueSource], now: float, batch_size: int, max_decode: int, prefix_bytes: int) -> list[QueueReading]:
    """The script's readings from plain read commands: counts and oldest elements in one pipeline per
    batch (`send` runs one), then the job hashes those elements name in one more, for all batches."""
    readings: list[QueueReading | None] = []
    waiting: list[tuple[int, _Plan, dict, list]] = []  # queues whose time is in a job hash: read last
    for start in range(0, len(sources), batch_size):
        batch = [plan(source, now) for source in sources[start : start + batch_size]]
        ops = list(dict.fromkeys(op for p in batch for op in p.ops))
        peeks = [(i, command) for i, p in enumerate(batch) for command in _peek_commands(p)]
        replies = send([_count_command(op) for op in ops] + [command for _, command in peeks])
        counts = {op: count_reply(reply) for op, reply in zip(ops, replies)}
        elements: list[list] = [[] for _ in batch]
        for (i, command), reply in zip(peeks, replies[len(ops) :]):
            elements[i].append(_element(command[0], reply))
        for p, found in zip(batch, elements):
            if any(_needs_lookup(p, element, counts) for element in found):
                waiting.append((len(readings), p, {op: counts[op] for op in p.ops}, found))
                readings.append(None)
            else:
                readings.append(_reading(p, counts, found, now, max_decode, prefix_bytes))
    lookups = [(w, e, _lookup_command(p, element)) for w, (_, p, counts, found) in enumerate(waiting) for e, element in enumerate(found) if _needs_lookup(p, element, counts)]
    for (w, e, _), reply in zip(lookups, send([command for _, _, command in lookups])):
        element = waiting[w][3][e]
        waiting[w][3][e] = (element[0], element[1], reply)
    for index, p, counts, found in waiting:
        readings[index] = _reading(p, counts, found, now, max_decode, prefix_bytes)
    return readings  # type: ignore[return-value]


def _reading(p: _Plan, counts, found: list, now: float, max_decode: int, prefix_bytes: int) -> QueueReading:
    outcomes = [_outcome(p, element, counts, max_decode, prefix_bytes) for element in found] or [[EMPTY, ""]]
    return assemble(p, counts, outcomes, now, prefix_bytes)


def _peek_commands(p: _Plan) -> list[tuple]:
    key = p.gate[1]
    if p.peek == "l":
        return [("lindex", key, index) for index in p.at]
    if p.peek == "z":
        return [("zrangebyscore", key, p.at[0], p.at[1], 0, 1, True)]
    return []


def _count_command(op: CountOp) -> tuple:
    name = _COUNT_COMMANDS[op[0]]
    return (name, op[1], op[2], op[3]) if op[0] == "Z" else (name, op[1])


def count_reply(reply) -> int | None | _Unread:
    """A count (integer) reply: None for WRONGTYPE, UNREAD as it came; any other error is raised."""
    if reply is UNREAD:
        return UNREAD
    if isinstance(reply, redis.ResponseError) and str(reply).startswith(_WRONGTYPE):
        return None
    if isinstance(reply, Exception):
        raise reply
    return int(reply)


def _element(command: str, reply):
    """(element, score) of a LINDEX or ZRANGEBYSCORE reply; None when there is none; UNREAD as it came."""
    if reply is UNREAD:
        return UNREAD
    if isinstance(reply, Exception):
        count_reply(reply)  # raises unless WRONGTYPE, which the count reports already
        return None
    if command == "zrangebyscore":
        return (reply[0][0], reply[0][1]) if reply else None
    return None if reply is None else (reply, None)


def _needs_lookup(p: _Plan, element, counts) -> bool:
    usable = element is not None and element is not UNREAD and isinstance(counts.get(p.gate), int) and counts[p.gate] > 0
    return usable and p.time.kind in (TimeKind.HASH_FIELD, TimeKind.HASH_JSON)


def _text(value) -> str:
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value


def _lookup_command(p: _Plan, element) -> tuple:
    time = p.time
    if time.kind is TimeKind.HASH_FIELD:
        return ("hget", time.job_key(_text(element[0])), time.field)
    return ("hget", time.key_template, element[0])


def _outcome(p: _Plan, element, counts, max_decode: int, prefix_bytes: int) -> list:
    """The script's [status, text] for one element read through the pipelines."""
    count = counts.get(p.gate)
    if element is None or element is UNREAD or not isinstance(count, int) or count == 0:
        return [EMPTY, ""]
    time = p.time
    raw, score = element[0], element[1]
    if time.kind is TimeKind.SCORE:
        return [NUMBER, "%.17g" % float(score)]
    if time.kind is TimeKind.ELEMENT:
        return _short(_text(raw))
    if time.kind is TimeKind.ELEMENT_JSON:
        return list(peek_json(raw, time.field, max_decode, prefix_bytes))
    value = element[2]
    if value is UNREAD:
        return [EMPTY, ""]
    if isinstance(value, Exception):
        if not str(value).startswith(_WRONGTYPE):
            raise value
        return [NOT_HASH, ""]
    if value is None:
        return [GONE, ""]
    if time.kind is TimeKind.HASH_JSON:
        return list(peek_json(value, time.field, max_decode, prefix_bytes))
    return _short(_text(value))


def _short(text: str) -> list:
    """A time given as text, as the script's short() puts it: too long a text is no time."""
    return [STRING, text] if len(text.encode("utf-8", "surrogateescape")) <= MAX_TIME_TEXT else [OTHER, ""]


def _sum(ops: Sequence[CountOp], counts) -> int | None:
    if not ops:
        return None
    total = 0
    for op in ops:
        value = counts.get(op, UNREAD)
        if not isinstance(value, int):
            return None
        total += value
    return total


def _all_counted(ops: Sequence[CountOp], counts) -> bool:
    """True when every operation has a count (the common case: nothing to report)."""
    for op in ops:
        if type(counts.get(op)) is not int:  # noqa: E721 (bool is no count)
            return False
    return True


def assemble(p: _Plan, counts, outcomes: Sequence, now: float, prefix_bytes: int) -> QueueReading:
    """One queue's reading from the counts of its operations and the peek outcomes of its oldest jobs."""
    source = p.source
    wrong_type: tuple[str, ...] = ()
    unread: tuple[str, ...] = ()
    if not _all_counted(p.ops, counts):
        values = [counts.get(op, UNREAD) for op in p.ops]
        wrong_type = tuple(dict.fromkeys(op[1] for op, v in zip(p.ops, values) if v is None))
        unread = tuple(dict.fromkeys(op[1] for op, v in zip(p.ops, values) if v is UNREAD))
    depth = _sum(p.waiting, counts)
    age = reason = None
    if depth is not None and p.peek != "n":
        time = p.time
        oldest = None  # both ends read: the older one counts
        for status, text in outcomes:
            if time.kind is TimeKind.SCORE and status == NUMBER:
                at, why = time.scale.seconds(float(text)), None
            else:
                at, why = peek_time(status, text, time.field, time.format, prefix_bytes)
            if at is not None:
                if oldest is None or at < oldest:
                    oldest = at
            elif reason is None:
                reason = why  # the first end's reason
        if reason is not None:
            age = None  # an end that cannot be read may hold the oldest job: no age rather than a low one
        elif oldest is not None:
            age = age_seconds(oldest, now)
        else:
            age = 0.0  # empty (or emptied between the count and the read)
    delayed = _sum(p.delayed, counts) if p.delayed else None
    overdue = _sum(p.overdue, counts) if p.overdue and delayed is not None else None
    return QueueReading(
        source,
        depth,
        _sum(p.in_flight, counts) if p.in_flight else None,
        _sum(p.dead, counts) if p.dead else None,
        age,
        reason,
        wrong_type,
        unread,
        delayed,
        overdue,
    )


def _script_not_permitted(error: redis.ResponseError) -> bool:
    """True when the server refuses the script commands as such (ACL, Redis < 7, renamed away)."""
    text = str(error).lower()
    if isinstance(error, redis.exceptions.NoPermissionError):
        # Only a refused command; a refused key would fail the pipeline just the same.
        return "'evalsha_ro'" in text or "'eval_ro'" in text
    return "unknown command" in text
