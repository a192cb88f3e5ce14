"""What to read for one queue, stream or delayed set, and how its enqueue times are written (pure).

These are the spec's words for a queue's Redis keys; the readers in monitor.collect take them as
they are, so the spec never imports Redis.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass
from typing import NamedTuple


class TimestampFormat(str, enum.Enum):
    ISO8601 = "iso8601"
    EPOCH_SECONDS = "epoch_seconds"
    EPOCH_MILLIS = "epoch_millis"
    AUTO = "auto"


class OldestEnd(str, enum.Enum):
    HEAD = "head"  # index 0: RPUSH producers, LPOP consumers
    TAIL = "tail"  # index -1: LPUSH producers, (B)RPOP(LPUSH) consumers, as hokusai does
    BOTH = "both"  # read both ends and report the older: retries pushed back at the other end count

    @property
    def indexes(self) -> tuple[int, ...]:
        """The list indexes read for the oldest message."""
        return _INDEXES[self]


_INDEXES = {OldestEnd.HEAD: (0,), OldestEnd.TAIL: (-1,), OldestEnd.BOTH: (0, -1)}


class QueuePart(str, enum.Enum):
    """What a queue_depth alarm tier may count (`parts`): every part is a metric the collector publishes."""

    WAITING = "waiting"  # QueueDepth: the queue's own list
    IN_FLIGHT = "in_flight"  # InFlightDepth: the processing list
    RETRY = "retry"  # DelayedTotal of the queue's retry set (a `delayed` entry)


class KeyType(str, enum.Enum):
    """The Redis types a queue part can be, each with its count: LLEN, ZCARD/ZCOUNT, HLEN, XLEN."""

    LIST = "list"
    ZSET = "zset"
    HASH = "hash"
    STREAM = "stream"


class ScoreRange(str, enum.Enum):
    """Which members of a sorted set a part counts, by score against the collection time."""

    ALL = "all"
    DUE = "due"  # score <= now: ready to run (arq's waiting jobs)
    NOT_DUE = "not_due"  # score > now: deferred (arq's delayed jobs)


class TimeKind(str, enum.Enum):
    """Where the enqueue time of the oldest waiting job lives."""

    ELEMENT_JSON = "element_json"  # a field of the JSON element (plain lists, Sidekiq)
    ELEMENT = "element"  # the element itself is the time
    HASH_FIELD = "hash_field"  # a field of a per-job hash named from the element (RQ: rq:job:{id} enqueued_at)
    HASH_JSON = "hash_json"  # a hash keyed by the element holding JSON, and a field of that (Dramatiq)
    SCORE = "score"  # the sorted-set score of the oldest member (arq)
    NONE = "none"  # nowhere (Celery): no age is published


class ScoreUnit(str, enum.Enum):
    SECONDS = "seconds"
    MILLISECONDS = "milliseconds"

    @property
    def per_second(self) -> int:
        return 1000 if self is ScoreUnit.MILLISECONDS else 1


@dataclass(frozen=True, slots=True)
class ScoreScale:
    """How a sorted-set score is a time: epoch time in `unit`, times `factor` (BullMQ's delayed set: ms x 4096)."""

    unit: ScoreUnit = ScoreUnit.SECONDS
    factor: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "unit", ScoreUnit(self.unit))

    def score(self, seconds: float) -> float:
        """The score of the epoch time `seconds`."""
        return seconds * self.unit.per_second * self.factor

    def seconds(self, score: float) -> float:
        """The epoch time of a score (BullMQ's counter in the low bits falls below a millisecond)."""
        return score / (self.unit.per_second * self.factor)


@dataclass(frozen=True, slots=True)
class KeySource:
    """One key of a queue part and how it is counted; a part sums its keys."""

    key: str
    type: KeyType = KeyType.LIST
    range: ScoreRange = ScoreRange.ALL  # sorted sets only
    scale: ScoreScale = ScoreScale()  # sorted sets only: what a score means
    grace_seconds: float = 0.0  # delayed sorted sets: overdue once due longer ago than this

    def __post_init__(self):
        object.__setattr__(self, "type", KeyType(self.type))
        object.__setattr__(self, "range", ScoreRange(self.range))

    def bounds(self, now: float) -> tuple[str, str] | None:
        """ZCOUNT bounds of the members this source counts at `now`; None for all of them."""
        if self.type is not KeyType.ZSET or self.range is ScoreRange.ALL:
            return None
        cutoff = repr(self.scale.score(now))
        return ("-inf", cutoff) if self.range is ScoreRange.DUE else ("(" + cutoff, "+inf")

    def overdue_bounds(self, now: float) -> tuple[str, str] | None:
        """ZCOUNT bounds of the overdue members of a delayed sorted set; None for other types, and for a
        set whose due members are counted elsewhere (range not_due: arq's due jobs are waiting ones)."""
        if self.type is not KeyType.ZSET or self.range is not ScoreRange.ALL:
            return None
        return ("-inf", repr(self.scale.score(now - self.grace_seconds)))


@dataclass(frozen=True, slots=True)
class TimeSource:
    """Where the oldest waiting job's enqueue time lives (read from the first waiting key)."""

    kind: TimeKind = TimeKind.ELEMENT_JSON
    field: str = "timestamp"  # JSON path (element_json, hash_json) or hash field (hash_field)
    format: TimestampFormat = TimestampFormat.AUTO
    key_template: str | None = None  # hash_field: the job hash's name with {id}; hash_json: the hash's name
    scale: ScoreScale = ScoreScale()  # score: what a score means

    def __post_init__(self):
        object.__setattr__(self, "kind", TimeKind(self.kind))
        object.__setattr__(self, "format", TimestampFormat(self.format))

    def job_key(self, element: str) -> str:
        """The per-job hash of an element (hash_field), or the one hash holding every job (hash_json)."""
        return (self.key_template or "").replace("{id}", element)


class Parts(NamedTuple):
    """A queue's parts, each a sum of keys, and where its enqueue times live."""

    waiting: tuple[KeySource, ...]
    in_flight: tuple[KeySource, ...]
    dead: tuple[KeySource, ...]
    delayed: tuple[KeySource, ...]
    time: TimeSource


@functools.lru_cache(maxsize=256)
def _json_time(field: str, fmt: TimestampFormat) -> TimeSource:
    return TimeSource(TimeKind.ELEMENT_JSON, field, fmt)


@dataclass(frozen=True, slots=True)  # slots: 100k readings stay small
class QueueSource:
    """What to read for one queue: its parts (each a sum of keys) and where its enqueue times live.

    A plain list queue names only `key` (and maybe processing_key / dead_letter_key): its parts are
    then those lists, and its time source the JSON field `timestamp_field`; `parts()` says so, built
    when asked so that 100k plain queues carry nothing more. A preset fills the parts in.
    """

    key: str
    processing_key: str | None = None
    dead_letter_key: str | None = None
    oldest_end: OldestEnd = OldestEnd.TAIL
    timestamp_field: str = "timestamp"  # dotted path into the JSON message, e.g. "payload.created_at"
    timestamp_format: TimestampFormat = TimestampFormat.AUTO
    waiting: tuple[KeySource, ...] = ()  # (): the list `key`
    in_flight: tuple[KeySource, ...] = ()  # (): the list processing_key, if any
    dead: tuple[KeySource, ...] = ()  # (): the list dead_letter_key, if any
    delayed: tuple[KeySource, ...] = ()
    time: TimeSource | None = None  # None: the JSON field timestamp_field of the element

    def __post_init__(self):
        # Plain strings from YAML become members, so `is OldestEnd.HEAD` holds either way.
        object.__setattr__(self, "oldest_end", OldestEnd(self.oldest_end))
        object.__setattr__(self, "timestamp_format", TimestampFormat(self.timestamp_format))
        # A preset's first in-flight and dead keys name those parts, for alarms and views.
        if self.in_flight and not self.processing_key:
            object.__setattr__(self, "processing_key", self.in_flight[0].key)
        if self.dead and not self.dead_letter_key:
            object.__setattr__(self, "dead_letter_key", self.dead[0].key)

    def parts(self) -> Parts:
        """The parts and time source, declared or (for a plain list queue) implied."""
        return Parts(
            self.waiting or (KeySource(self.key),),
            self.in_flight or ((KeySource(self.processing_key),) if self.processing_key else ()),
            self.dead or ((KeySource(self.dead_letter_key),) if self.dead_letter_key else ()),
            self.delayed,
            self.time_source(),
        )

    def time_source(self) -> TimeSource:
        """Where the enqueue times live, declared or (for a plain list queue) implied."""
        return self.time or _json_time(self.timestamp_field, self.timestamp_format)

    @property
    def keys(self) -> tuple[str, ...]:
        """Every key the queue's parts read, each once, in part order."""
        parts = self.parts()
        return tuple(dict.fromkeys(s.key for part in parts[:4] for s in part))


@dataclass(frozen=True, slots=True)
class StreamSource:
    """What to read for one stream."""

    key: str
    groups: tuple[str, ...] = ()  # the consumer groups to measure; () measures every group


@dataclass(frozen=True, slots=True)
class DelayedSource:
    """What to read for one sorted set of delayed jobs (score = due time)."""

    key: str
    score_unit: ScoreUnit = ScoreUnit.SECONDS
    grace_seconds: float = 0.0  # a job counts as overdue once due longer ago than this

    def __post_init__(self):
        object.__setattr__(self, "score_unit", ScoreUnit(self.score_unit))

    def cutoff(self, now: float) -> float:
        """The highest score that is overdue at `now`, in the set's own unit."""
        return (now - self.grace_seconds) * self.score_unit.per_second
