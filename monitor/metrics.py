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
PATTERN = "Pattern"


class Unit(str, enum.Enum):
    COUNT = "Count"
    SECONDS = "Seconds"
    MILLISECONDS = "Milliseconds"
    NONE = "None"


class Scope(str, enum.Enum):
    QUEUE = "queue"  # dimensions: Environment, Queue
    TARGET = "target"  # dimensions: Environment, RedisTarget
    PATTERN = "pattern"  # dimensions: Environment, Pattern (the glob): aggregates over its keys


@dataclass(frozen=True)
class Metric:
    name: str
    unit: Unit
    scope: Scope
    description: str

    def dimensions(self, environment: str, subject: str) -> list[dict[str, str]]:
        """CloudWatch dimensions of this metric for a queue key or a Redis target name."""
        second = {Scope.QUEUE: QUEUE, Scope.TARGET: TARGET, Scope.PATTERN: PATTERN}[self.scope]
        return [{"Name": ENVIRONMENT, "Value": environment}, {"Name": second, "Value": subject}]


QUEUE_DEPTH = Metric("QueueDepth", Unit.COUNT, Scope.QUEUE, "Messages waiting in the queue (LLEN).")
IN_FLIGHT_DEPTH = Metric(
    "InFlightDepth", Unit.COUNT, Scope.QUEUE, "Messages taken by a consumer and not yet finished (LLEN of the processing list)."
)
DEAD_LETTER_DEPTH = Metric("DeadLetterDepth", Unit.COUNT, Scope.QUEUE, "Messages in the dead-letter list (LLEN).")
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
    "1 when the oldest message could not be read (not JSON, no timestamp field, unparseable time); its age is then not published.",
)
QUEUE_READ_ERRORS = Metric(
    "QueueReadErrors",
    Unit.COUNT,
    Scope.QUEUE,
    "Keys of this queue that exist with the wrong type (not a list) or could not be read.",
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
    "CollectionDuration", Unit.MILLISECONDS, Scope.TARGET, "Wall time of one collector run."
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
    CLUSTER_NODE_FAILURES,
    PATTERN_QUEUE_COUNT,
    PATTERN_DEPTH_SUM,
    PATTERN_DEPTH_MAX,
    PATTERN_OLDEST_AGE_MAX,
)
BY_NAME = {m.name: m for m in ALL_METRICS}
