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
import json
import time
from dataclasses import dataclass
from typing import Callable, Iterable, NamedTuple, Sequence

import redis

from monitor.collect.lua import SCRIPT, SCRIPT_SHA
from monitor.collect.plain import is_plain, read_plain
from monitor.collect.reading import QueueReading, RoundTrips
from monitor.collect.timestamps import (
    EMPTY,
    GONE,
    MAX_TIME_TEXT,
    NOT_HASH,
    NUMBER,
    OTHER,
    STRING,
    oldest_age,
    peek_json,
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

WRONGTYPE_ERROR = "WRONGTYPE"



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
    on_readings: Callable[[list[QueueReading]], None] | None = None,
) -> ReadResult:
    """Depths and oldest ages of the queues, in order; at most ceil(n / batch_size) + 1 round trips.

    Plain list queues take the plain script (monitor.collect.plain), the others the generic one;
    where scripts are refused, every queue is read with pipelines. `on_readings` is handed every
    reading once, as soon as it is made (plain queues a script call at a time, the others at the
    end), so that the caller can work on them while Redis reads the rest.
    """
    sources = tuple(sources)
    trips = RoundTrips()
    handed = [0]

    def hand(readings: list[QueueReading]) -> None:
        handed[0] += len(readings)
        if on_readings is not None:
            on_readings(readings)

    if use_script:
        try:
            readings = _read_scripted(client, sources, now, batch_size, max_decode_bytes, prefix_bytes, trips, hand)
            return ReadResult(tuple(readings), trips.count, used_script=True)
        except redis.ResponseError as error:
            if handed[0] or not _script_not_permitted(error):  # refused at the first call, or not a refusal
                raise

    def send(commands):
        return pipelined(client, commands, trips)

    readings = read_with_pipelines(send, sources, now, batch_size, max_decode_bytes, prefix_bytes)
    hand(readings)
    return ReadResult(tuple(readings), trips.count, used_script=False)


def _read_scripted(client, sources: Sequence[QueueSource], now: float, batch_size: int, max_decode: int, prefix_bytes: int, trips: RoundTrips, hand) -> list[QueueReading]:
    """Every queue through a script: the plain ones through the plain script, the others the generic one."""

    def read_simple(simple: Sequence[QueueSource]) -> list[QueueReading]:
        return read_plain(
            client, simple, now=now, batch_size=batch_size, queues_per_call=SCRIPT_QUEUES_PER_CALL,
            max_decode=max_decode, prefix_bytes=prefix_bytes, trips=trips, on_readings=hand,
        )

    if all(map(is_plain, sources)):  # the common case: no lists of 100k flags and sources to keep
        return read_simple(sources)
    plain = [is_plain(source) for source in sources]
    simple = [source for source, fast in zip(sources, plain) if fast]
    fast = iter(read_simple(simple) if simple else ())
    others = [source for source, fast in zip(sources, plain) if not fast]
    generic: list[QueueReading] = []
    for start in range(0, len(others), batch_size):
        batch = [plan(source, now) for source in others[start : start + batch_size]]  # per batch: 100k plans would not fit
        counts, outcomes = _run_script(client, batch, trips, max_decode, prefix_bytes)
        generic.extend(assemble(p, counts, o, now, prefix_bytes) for p, o in zip(batch, outcomes))
    hand(generic)
    slow = iter(generic)
    return [next(fast) if flag else next(slow) for flag in plain]


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
    if isinstance(reply, redis.ResponseError) and str(reply).startswith(WRONGTYPE_ERROR):
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
        if not str(value).startswith(WRONGTYPE_ERROR):
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
        age, reason = oldest_age(outcomes, p.time, now, prefix_bytes)
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
