"""Placeholder until the reader lands (the redis-side branch replaces this file)."""

import enum
from dataclasses import dataclass


class TimestampFormat(str, enum.Enum):
    ISO8601 = "iso8601"
    EPOCH_SECONDS = "epoch_seconds"
    EPOCH_MILLIS = "epoch_millis"
    AUTO = "auto"


class OldestEnd(str, enum.Enum):
    HEAD = "head"
    TAIL = "tail"


@dataclass(frozen=True)
class QueueSource:
    key: str
    processing_key: str | None = None
    dead_letter_key: str | None = None
    oldest_end: OldestEnd = OldestEnd.TAIL
    timestamp_field: str = "timestamp"
    timestamp_format: TimestampFormat = TimestampFormat.AUTO
