"""The metrics the collector publishes: names, units and dimensions, in one place.

The collector, the alarms, the dashboard and the status command all take their names from here,
so an alarm can never watch a metric under a name or dimension set that nobody publishes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

# Dimension names.
ENVIRONMENT = "Environment"
QUEUE = "Queue"
TARGET = "RedisTarget"
CONSUMER_GROUP = "ConsumerGroup"
PATTERN = "Pattern"


class Unit(str, enum.Enum):
    COUNT = "Count"
    SECONDS = "Seconds"
    MILLISECONDS = "Milliseconds"
    NONE = "None"


class Scope(str, enum.Enum):
    QUEUE = "queue"  # dimensions: Environment, Queue
    TARGET = "target"  # dimensions: Environment, RedisTarget
    STREAM = "stream"  # dimensions: Environment, Queue (the stream's key)
    GROUP = "group"  # dimensions: Environment, Queue (the stream's key), ConsumerGroup
    DELAYED = "delayed"  # dimensions: Environment, Queue (the sorted set's key)
    PATTERN = "pattern"  # dimensions: Environment, Pattern (the glob): aggregates over its keys


@dataclass(frozen=True)
class Metric:
    name: str
    unit: Unit
    scope: Scope
    description: str
    # Published only when not 0: an error counter that is 0 in almost every run (at 10,000 queues,
    # 10,000 datums a run each). Allowed only for a metric whose alarms see "missing" as "not
    # breaching" and that metric math FILLs with 0 (tests/test_publish.py checks every alarm kind and
    # the shipped alarms); ListMetrics may then rightly not list it
    # (monitor.cloudwatch.plan.silent_alarm_warnings knows). A queue that was read still always
    # publishes something: its depth, or (a key of the wrong type) a QueueReadErrors count above 0.
    omit_zero: bool = False

    def dimensions(self, environment: str, subject: str, group: str | None = None) -> list[dict[str, str]]:
        """CloudWatch dimensions for a queue key, Redis target or pattern (and a consumer group)."""
        second = {Scope.TARGET: TARGET, Scope.PATTERN: PATTERN}.get(self.scope, QUEUE)
        dims = [{"Name": ENVIRONMENT, "Value": environment}, {"Name": second, "Value": subject}]
        if (group is not None) != (self.scope is Scope.GROUP):
            raise ValueError(f"{self.name}: a consumer group is {'required' if self.scope is Scope.GROUP else 'not a dimension'}")
        if group is not None:
            dims.append({"Name": CONSUMER_GROUP, "Value": group})
        return dims


QUEUE_DEPTH = Metric("QueueDepth", Unit.COUNT, Scope.QUEUE, "Messages waiting in the queue (LLEN; a framework preset sums its waiting keys).")
IN_FLIGHT_DEPTH = Metric(
    "InFlightDepth", Unit.COUNT, Scope.QUEUE, "Messages taken by a consumer and not yet finished (LLEN of the processing list, or a preset's in-flight keys)."
)
DEAD_LETTER_DEPTH = Metric("DeadLetterDepth", Unit.COUNT, Scope.QUEUE, "Messages in the dead-letter list (LLEN), or a preset's failed/dead set.")
OLDEST_MESSAGE_AGE = Metric(
    "OldestMessageAgeSeconds",
    Unit.SECONDS,
    Scope.QUEUE,
    "Age of the oldest waiting message, from its enqueue timestamp; 0 when the queue is empty.",
)
MESSAGE_PARSE_ERRORS = Metric(
    "MessageParseErrors",
    Unit.COUNT,
    Scope.QUEUE,
    "1 when the oldest message could not be read (not JSON, no timestamp field, unparseable time); its age is then not published. Published only when 1.",
    omit_zero=True,
)
QUEUE_READ_ERRORS = Metric(
    "QueueReadErrors",
    Unit.COUNT,
    Scope.QUEUE,
    "Keys of this queue that exist with the wrong type (not a list, stream or sorted set as declared) or could not be read; for a stream, also its listed consumer groups that do not exist. Published only when not 0.",
    omit_zero=True,
)
CONNECTION_FAILURE = Metric(
    "ConnectionFailure",
    Unit.COUNT,
    Scope.TARGET,
    "1 when the collector could not connect to, authenticate with or read from Redis in this run; else 0.",
)
COLLECTOR_HEARTBEAT = Metric(
    "CollectorHeartbeat", Unit.COUNT, Scope.TARGET, "1 for every collector run, whatever its outcome."
)
DISCOVERED_QUEUES = Metric(
    "DiscoveredQueues", Unit.COUNT, Scope.TARGET, "Queue keys that the spec's patterns matched in this run."
)
COLLECTION_DURATION = Metric(
    "CollectionDuration", Unit.MILLISECONDS, Scope.TARGET, "Time one run spent reading Redis (connect, discovery, reads; its PutMetricData requests are written meanwhile), before sending them."
)
STREAM_LENGTH = Metric("StreamLength", Unit.COUNT, Scope.STREAM, "Entries in the stream (XLEN); 0 when the key does not exist.")
CONSUMER_GROUP_LAG = Metric(
    "ConsumerGroupLag",
    Unit.COUNT,
    Scope.GROUP,
    "Entries not yet delivered to the consumer group (XINFO GROUPS lag, Redis 7+); absent when Redis cannot compute it.",
)
CONSUMER_GROUP_PENDING = Metric(
    "ConsumerGroupPending", Unit.COUNT, Scope.GROUP, "Entries delivered to the group's consumers and not yet acknowledged (XINFO GROUPS pending)."
)
OLDEST_PENDING_IDLE = Metric(
    "OldestPendingIdleSeconds",
    Unit.SECONDS,
    Scope.GROUP,
    "Idle time of the group's oldest pending entry (XPENDING ... - + 1); 0 when nothing is pending.",
)
DELAYED_TOTAL = Metric("DelayedTotal", Unit.COUNT, Scope.DELAYED, "Jobs in the delayed sorted set (ZCARD), due or not.")
DELAYED_OVERDUE = Metric(
    "DelayedOverdue", Unit.COUNT, Scope.DELAYED, "Jobs whose due time (score) has passed by more than the grace (ZCOUNT key -inf cutoff)."
)
CLUSTER_NODE_FAILURES = Metric(
    "ClusterNodeFailures",
    Unit.COUNT,
    Scope.TARGET,
    "Cluster targets only: primaries that could not be read in this run (their queues are not published; ConnectionFailure is 1).",
)
PATTERN_QUEUE_COUNT = Metric(
    "PatternQueueCount", Unit.COUNT, Scope.PATTERN, "List keys the pattern matched in this run (all of them, not only those with metrics of their own)."
)
PATTERN_DEPTH_SUM = Metric("PatternDepthSum", Unit.COUNT, Scope.PATTERN, "Messages waiting in all the queues the pattern matched.")
PATTERN_DEPTH_MAX = Metric("PatternDepthMax", Unit.COUNT, Scope.PATTERN, "The deepest matched queue's depth.")
PATTERN_OLDEST_AGE_MAX = Metric(
    "PatternOldestAgeMaxSeconds", Unit.SECONDS, Scope.PATTERN, "The oldest waiting message's age over all matched queues; 0 when all are empty."
)

ALL_METRICS: tuple[Metric, ...] = (
    QUEUE_DEPTH,
    IN_FLIGHT_DEPTH,
    DEAD_LETTER_DEPTH,
    OLDEST_MESSAGE_AGE,
    MESSAGE_PARSE_ERRORS,
    QUEUE_READ_ERRORS,
    CONNECTION_FAILURE,
    COLLECTOR_HEARTBEAT,
    DISCOVERED_QUEUES,
    COLLECTION_DURATION,
    STREAM_LENGTH,
    CONSUMER_GROUP_LAG,
    CONSUMER_GROUP_PENDING,
    OLDEST_PENDING_IDLE,
    DELAYED_TOTAL,
    DELAYED_OVERDUE,
    CLUSTER_NODE_FAILURES,
    PATTERN_QUEUE_COUNT,
    PATTERN_DEPTH_SUM,
    PATTERN_DEPTH_MAX,
    PATTERN_OLDEST_AGE_MAX,
)
BY_NAME = {m.name: m for m in ALL_METRICS}
