"""What the spec costs in CloudWatch per month, from public list prices (pure)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Sequence

from monitor.cloudwatch.alarms import Alarm, metric_alarms
from monitor.spec import metrics
from monitor.spec.declaration import HIGH_RESOLUTION_PERIODS
from monitor.spec.metrics import Scope
from monitor.spec.model import Environment, Spec
from monitor.spec.sources import TimeKind

# CloudWatch list prices, us-east-1, from https://aws.amazon.com/cloudwatch/pricing/ as given to
# this project in 2025 (not re-checked online since): change them here, with the date.
PRICES_AS_OF = "2025"
PRICE_REGION = "us-east-1"
STANDARD_ALARM_METRIC_MONTH = 0.10  # per alarm metric (a metric-math alarm pays per metric in it)
HIGH_RESOLUTION_ALARM_METRIC_MONTH = 0.30
COMPOSITE_ALARM_MONTH = 0.50  # per composite alarm
ANOMALY_BAND_METRICS = 3  # an anomaly detection alarm is billed as 3 alarm metrics (the metric and its band's two bounds)
CUSTOM_METRIC_MONTH = 0.30  # per metric, first 10,000 metrics
DASHBOARD_MONTH = 3.00  # per dashboard beyond the free ones
FREE_DASHBOARDS = 3  # per account, not per spec: so the dashboard may cost nothing
PUT_METRIC_DATA_PER_1000 = 0.01  # per 1,000 requests
METRICS_PER_PUT = 1000  # PutMetricData: up to 1000 MetricData entries per request
HOURS_PER_MONTH = 730  # the month AWS pricing uses


@dataclass(frozen=True)
class Estimate:
    alarms: int
    standard_alarm_metrics: int
    high_resolution_alarm_metrics: int
    custom_metrics: int
    put_requests_per_month: int | None  # None: EMF, or a cron schedule we do not expand
    publish: str
    composite_alarms: int = 0

    @property
    def alarms_usd(self) -> float:
        return (
            self.standard_alarm_metrics * STANDARD_ALARM_METRIC_MONTH
            + self.high_resolution_alarm_metrics * HIGH_RESOLUTION_ALARM_METRIC_MONTH
            + self.composite_alarms * COMPOSITE_ALARM_MONTH
        )

    @property
    def metrics_usd(self) -> float:
        return self.custom_metrics * CUSTOM_METRIC_MONTH

    @property
    def requests_usd(self) -> float:
        return (self.put_requests_per_month or 0) / 1000 * PUT_METRIC_DATA_PER_1000

    @property
    def monthly_usd(self) -> float:
        """Without the dashboard, which is free for the first FREE_DASHBOARDS of the account."""
        return self.alarms_usd + self.metrics_usd + self.requests_usd

    def line(self) -> str:
        if self.put_requests_per_month is not None:
            requests = f"{self.put_requests_per_month:,} PutMetricData requests ${self.requests_usd:.2f}"
        elif self.publish == "emf":
            requests = "EMF publishing: no PutMetricData requests (billed as log ingestion, not estimated)"
        else:
            requests = "PutMetricData requests not estimated (cron schedule)"
        return (
            f"Cost ({PRICE_REGION} list prices of {PRICES_AS_OF}): {self.alarms} alarms = "
            f"{self.standard_alarm_metrics} standard + {self.high_resolution_alarm_metrics} high-resolution alarm metrics"
            f"{f' + {self.composite_alarms} composite alarms' if self.composite_alarms else ''} ${self.alarms_usd:.2f}; "
            f"{self.custom_metrics} custom metrics ${self.metrics_usd:.2f}; {requests}; "
            f"about ${self.monthly_usd:.2f}/month, plus ${DASHBOARD_MONTH:.2f} for the dashboard beyond the account's {FREE_DASHBOARDS} free."
        )


def alarm_metrics(alarm: Alarm) -> list[int]:
    """The period of each metric an alarm pays for: one, each MetricStat of a metric-math alarm, three for a band."""
    if "Metrics" in alarm:
        banded = "ThresholdMetricId" in alarm
        return [q["MetricStat"]["Period"] for q in alarm["Metrics"] if "MetricStat" in q for _ in range(ANOMALY_BAND_METRICS if banded else 1)]
    return [alarm["Period"]]


def queue_metric_count(processing: bool, dead_letter: bool) -> int:
    skip = set()
    if not processing:
        skip.add(metrics.IN_FLIGHT_DEPTH.name)
    if not dead_letter:
        skip.add(metrics.DEAD_LETTER_DEPTH.name)
    return sum(1 for m in metrics.ALL_METRICS if m.scope is Scope.QUEUE and m.name not in skip)


def preset_extra_metrics(queue) -> int:
    """Metrics a preset queue publishes beyond a list queue's: its delayed counts; minus the age where jobs carry no time."""
    parts = queue.source.parts()
    extra = 0
    if parts.delayed:
        extra += 1 + all(s.overdue_bounds(0.0) is not None for s in parts.delayed)
    if parts.time.kind is TimeKind.NONE:
        extra -= 1  # no OldestMessageAgeSeconds
    return extra


def typed_metric_count(spec: Spec, mine=lambda item: True) -> int:
    """Metrics of streams (per listed group; unlisted groups are unknown until a run) and delayed sets, QueueReadErrors included."""
    def per(scope: Scope) -> int:
        return sum(1 for m in metrics.ALL_METRICS if m.scope is scope)

    streams = sum(per(Scope.STREAM) + 1 + per(Scope.GROUP) * len(s.groups) for s in spec.streams if mine(s))
    return streams + (per(Scope.DELAYED) + 1) * sum(1 for d in spec.delayed if mine(d))


def target_metric_counts(spec: Spec, env: Environment | None = None) -> dict[str, int]:
    """Metrics each target's collector publishes: per queue, per matched key up to max_keys, per pattern, per target."""
    targets = env.targets if env is not None else ()
    counts: dict[str, int] = {}
    for target in targets or (None,):
        name = target.name if target else None

        def mine(item) -> bool:
            return target is None or env.target_name(item.target) == name

        patterns = [p for p in spec.patterns if mine(p)]
        count = sum(queue_metric_count(bool(q.processing), bool(q.dead_letter)) + preset_extra_metrics(q) for q in spec.queues if mine(q))
        count += sum(p.max_keys * queue_metric_count(bool(p.processing), bool(p.dead_letter)) for p in patterns)
        count += len(patterns) * sum(1 for m in metrics.ALL_METRICS if m.scope is Scope.PATTERN)
        skip = set() if patterns else {metrics.DISCOVERED_QUEUES}
        if not (target and target.cluster):
            skip.add(metrics.CLUSTER_NODE_FAILURES)
        count += sum(1 for m in metrics.ALL_METRICS if m.scope is Scope.TARGET and m not in skip)
        count += typed_metric_count(spec, mine)
        counts[name or ""] = count
    return counts


def custom_metric_count(spec: Spec, env: Environment | None = None) -> int:
    """Metrics one environment's collectors publish (without env: as if it had one plain target)."""
    return sum(target_metric_counts(spec, env).values())


def runs_per_month(schedule: str) -> int | None:
    match = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours)\)", schedule)
    if not match:
        return None
    every = int(match.group(1))
    minutes = every * (60 if match.group(2).startswith("hour") else 1)
    return HOURS_PER_MONTH * 60 // minutes


def estimate(spec: Spec, alarms: Sequence[Alarm], env: Environment | None = None) -> Estimate:
    """The monthly cost of one environment: its alarms, the metrics its collectors publish, their requests."""
    periods = [p for a in metric_alarms(alarms) for p in alarm_metrics(a)]
    high = sum(1 for p in periods if p in HIGH_RESOLUTION_PERIODS)
    per_target = target_metric_counts(spec, env)
    custom = sum(per_target.values())
    runs = runs_per_month(spec.collector.schedule)
    requests = None
    if spec.collector.publish == "put_metric_data" and runs is not None:
        # Each target's collector publishes on its own (one Lambda per target, or one run per target).
        requests = sum(math.ceil(count / METRICS_PER_PUT) for count in per_target.values()) * runs
    composites = len(alarms) - len(metric_alarms(alarms))
    return Estimate(len(alarms), len(periods) - high, high, custom, requests, spec.collector.publish, composites)
