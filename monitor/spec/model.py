"""The typed, frozen objects a valid spec becomes (Spec, Environment, Queue, AlarmRule, ...)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Mapping

from monitor.errors import UsageError
from monitor.spec import naming
from monitor.spec.declaration import DEFAULT_SUPPRESS_EXTENSION_SECONDS, DEFAULT_SUPPRESS_WAIT_SECONDS
from monitor.spec.kinds import (
    AlarmKind,
    Comparison,
    Severity,
    TreatMissingData,
)
from monitor.spec.sources import (
    DelayedSource,
    OldestEnd,
    QueuePart,
    QueueSource,
    StreamSource,
    TimestampFormat,
)
from monitor.spec.windows import WindowKind
from monitor.spec.yamlload import (
    Problem,
)


@dataclass(frozen=True)
class AuthToken:
    secret_arn: str | None = None
    secret_json_key: str | None = None
    env: str | None = None


@dataclass(frozen=True)
class RedisTarget:
    name: str
    host: str
    port: int = 6379
    db: int = 0
    tls: bool = True
    ca_bundle: str | None = None
    username: str | None = None
    auth_token: AuthToken | None = None
    cluster: bool = False


@dataclass(frozen=True)
class Notifications:
    alarm: tuple[str, ...] = ()
    ok: tuple[str, ...] = ()
    insufficient_data: tuple[str, ...] = ()


@dataclass(frozen=True)
class Environment:
    name: str
    redis: RedisTarget
    notifications: Mapping[Severity, Notifications]
    region: str | None = None
    description: str = ""
    targets: tuple[RedisTarget, ...] = ()  # every target, `redis` first; () means just `redis`

    def __post_init__(self):
        if not self.targets:
            object.__setattr__(self, "targets", (self.redis,))

    def actions(self, severity: Severity) -> Notifications:
        return self.notifications.get(severity, Notifications())

    def target_name(self, name: str | None) -> str:
        """The target a queue, stream, delayed set or pattern is read from: its own, or the first one."""
        return name or self.targets[0].name

    def target(self, name: str | None) -> RedisTarget:
        """The named target, or the first one for None (queues that name no target)."""
        if name is None:
            return self.targets[0]
        for target in self.targets:
            if target.name == name:
                return target
        raise UsageError(f"environment '{self.name}' has no Redis target '{name}'; it has: {', '.join(t.name for t in self.targets)}")


@dataclass(frozen=True)
class AlarmRule:
    """One alarm tier after merging defaults and overrides: everything needed to render it."""

    kind: AlarmKind
    tier: str
    severity: Severity
    threshold: float
    comparison: Comparison
    statistic: str
    period: int
    evaluation_periods: int
    datapoints_to_alarm: int
    treat_missing_data: TreatMissingData
    runbook: str | None = None
    description: str = ""
    min_depth: float = 0  # time_to_drain: at or below this depth the estimate is 0
    parts: tuple[QueuePart, ...] = ()  # queue_depth only: the parts summed; () = the kind's metric alone
    only_when_idle: bool = False  # in_flight_depth only: count periods in which nothing waited
    evaluation_window: WindowKind = WindowKind.SLIDING
    timezone: str | None = None  # wall_clock only; None means UTC


@dataclass(frozen=True)
class Queue:
    key: str
    name: str
    source: QueueSource
    alarms: tuple[AlarmRule, ...] = ()
    description: str = ""
    target: str | None = None  # the Redis target's name; None: the environment's first
    retry: str | None = None  # the key of a `delayed` sorted set where failed jobs wait to come back
    framework: str | None = None  # the preset the source comes from (monitor.spec.presets), if any

    @property
    def processing(self) -> str | None:
        return self.source.processing_key

    @property
    def dead_letter(self) -> str | None:
        return self.source.dead_letter_key


@dataclass(frozen=True)
class Stream:
    """A stream; its alarms are rendered once per listed consumer group."""

    key: str
    name: str
    groups: tuple[str, ...]  # () = every group is measured, none gets alarms
    alarms: tuple[AlarmRule, ...] = ()
    description: str = ""
    target: str | None = None  # the Redis target's name; None: the environment's first

    @property
    def source(self) -> StreamSource:
        return StreamSource(self.key, self.groups)


@dataclass(frozen=True)
class DelayedQueue:
    """A sorted set of delayed jobs scored by due time."""

    key: str
    name: str
    source: DelayedSource
    alarms: tuple[AlarmRule, ...] = ()
    description: str = ""
    target: str | None = None  # the Redis target's name; None: the environment's first


@dataclass(frozen=True)
class Pattern:
    pattern: str
    processing: str | None
    dead_letter: str | None
    oldest_end: OldestEnd
    timestamp_field: str
    timestamp_format: TimestampFormat
    max_keys: int
    target: str | None = None  # the Redis target's name; None: the environment's first
    name: str = ""  # used in alarm names; "" means naming.slug(pattern)
    alarms: tuple[AlarmRule, ...] = ()  # on the aggregates (Pattern dimension)

    def __post_init__(self):
        if not self.name:
            object.__setattr__(self, "name", naming.slug(self.pattern))

    def source(self, key: str) -> QueueSource:
        """What to read for one key this pattern discovered."""
        return QueueSource(
            key=key,
            processing_key=self.processing.replace("{key}", key) if self.processing else None,
            dead_letter_key=self.dead_letter.replace("{key}", key) if self.dead_letter else None,
            oldest_end=self.oldest_end,
            timestamp_field=self.timestamp_field,
            timestamp_format=self.timestamp_format,
        )


@dataclass(frozen=True)
class Discovery:
    scan_count: int = 1000
    max_keys: int = 100
    time_budget_seconds: float = 5.0


@dataclass(frozen=True)
class Collector:
    function_name: str = "redis-queue-metrics"
    schedule: str = "rate(1 minute)"
    publish: str = "put_metric_data"
    storage_resolution: int = 60
    connect_timeout_seconds: float = 3.0
    read_timeout_seconds: float = 3.0
    discovery: Discovery = Discovery()


class Notify(str, enum.Enum):
    """Who notifies for the tiers an `unhealthy` composite covers."""

    COMPOSITE = "composite"  # only the composite; the covered tiers have no actions of their own
    BOTH = "both"  # the composite and each tier


@dataclass(frozen=True)
class Incidents:
    """The spec's `incidents` section: composite alarms for one page per incident."""

    severities: tuple[Severity, ...] = (Severity.CRITICAL,)
    notify: Notify = Notify.COMPOSITE
    suppress_while_target_down: bool = True
    suppress_wait_seconds: int = DEFAULT_SUPPRESS_WAIT_SECONDS
    suppress_extension_seconds: int = DEFAULT_SUPPRESS_EXTENSION_SECONDS
    runbook: str | None = None  # for the unhealthy composites; None: each one's first tier's


@dataclass(frozen=True)
class Spec:
    path: str
    namespace: str
    name_prefix: str
    tags: Mapping[str, str]
    collector: Collector
    environments: Mapping[str, Environment]
    queues: tuple[Queue, ...]
    patterns: tuple[Pattern, ...]
    target_alarms: tuple[AlarmRule, ...]
    warnings: tuple[Problem, ...] = field(default=(), compare=False)
    streams: tuple[Stream, ...] = ()
    delayed: tuple[DelayedQueue, ...] = ()
    incidents: Incidents | None = None  # None: no composite alarms

    def environment(self, name: str | None) -> Environment:
        """The named environment (or the only one); a clear error listing the choices otherwise."""
        if name is None:  # the first environment in the file
            return next(iter(self.environments.values()))
        try:
            return self.environments[name]
        except KeyError:
            raise UsageError(f"{self.path}: no environment '{name}'; the spec has: {', '.join(self.environments)}") from None


def group_subject(stream_name: str, group: str) -> str:
    """The part of an alarm name that names one consumer group of a stream."""
    return f"{stream_name}-{naming.slug(group)}"
