"""The alarm kinds this project exists for, and the CloudWatch vocabulary they are written in."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from monitor.spec import metrics
from monitor.spec.metrics import Metric, Scope


class Severity(str, enum.Enum):
    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"


class Comparison(str, enum.Enum):
    GT = "GreaterThanThreshold"
    GE = "GreaterThanOrEqualToThreshold"
    LT = "LessThanThreshold"
    LE = "LessThanOrEqualToThreshold"

    @property
    def symbol(self) -> str:
        return {"GreaterThanThreshold": ">", "GreaterThanOrEqualToThreshold": ">=", "LessThanThreshold": "<"}.get(
            self.value, "<="
        )

    @property
    def words(self) -> str:
        return {
            "GreaterThanThreshold": "above",
            "GreaterThanOrEqualToThreshold": "at or above",
            "LessThanThreshold": "below",
            "LessThanOrEqualToThreshold": "at or below",
        }[self.value]

    def breaches(self, value: float, threshold: float) -> bool:
        """Whether `value` is on the alarming side of `threshold`."""
        if self is Comparison.GE:
            return value >= threshold
        if self is Comparison.GT:
            return value > threshold
        if self is Comparison.LT:
            return value < threshold
        return value <= threshold

    @classmethod
    def parse(cls, text: str) -> "Comparison":
        for member in cls:
            if text in (member.value, member.symbol):
                return member
        raise ValueError(text)


COMPARISON_SPELLINGS = tuple(s for c in Comparison for s in (c.symbol, c.value))


class TreatMissingData(str, enum.Enum):
    MISSING = "missing"
    IGNORE = "ignore"
    BREACHING = "breaching"
    NOT_BREACHING = "notBreaching"


def period_words(seconds: int) -> str:
    """A period as an adjective: 'one-minute', '5-minute', 'one-hour', '10-second'."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        if seconds % size == 0:
            count = seconds // size
            return f"{'one' if count == 1 else count}-{unit}"
    raise ValueError(f"not a whole number of seconds: {seconds}")


STATISTICS = ("Maximum", "Minimum", "Average", "Sum", "SampleCount")
PERCENTILE_PATTERN = r"p(\d{1,2}(\.\d{1,2})?|100)"


class AlarmKind(str, enum.Enum):
    QUEUE_DEPTH = "queue_depth"
    PROCESSING_LAG = "processing_lag"
    IN_FLIGHT_DEPTH = "in_flight_depth"
    DEAD_LETTER_DEPTH = "dead_letter_depth"
    DEAD_LETTER_ARRIVALS = "dead_letter_arrivals"
    CONNECTION_FAILURE = "connection_failure"
    COLLECTOR_HEARTBEAT = "collector_heartbeat"
    CONSUMER_GROUP_LAG = "consumer_group_lag"
    STUCK_PENDING = "stuck_pending"
    DELAYED_OVERDUE = "delayed_overdue"
    READ_ERRORS = "read_errors"
    TIME_TO_DRAIN = "time_to_drain"
    DEPTH_ANOMALY = "depth_anomaly"
    AGE_ANOMALY = "age_anomaly"
    PATTERN_QUEUE_COUNT = "pattern_queue_count"
    PATTERN_DEPTH_SUM = "pattern_depth_sum"
    PATTERN_DEPTH_MAX = "pattern_depth_max"
    PATTERN_OLDEST_AGE = "pattern_oldest_age"

    @property
    def info(self) -> "KindInfo":
        return KIND_INFO[self]

    @property
    def slug(self) -> str:
        return self.value.replace("_", "-")


@dataclass(frozen=True)
class KindInfo:
    metric: Metric
    comparison: Comparison
    statistic: str
    treat_missing_data: TreatMissingData
    meaning: str  # what a breach means, for descriptions
    needs: str | None = None  # the queue field the kind needs (processing / dead_letter / groups), if any
    summed: tuple[Metric, ...] = ()  # further metrics of the same subject added to `metric` (metric math)
    unit: str = ""  # what the threshold counts, when it is not the metric's own unit (time_to_drain, anomaly bands)

    @property
    def scope(self) -> Scope:
        return self.metric.scope


# Why these defaults: queue signals treat missing data as not breaching because a stopped
# collector is caught once, by the heartbeat alarm (missing = breaching), instead of turning
# every queue alarm to INSUFFICIENT_DATA at the same moment.
KIND_INFO: dict[AlarmKind, KindInfo] = {
    AlarmKind.QUEUE_DEPTH: KindInfo(
        metrics.QUEUE_DEPTH,
        Comparison.GT,
        "Maximum",
        TreatMissingData.NOT_BREACHING,
        "messages are piling up faster than consumers take them",
    ),
    AlarmKind.PROCESSING_LAG: KindInfo(
        metrics.OLDEST_MESSAGE_AGE,
        Comparison.GT,
        "Maximum",
        TreatMissingData.NOT_BREACHING,
        "the oldest waiting message is not being consumed (consumers stalled or too slow)",
    ),
    AlarmKind.IN_FLIGHT_DEPTH: KindInfo(
        metrics.IN_FLIGHT_DEPTH,
        Comparison.GT,
        "Minimum",
        TreatMissingData.NOT_BREACHING,
        "messages stay in the processing list (workers crashed or hung mid-job)",
        needs="processing",
    ),
    AlarmKind.DEAD_LETTER_DEPTH: KindInfo(
        metrics.DEAD_LETTER_DEPTH,
        Comparison.GE,
        "Maximum",
        TreatMissingData.NOT_BREACHING,
        "failed messages are waiting in the dead-letter list",
        needs="dead_letter",
    ),
    AlarmKind.DEAD_LETTER_ARRIVALS: KindInfo(
        metrics.DEAD_LETTER_DEPTH,
        Comparison.GE,
        "Maximum",
        TreatMissingData.NOT_BREACHING,
        "new messages arrived in the dead-letter list (jobs are failing)",
        needs="dead_letter",
    ),
    AlarmKind.CONNECTION_FAILURE: KindInfo(
        metrics.CONNECTION_FAILURE,
        Comparison.GE,
        "Maximum",
        TreatMissingData.NOT_BREACHING,
        "the collector cannot connect to, authenticate with or read from Redis",
    ),
    AlarmKind.COLLECTOR_HEARTBEAT: KindInfo(
        metrics.COLLECTOR_HEARTBEAT,
        Comparison.LT,
        "Sum",
        TreatMissingData.BREACHING,
        "the collector has stopped running, so every queue alarm is blind",
    ),
    # Streams: one alarm per listed consumer group and tier.
    AlarmKind.CONSUMER_GROUP_LAG: KindInfo(
        metrics.CONSUMER_GROUP_LAG,
        Comparison.GT,
        "Maximum",
        TreatMissingData.NOT_BREACHING,
        "entries are added to the stream faster than this consumer group reads them (its consumers stopped or are too slow)",
        needs="groups",
    ),
    AlarmKind.STUCK_PENDING: KindInfo(
        metrics.OLDEST_PENDING_IDLE,
        Comparison.GT,
        "Maximum",
        TreatMissingData.NOT_BREACHING,
        "an entry delivered to a consumer of this group has not been acknowledged for a long time (the consumer crashed or hangs mid-job, and nothing claims its entries)",
        needs="groups",
    ),
    # Minimum: a job that fell due a moment before the sample is normal; one still overdue at
    # every sample of the period means the scheduler stopped moving due jobs.
    AlarmKind.DELAYED_OVERDUE: KindInfo(
        metrics.DELAYED_OVERDUE,
        Comparison.GT,
        "Minimum",
        TreatMissingData.NOT_BREACHING,
        "jobs past their due time are still in the delayed set (the scheduler that moves due jobs to the work queue is stuck)",
    ),
    # Warning, not paging: the queue's other alarms are blind while this one breaches, which a
    # person should fix in working hours; a broken Redis pages through connection_failure.
    AlarmKind.READ_ERRORS: KindInfo(
        metrics.QUEUE_READ_ERRORS,
        Comparison.GE,
        "Maximum",
        TreatMissingData.NOT_BREACHING,
        "the collector cannot read this queue's oldest message (not JSON, no timestamp) or one of its keys (wrong type), so its other alarms are blind",
        summed=(metrics.MESSAGE_PARSE_ERRORS,),
    ),
    # Metric math over QueueDepth (monitor.cloudwatch.alarms.drain_expression): the estimated seconds
    # until the queue is empty at the current drain rate, capped at MAX_DRAIN_ESTIMATE_SECONDS.
    AlarmKind.TIME_TO_DRAIN: KindInfo(
        metrics.QUEUE_DEPTH,
        Comparison.GT,
        "Maximum",
        TreatMissingData.NOT_BREACHING,
        "at the rate the queue is shrinking it will not be empty in time (consumers too slow, stalled, or the queue is growing)",
        unit="seconds until empty",
    ),
    # Anomaly bands (opt-in): the threshold is the band's width in standard deviations.
    AlarmKind.DEPTH_ANOMALY: KindInfo(
        metrics.QUEUE_DEPTH,
        Comparison.GT,
        "Average",
        TreatMissingData.NOT_BREACHING,
        "the depth is above the band CloudWatch learned from its own history (an unusual backlog for this time of day or week)",
        unit="standard deviations",
    ),
    AlarmKind.AGE_ANOMALY: KindInfo(
        metrics.OLDEST_MESSAGE_AGE,
        Comparison.GT,
        "Average",
        TreatMissingData.NOT_BREACHING,
        "the oldest message is older than the band CloudWatch learned from its own history (consumers slower than usual)",
        unit="standard deviations",
    ),
    # Patterns: the aggregates over every queue the pattern matched, one alarm per pattern and tier.
    AlarmKind.PATTERN_QUEUE_COUNT: KindInfo(
        metrics.PATTERN_QUEUE_COUNT,
        Comparison.GT,
        "Maximum",
        TreatMissingData.NOT_BREACHING,
        "the pattern matches more queues than expected (runaway tenants, or keys that are not queues)",
    ),
    AlarmKind.PATTERN_DEPTH_SUM: KindInfo(
        metrics.PATTERN_DEPTH_SUM,
        Comparison.GT,
        "Maximum",
        TreatMissingData.NOT_BREACHING,
        "messages are piling up across the pattern's queues (shared consumers too slow)",
    ),
    AlarmKind.PATTERN_DEPTH_MAX: KindInfo(
        metrics.PATTERN_DEPTH_MAX,
        Comparison.GT,
        "Maximum",
        TreatMissingData.NOT_BREACHING,
        "the deepest of the pattern's queues is piling up (one tenant's consumers stalled or too slow)",
    ),
    AlarmKind.PATTERN_OLDEST_AGE: KindInfo(
        metrics.PATTERN_OLDEST_AGE_MAX,
        Comparison.GT,
        "Maximum",
        TreatMissingData.NOT_BREACHING,
        "the oldest message in any of the pattern's queues is not being consumed",
    ),
}

# time_to_drain: the estimate never exceeds this (a stalled or growing queue, or a rate so slow
# it would take longer); a day reads as "will not drain" for on-call, and no threshold needs more.
MAX_DRAIN_ESTIMATE_SECONDS = 86400
ANOMALY_KINDS = (AlarmKind.DEPTH_ANOMALY, AlarmKind.AGE_ANOMALY)
# PutMetricAlarm's operator for an anomaly band: only values above the band breach (a queue
# unusually empty or young is good news).
ANOMALY_COMPARISON = "GreaterThanUpperThreshold"

QUEUE_KINDS = tuple(k for k in AlarmKind if k.info.scope is Scope.QUEUE)
TARGET_KINDS = tuple(k for k in AlarmKind if k.info.scope is Scope.TARGET)
STREAM_KINDS = tuple(k for k in AlarmKind if k.info.scope is Scope.GROUP)
DELAYED_KINDS = tuple(k for k in AlarmKind if k.info.scope is Scope.DELAYED)
PATTERN_KINDS = tuple(k for k in AlarmKind if k.info.scope is Scope.PATTERN)


class CompositeKind(str, enum.Enum):
    """The composite alarms the spec's `incidents` section asks for (one page per incident)."""

    UNHEALTHY = "unhealthy"  # one per queue (stream group, delayed set, pattern): ALARM while any covered tier is
    TARGET_DOWN = "target_down"  # one per Redis target: ALARM while its connection or heartbeat alarm is

    @property
    def slug(self) -> str:
        return self.value.replace("_", "-")
