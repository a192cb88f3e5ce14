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
}

QUEUE_KINDS = tuple(k for k in AlarmKind if k.info.scope is Scope.QUEUE)
TARGET_KINDS = tuple(k for k in AlarmKind if k.info.scope is Scope.TARGET)
STREAM_KINDS = tuple(k for k in AlarmKind if k.info.scope is Scope.GROUP)
DELAYED_KINDS = tuple(k for k in AlarmKind if k.info.scope is Scope.DELAYED)
