"""Render the spec into CloudWatch alarm definitions: the exact PutMetricAlarm parameters (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from monitor.spec import metrics, naming, runbooks
from monitor.spec.declaration import MAX_DESCRIPTION
from monitor.spec.kinds import PERCENTILE_PATTERN, AlarmKind, period_words
from monitor.spec.metrics import Metric
from monitor.spec.model import AlarmRule, Environment, Queue, Spec, group_subject
from monitor.spec.sources import QueuePart
from monitor.spec.windows import DEFAULT_TIMEZONE, WindowKind

Alarm = dict[str, Any]  # PutMetricAlarm keyword arguments, Tags included

# Ids inside a metric-math alarm.
DLQ_DEPTH_ID = "dlq_depth"
DLQ_ARRIVALS_ID = "arrivals"
MATH_ID = "result"

# The metric each part of a queue counts (queue_depth tiers with `parts`).
PART_METRICS = {QueuePart.WAITING: metrics.QUEUE_DEPTH, QueuePart.IN_FLIGHT: metrics.IN_FLIGHT_DEPTH, QueuePart.RETRY: metrics.DELAYED_TOTAL}


def _query_id(metric_name: str) -> str:
    """A metric-math query id from a metric name: QueueReadErrors -> queue_read_errors."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", metric_name).lower()


@dataclass(frozen=True)
class Term:
    """One metric a metric-math alarm reads: its query id, metric, Queue dimension and statistic."""

    id: str
    metric: Metric
    key: str
    statistic: str


@dataclass(frozen=True)
class MathQuery:
    terms: tuple[Term, ...]
    expression: str
    label: str


# Idle-only in-flight alarms: the in-flight count of a period in which nothing waited, else 0.
IDLE_IN_FLIGHT = "IF(FILL(waiting, 0) == 0, in_flight, 0)"


def math_query(rule: AlarmRule, key: str, queue: Queue | None = None) -> MathQuery | None:
    """The metric math of a rule that reads several metrics of one queue; None for a plain one-metric alarm."""
    if rule.parts:
        keys = {QueuePart.WAITING: key, QueuePart.IN_FLIGHT: key, QueuePart.RETRY: queue.retry if queue else None}
        terms = [Term(p.value, PART_METRICS[p], keys[p], rule.statistic) for p in rule.parts]
    elif rule.kind.info.summed:
        terms = [Term(_query_id(m.name), m, key, rule.statistic) for m in (rule.kind.info.metric, *rule.kind.info.summed)]
    elif rule.only_when_idle:
        # Maximum QueueDepth 0: nothing waited at any sample of the period, so a consumer that
        # still holds a message then is not busy with a backlog: it crashed or hangs.
        terms = [Term("in_flight", metrics.IN_FLIGHT_DEPTH, key, rule.statistic), Term("waiting", metrics.QUEUE_DEPTH, key, "Maximum")]
        return MathQuery(tuple(terms), IDLE_IN_FLIGHT, "InFlightDepth while nothing waits")
    else:
        return None
    # A sum. The first term keeps its gaps (no data at all stays missing data); the others count
    # 0 when absent, e.g. a retry set nobody has used yet.
    expression = " + ".join([terms[0].id] + [f"FILL({t.id}, 0)" for t in terms[1:]])
    return MathQuery(tuple(terms), expression, " + ".join(t.metric.name for t in terms))


def _is_percentile(statistic: str) -> bool:
    return re.fullmatch(PERCENTILE_PATTERN, statistic) is not None


def condition_words(rule: AlarmRule) -> str:
    """e.g. 'the maximum QueueDepth is above 1000 in 3 of 5 one-minute periods'."""
    metric = rule.kind.info.metric.name
    if rule.kind is AlarmKind.DEAD_LETTER_ARRIVALS:
        what = f"the growth of {metric} from one period to the next"
    elif rule.only_when_idle:
        what = f"the {rule.statistic.lower()} {metric} of periods in which the maximum QueueDepth is 0 (else 0)"
    elif rule.parts or rule.kind.info.summed:
        names = [PART_METRICS[p].name + (" (retry set)" if p is QueuePart.RETRY else "") for p in rule.parts] or [
            m.name for m in (rule.kind.info.metric, *rule.kind.info.summed)
        ]
        what = f"the sum {' + '.join(names)} (each the {rule.statistic.lower()} of its period)"
    else:
        what = f"the {rule.statistic.lower() if not _is_percentile(rule.statistic) else rule.statistic} {metric}"
    periods = (
        f"{rule.datapoints_to_alarm} of {rule.evaluation_periods} {period_words(rule.period)} periods"
        if rule.evaluation_periods > 1
        else f"a {period_words(rule.period)} period"
    )
    return f"{what} is {rule.comparison.words} {rule.threshold:g} in {periods}"


def evaluation_window(rule: AlarmRule) -> dict | None:
    """PutMetricAlarm's EvaluationWindow for the rule, or None for the default sliding window.

    The default is left out rather than sent as {"SlidingWindow": {}}: both mean the same to
    CloudWatch, and alarms made before the field existed stay unchanged to plan.
    """
    if rule.evaluation_window is WindowKind.SLIDING:
        return None
    return {"WallClockWindow": {"Timezone": rule.timezone} if rule.timezone else {}}


def _description(spec: Spec, env: Environment, subject: str, rule: AlarmRule) -> str:
    window = ""
    if rule.evaluation_window is WindowKind.WALL_CLOCK:
        window = f" (wall-clock periods, {rule.timezone or DEFAULT_TIMEZONE})"
    parts = [
        f"[{rule.severity.value.upper()}] {subject} ({env.name}): {rule.kind.value.replace('_', ' ')}.",
        f"Fires when {condition_words(rule)}{window}; missing data: {rule.treat_missing_data.value}.",
        f"Means: {rule.kind.info.meaning}.",
    ]
    if rule.description:
        parts.append(rule.description)
    if rule.runbook:
        parts.append(f"Runbook: {runbooks.describe(rule.runbook)}")
    # The spec's identity (the ownership tag's value), never its file name or path: a renamed or
    # moved spec must render identical alarms, or every alarm would look changed to plan.
    parts.append(f"Managed by {naming.TOOL} as {naming.spec_identity(spec.name_prefix, env.name)}; do not edit by hand.")
    text = " ".join(parts)
    if len(text) > MAX_DESCRIPTION and rule.runbook:
        # Never cut the runbook link: shorten the prose before it instead.
        tail = f" Runbook: {runbooks.describe(rule.runbook)}"
        text = text[: MAX_DESCRIPTION - len(tail) - 3] + "..." + tail
    return text[:MAX_DESCRIPTION]


def _tags(spec: Spec, env: Environment, rule: AlarmRule) -> list[dict[str, str]]:
    tags = {
        **spec.tags,
        naming.TAG_MANAGED_BY: naming.TOOL,
        naming.TAG_SPEC: naming.spec_identity(spec.name_prefix, env.name),
        naming.TAG_KIND: rule.kind.value,
        naming.TAG_SEVERITY: rule.severity.value,
    }
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def _alarm(spec: Spec, env: Environment, subject: str, dimension_value: str, rule: AlarmRule, group: str | None = None, queue: Queue | None = None) -> Alarm:
    actions = env.actions(rule.severity)
    metric = rule.kind.info.metric
    dimensions = metric.dimensions(env.name, dimension_value, group)
    alarm: Alarm = {
        "AlarmName": naming.alarm_name(spec.name_prefix, env.name, subject, rule.kind, rule.tier),
        "AlarmDescription": _description(spec, env, dimension_value if group is None else f"{dimension_value} group {group}", rule),
        "ActionsEnabled": True,
        "AlarmActions": list(actions.alarm),
        "OKActions": list(actions.ok),
        "InsufficientDataActions": list(actions.insufficient_data),
    }
    if rule.kind is AlarmKind.DEAD_LETTER_ARRIVALS:
        # Growth between consecutive samples: a DLQ that already holds messages (and keeps the
        # depth alarm in ALARM) still pages when new ones arrive; so does one drained and refilled.
        alarm["Metrics"] = [
            {
                "Id": DLQ_DEPTH_ID,
                "MetricStat": {
                    "Metric": {"Namespace": spec.namespace, "MetricName": metric.name, "Dimensions": dimensions},
                    "Period": rule.period,
                    "Stat": rule.statistic,
                },
                "ReturnData": False,
            },
            {"Id": DLQ_ARRIVALS_ID, "Expression": f"DIFF({DLQ_DEPTH_ID})", "Label": "Dead letters arrived", "ReturnData": True},
        ]
    elif (query := math_query(rule, dimension_value, queue)) is not None:
        alarm["Metrics"] = [
            {
                "Id": term.id,
                "MetricStat": {
                    "Metric": {"Namespace": spec.namespace, "MetricName": term.metric.name, "Dimensions": term.metric.dimensions(env.name, term.key)},
                    "Period": rule.period,
                    "Stat": term.statistic,
                },
                "ReturnData": False,
            }
            for term in query.terms
        ]
        alarm["Metrics"].append({"Id": MATH_ID, "Expression": query.expression, "Label": query.label, "ReturnData": True})
    else:
        alarm.update({"Namespace": spec.namespace, "MetricName": metric.name, "Dimensions": dimensions, "Period": rule.period})
        alarm["ExtendedStatistic" if _is_percentile(rule.statistic) else "Statistic"] = rule.statistic
    alarm.update(
        {
            "EvaluationPeriods": rule.evaluation_periods,
            "DatapointsToAlarm": rule.datapoints_to_alarm,
            "Threshold": rule.threshold,
            "ComparisonOperator": rule.comparison.value,
            "TreatMissingData": rule.treat_missing_data.value,
            "Tags": _tags(spec, env, rule),
        }
    )
    window = evaluation_window(rule)
    if window is not None:
        alarm["EvaluationWindow"] = window
    return alarm


def render_alarms(spec: Spec, env: Environment) -> list[Alarm]:
    """Every alarm the spec wants in this environment, sorted by name."""
    alarms = [_alarm(spec, env, queue.name, queue.key, rule, queue=queue) for queue in spec.queues for rule in queue.alarms]
    # A stream's alarms watch each listed consumer group; unlisted groups are measured, not alarmed.
    alarms += [
        _alarm(spec, env, group_subject(stream.name, group), stream.key, rule, group)
        for stream in spec.streams
        for group in stream.groups
        for rule in stream.alarms
    ]
    alarms += [_alarm(spec, env, item.name, item.key, rule) for item in spec.delayed for rule in item.alarms]
    alarms += [_alarm(spec, env, naming.target_subject(t.name), t.name, rule) for t in env.targets for rule in spec.target_alarms]
    return sorted(alarms, key=lambda a: a["AlarmName"])


def watched_metrics(alarm: Alarm) -> list[tuple[str, str, tuple[tuple[str, str], ...]]]:
    """(namespace, metric name, dimensions) of every metric an alarm reads, for either alarm shape."""
    found = [m["MetricStat"]["Metric"] for m in alarm["Metrics"] if "MetricStat" in m] if "Metrics" in alarm else [alarm]
    return [(m["Namespace"], m["MetricName"], tuple(sorted((d["Name"], d["Value"]) for d in m["Dimensions"]))) for m in found]


def alarm_metric(alarm: Alarm) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    """(namespace, metric name, dimensions) that an alarm watches, for either alarm shape."""
    if "Metrics" in alarm:
        metric = next(m["MetricStat"]["Metric"] for m in alarm["Metrics"] if "MetricStat" in m)
    else:
        metric = alarm
    dims = tuple(sorted((d["Name"], d["Value"]) for d in metric["Dimensions"]))
    return metric["Namespace"], metric["MetricName"], dims
