"""What to read for one queue, stream or delayed set, and how its enqueue times are written (pure).

These are the spec's words for a queue's Redis keys; the readers in monitor.collect take them as
they are, so the spec never imports Redis.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class TimestampFormat(str, enum.Enum):
    ISO8601 = "iso8601"
    EPOCH_SECONDS = "epoch_seconds"
    EPOCH_MILLIS = "epoch_millis"
    AUTO = "auto"


class OldestEnd(str, enum.Enum):
    HEAD = "head"  # index 0: RPUSH producers, LPOP consumers
    TAIL = "tail"  # index -1: LPUSH producers, (B)RPOP(LPUSH) consumers, as hokusai does


class QueuePart(str, enum.Enum):
    """What a queue_depth alarm tier may count (`parts`): every part is a metric the collector publishes."""

    WAITING = "waiting"  # QueueDepth: the queue's own list
    IN_FLIGHT = "in_flight"  # InFlightDepth: the processing list
    RETRY = "retry"  # DelayedTotal of the queue's retry set (a `delayed` entry)


@dataclass(frozen=True, slots=True)  # slots: 100k readings stay small
class QueueSource:
    """What to read for one queue."""

    key: str
    processing_key: str | None = None
    dead_letter_key: str | None = None
    oldest_end: OldestEnd = OldestEnd.TAIL
    timestamp_field: str = "timestamp"  # dotted path into the JSON message, e.g. "payload.created_at"
    timestamp_format: TimestampFormat = TimestampFormat.AUTO

    def __post_init__(self):
        # Plain strings from YAML become members, so `is OldestEnd.HEAD` holds either way.
        object.__setattr__(self, "oldest_end", OldestEnd(self.oldest_end))
        object.__setattr__(self, "timestamp_format", TimestampFormat(self.timestamp_format))


class ScoreUnit(str, enum.Enum):
    SECONDS = "seconds"
    MILLISECONDS = "milliseconds"

    @property
    def per_second(self) -> int:
        return 1000 if self is ScoreUnit.MILLISECONDS else 1


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
