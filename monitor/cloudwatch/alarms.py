"""Render the spec into CloudWatch alarm definitions: the exact PutMetricAlarm parameters (pure)."""

from __future__ import annotations

from typing import Any

from monitor.spec import naming, runbooks
from monitor.spec.declaration import MAX_DESCRIPTION
from monitor.spec.kinds import PERCENTILE_PATTERN, AlarmKind, period_words
from monitor.spec.model import AlarmRule, Environment, Spec, group_subject

Alarm = dict[str, Any]  # PutMetricAlarm keyword arguments, Tags included

# Ids inside a metric-math alarm.
DLQ_DEPTH_ID = "dlq_depth"
DLQ_ARRIVALS_ID = "arrivals"


def _is_percentile(statistic: str) -> bool:
    import re

    return re.fullmatch(PERCENTILE_PATTERN, statistic) is not None


def condition_words(rule: AlarmRule) -> str:
    """e.g. 'the maximum QueueDepth is above 1000 in 3 of 5 one-minute periods'."""
    metric = rule.kind.info.metric.name
    if rule.kind is AlarmKind.DEAD_LETTER_ARRIVALS:
        what = f"the growth of {metric} from one period to the next"
    else:
        what = f"the {rule.statistic.lower() if not _is_percentile(rule.statistic) else rule.statistic} {metric}"
    periods = (
        f"{rule.datapoints_to_alarm} of {rule.evaluation_periods} {period_words(rule.period)} periods"
        if rule.evaluation_periods > 1
        else f"a {period_words(rule.period)} period"
    )
    return f"{what} is {rule.comparison.words} {rule.threshold:g} in {periods}"


def _description(spec: Spec, env: Environment, subject: str, rule: AlarmRule) -> str:
    parts = [
        f"[{rule.severity.value.upper()}] {subject} ({env.name}): {rule.kind.value.replace('_', ' ')}.",
        f"Fires when {condition_words(rule)}; missing data: {rule.treat_missing_data.value}.",
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


def _alarm(spec: Spec, env: Environment, subject: str, dimension_value: str, rule: AlarmRule, group: str | None = None) -> Alarm:
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
    return alarm


def render_alarms(spec: Spec, env: Environment) -> list[Alarm]:
    """Every alarm the spec wants in this environment, sorted by name."""
    alarms = [_alarm(spec, env, queue.name, queue.key, rule) for queue in spec.queues for rule in queue.alarms]
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


def alarm_metric(alarm: Alarm) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    """(namespace, metric name, dimensions) that an alarm watches, for either alarm shape."""
    if "Metrics" in alarm:
        metric = next(m["MetricStat"]["Metric"] for m in alarm["Metrics"] if "MetricStat" in m)
    else:
        metric = alarm
    dims = tuple(sorted((d["Name"], d["Value"]) for d in metric["Dimensions"]))
    return metric["Namespace"], metric["MetricName"], dims
