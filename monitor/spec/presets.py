"""Framework presets: a job framework's queue name becomes the parts and time source it keeps in Redis (pure).

Each preset is data for one framework version's layout, checked by tests/test_frameworks.py against the
real framework (docs/frameworks.md says what each measures and what it cannot).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Callable

from monitor.spec.sources import (
    KeySource,
    KeyType,
    OldestEnd,
    QueueSource,
    ScoreRange,
    ScoreScale,
    ScoreUnit,
    TimeKind,
    TimestampFormat,
    TimeSource,
)


class Framework(str, enum.Enum):
    RQ = "rq"
    CELERY = "celery"
    DRAMATIQ = "dramatiq"
    ARQ = "arq"
    BULLMQ = "bullmq"
    SIDEKIQ = "sidekiq"


# kombu's Redis transport keeps priority step N of queue Q in the list Q + PRIORITY_SEP + N (step 0 is Q
# itself); its default steps are 0, 3, 6, 9, and every digit is read so other step settings count too.
CELERY_PRIORITY_SEP = "\x06\x16"
CELERY_PRIORITY_STEPS = range(1, 10)
MILLIS = ScoreScale(ScoreUnit.MILLISECONDS)
# BullMQ's delayed set scores a job by due time in ms x 4096 plus a counter below 4096.
BULLMQ_DELAYED = ScoreScale(ScoreUnit.MILLISECONDS, 4096)


def _zset(key: str, scale: ScoreScale = ScoreScale(), range: ScoreRange = ScoreRange.ALL) -> KeySource:
    return KeySource(key, KeyType.ZSET, range, scale)


def _rq(queue: str, prefix: str) -> QueueSource:
    return QueueSource(
        key=f"{prefix}:queue:{queue}",
        waiting=(KeySource(f"{prefix}:queue:{queue}"),),
        in_flight=(_zset(f"{prefix}:wip:{queue}"),),
        dead=(_zset(f"{prefix}:failed:{queue}"),),
        delayed=(_zset(f"{prefix}:scheduled:{queue}"),),
        # RPUSH, oldest at the head; enqueue(at_front=True) and requeued jobs go to the head too.
        oldest_end=OldestEnd.BOTH,
        time=TimeSource(TimeKind.HASH_FIELD, "enqueued_at", TimestampFormat.ISO8601, key_template=f"{prefix}:job:{{id}}"),
    )


def _celery(queue: str, prefix: str) -> QueueSource:
    lists = (f"{prefix}{queue}",) + tuple(f"{prefix}{queue}{CELERY_PRIORITY_SEP}{step}" for step in CELERY_PRIORITY_STEPS)
    # No enqueue time in a Celery message (protocol 2): no age (docs/frameworks.md says how to add one).
    return QueueSource(key=lists[0], waiting=tuple(KeySource(k) for k in lists), time=TimeSource(TimeKind.NONE))


def _dramatiq(queue: str, prefix: str) -> QueueSource:
    name = f"{prefix}:{queue}"
    return QueueSource(
        key=name,
        waiting=(KeySource(name),),
        dead=(_zset(f"{name}.XQ", MILLIS),),
        delayed=(KeySource(f"{name}.DQ"),),  # a list of message ids: its due times are inside the messages
        oldest_end=OldestEnd.BOTH,
        time=TimeSource(TimeKind.HASH_JSON, "message_timestamp", TimestampFormat.EPOCH_MILLIS, key_template=f"{name}.msgs"),
    )


def _arq(queue: str, prefix: str) -> QueueSource:
    # One sorted set, scored by enqueue time (or defer-until time) in ms: due members wait, the others are delayed.
    name = f"{prefix}{queue}"
    return QueueSource(
        key=name,
        waiting=(_zset(name, MILLIS, ScoreRange.DUE),),
        delayed=(_zset(name, MILLIS, ScoreRange.NOT_DUE),),
        time=TimeSource(TimeKind.SCORE, scale=MILLIS),
    )


def _bullmq(queue: str, prefix: str) -> QueueSource:
    name = f"{prefix}:{queue}"
    return QueueSource(
        key=f"{name}:wait",
        waiting=(KeySource(f"{name}:wait"), _zset(f"{name}:prioritized"), KeySource(f"{name}:paused")),
        in_flight=(KeySource(f"{name}:active"),),
        dead=(_zset(f"{name}:failed", MILLIS),),
        delayed=(_zset(f"{name}:delayed", BULLMQ_DELAYED),),
        # LPUSH, oldest at the tail; lifo jobs are pushed at the tail's other side (the head).
        oldest_end=OldestEnd.BOTH,
        time=TimeSource(TimeKind.HASH_FIELD, "timestamp", TimestampFormat.EPOCH_MILLIS, key_template=f"{name}:{{id}}"),
    )


def _sidekiq(queue: str, prefix: str) -> QueueSource:
    # The dead and schedule sets are shared by every queue of the Redis: their counts are Redis-wide.
    return QueueSource(
        key=f"{prefix}queue:{queue}",
        dead=(_zset(f"{prefix}dead"),),
        delayed=(_zset(f"{prefix}schedule"),),
        oldest_end=OldestEnd.BOTH,  # LPUSH, oldest at the tail
        # Sidekiq 6 writes epoch seconds (a float), Sidekiq 7+ epoch milliseconds: auto tells them apart.
        time=TimeSource(TimeKind.ELEMENT_JSON, "enqueued_at", TimestampFormat.AUTO),
    )


@dataclass(frozen=True)
class Preset:
    framework: Framework
    default_prefix: str
    build: Callable[[str, str], QueueSource]
    version: str  # the framework version the layout was checked against (tests/test_frameworks.py)


PRESETS: dict[Framework, Preset] = {
    p.framework: p
    for p in (
        Preset(Framework.RQ, "rq", _rq, "rq 3.0"),
        Preset(Framework.CELERY, "", _celery, "celery 5.7 / kombu 5.7"),
        Preset(Framework.DRAMATIQ, "dramatiq", _dramatiq, "dramatiq 2.2"),
        Preset(Framework.ARQ, "", _arq, "arq 0.28"),
        Preset(Framework.BULLMQ, "bull", _bullmq, "bullmq 6.7"),
        Preset(Framework.SIDEKIQ, "", _sidekiq, "sidekiq 6.4"),
    )
}


def expand(framework: Framework | str, queue: str, prefix: str | None = None) -> QueueSource:
    """The queue source a framework keeps for its queue `queue` (prefix: its key prefix, if not the default)."""
    preset = PRESETS[Framework(framework)]
    return preset.build(queue, preset.default_prefix if prefix is None else prefix)


def describe(source: QueueSource) -> dict:
    """What a queue source reads, as plain data for `render` and `explain`."""

    def part(sources: tuple[KeySource, ...]) -> list[str]:
        out = []
        for s in sources:
            text = f"{s.type.value} {s.key!r}"
            if s.type is KeyType.ZSET and s.range is not ScoreRange.ALL:
                text += f" ({s.range.value} members)"
            out.append(text)
        return out

    parts = source.parts()
    time = parts.time
    end = "at both ends (the older counts)" if source.oldest_end is OldestEnd.BOTH else f"at the {source.oldest_end.value}"
    where = {
        TimeKind.ELEMENT_JSON: f"field {time.field!r} of the JSON job {end}",
        TimeKind.ELEMENT: f"the element {end}",
        TimeKind.HASH_FIELD: f"field {time.field!r} of the hash {time.key_template!r} named by the job id {end}",
        TimeKind.HASH_JSON: f"field {time.field!r} of the JSON stored under the job id in the hash {time.key_template!r}",
        TimeKind.SCORE: f"the lowest score ({time.scale.unit.value} x {time.scale.factor:g})",
        TimeKind.NONE: "nowhere: no OldestMessageAgeSeconds",
    }[time.kind]
    described = {"waiting": part(parts.waiting), "enqueue_time": where if time.kind is TimeKind.NONE else f"{where} ({time.format.value})"}
    for name, sources in (("in_flight", parts.in_flight), ("dead", parts.dead), ("delayed", parts.delayed)):
        described[name] = part(sources) or "not measured"
    return described


def expansion(queue) -> dict:
    """What a preset queue of the spec expands to (for `render`)."""
    return {"name": queue.name, "framework": queue.framework, "key": queue.key, "reads": describe(queue.source)}


def expansion_text(queue) -> str:
    """The same, in lines for `explain`."""
    lines = [f"{queue.name}: {queue.framework} preset, dimension Queue={queue.key!r}"]
    for part, what in describe(queue.source).items():
        lines.append(f"  {part}: {what if isinstance(what, str) else ' + '.join(what)}")
    return "\n".join(lines) + "\n"
