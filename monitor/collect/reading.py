"""What reading a queue gives (QueueReading), and the count of requests a read sent (RoundTrips)."""

from __future__ import annotations

from typing import NamedTuple

from monitor.spec.sources import QueueSource


class QueueReading(NamedTuple):  # a tuple: 100k are made per run at 100k queues, and a frozen dataclass costs three times as much
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


class RoundTrips:
    """Requests sent to Redis: each command or pipeline execute (or one write of many calls) is one."""

    count = 0
