"""Render the spec into CloudWatch alarm definitions: the exact PutMetricAlarm and PutCompositeAlarm parameters (pure).

`render_alarms(spec, env)` returns both shapes in one list; a composite is the dict with an
"AlarmRule" (`is_composite`). `anomaly_detectors(alarms)` derives the PutAnomalyDetector
parameters the anomaly-band alarms need.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from monitor.cloudwatch.rules import alarm_name, is_composite, rule_children
from monitor.spec import metrics, naming, runbooks
from monitor.spec.declaration import MAX_DESCRIPTION
from monitor.spec.kinds import (
    ANOMALY_COMPARISON,
    ANOMALY_KINDS,
    MAX_DRAIN_ESTIMATE_SECONDS,
    PERCENTILE_PATTERN,
    TARGET_KINDS,
    AlarmKind,
    CompositeKind,
    Severity,
    period_words,
)
from monitor.spec.metrics import Metric
from monitor.spec.model import AlarmRule, Environment, Notify, Queue, Spec, group_subject
from monitor.spec.sources import QueuePart
from monitor.spec.windows import DEFAULT_TIMEZONE, WindowKind, window_field

Alarm = dict[str, Any]  # PutMetricAlarm or PutCompositeAlarm keyword arguments, Tags included

# Ids inside a metric-math alarm.
DLQ_DEPTH_ID = "dlq_depth"
DLQ_ARRIVALS_ID = "arrivals"
DEPTH_ID = "depth"  # time_to_drain: QueueDepth
RATE_ID = "rate"  # time_to_drain: its change per second (RATE), negative while the queue shrinks
DRAIN_ID = "time_to_drain"  # time_to_drain: the estimate in seconds
OBSERVED_ID = "observed"  # anomaly bands: the metric
BAND_ID = "band"  # anomaly bands: ANOMALY_DETECTION_BAND(observed, width)
ANOMALY_BAND_FUNCTION = "ANOMALY_DETECTION_BAND"
_ANOMALY_BAND = re.compile(rf"{ANOMALY_BAND_FUNCTION}\(\s*([A-Za-z0-9_]+)")


def drain_expression(min_depth: float = 0, depth: str = DEPTH_ID, rate: str = RATE_ID, cap: int = MAX_DRAIN_ESTIMATE_SECONDS) -> str:
    """Seconds until empty at the current rate, as CloudWatch metric math (IF, comparisons, arithmetic).

    0 when empty (at or below min_depth); depth / (0 - rate) while it shrinks; `cap` when it is stalled (rate 0), growing
    (rate > 0) or shrinking so slowly that the estimate would pass the cap. The comparison is
    written `depth < cap * (0 - rate)` so no near-zero rate is ever divided by: an absurd
    estimate cannot come out, and the alarm's threshold is always below the cap (the spec checks).
    """
    shrinking = f"(0 - {rate})"
    return f"IF({depth} <= {min_depth:g}, 0, IF({rate} < 0, IF({depth} < {cap} * {shrinking}, {depth} / {shrinking}, {cap}), {cap}))"


RATE_EXPRESSION = f"RATE({DEPTH_ID})"


def metric_alarms(alarms: Iterable[Alarm]) -> list[Alarm]:
    return [a for a in alarms if not is_composite(a)]


def composite_children(alarm: Mapping) -> list[str]:
    """The alarm names a composite depends on (must exist first): those its AlarmRule names, then its ActionsSuppressor ([] for a metric alarm)."""
    if not is_composite(alarm):
        return []
    names = rule_children(alarm["AlarmRule"], alarm["AlarmName"])
    if alarm.get("ActionsSuppressor"):
        names.append(alarm_name(alarm["ActionsSuppressor"]))
    return list(dict.fromkeys(names))
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
    # A sum. The first term keeps its gaps (no data at all stays missing data) unless it is a metric
    # published only when not 0; the others count 0 when absent, e.g. a retry set nobody has used yet.
    first = terms[0].id if not terms[0].metric.omit_zero else f"FILL({terms[0].id}, 0)"
    expression = " + ".join([first] + [f"FILL({t.id}, 0)" for t in terms[1:]])
    return MathQuery(tuple(terms), expression, " + ".join(t.metric.name for t in terms))


def _is_percentile(statistic: str) -> bool:
    return re.fullmatch(PERCENTILE_PATTERN, statistic) is not None


def condition_words(rule: AlarmRule) -> str:
    """e.g. 'the maximum QueueDepth is above 1000 in 3 of 5 one-minute periods'."""
    metric = rule.kind.info.metric.name
    if rule.kind is AlarmKind.DEAD_LETTER_ARRIVALS:
        what = f"the growth of {metric} from one period to the next"
    elif rule.kind is AlarmKind.TIME_TO_DRAIN:
        floor = f", 0 at or below {rule.min_depth:g} messages" if rule.min_depth else ""
        what = f"the time the queue needs to empty at its current rate (from the {rule.statistic.lower()} {metric}; {MAX_DRAIN_ESTIMATE_SECONDS}s when stalled or growing{floor})"
    elif rule.kind in ANOMALY_KINDS:
        periods = f"{rule.datapoints_to_alarm} of {rule.evaluation_periods} {period_words(rule.period)} periods"
        return f"the {rule.statistic.lower()} {metric} is above its anomaly band ({rule.threshold:g} standard deviations wide) in {periods}"
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
    """PutMetricAlarm's EvaluationWindow for the rule, or None for the default sliding window."""
    return window_field(rule.evaluation_window, rule.timezone)


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


def _tags(spec: Spec, env: Environment, kind: str, severity: Severity, tier: str | None) -> list[dict[str, str]]:
    tags = {
        **spec.tags,
        naming.TAG_MANAGED_BY: naming.TOOL,
        naming.TAG_SPEC: naming.spec_identity(spec.name_prefix, env.name),
        naming.TAG_KIND: kind,
        naming.TAG_SEVERITY: severity.value,
    }
    if tier is not None:
        tags[naming.TAG_TIER] = tier
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def _metric_stat(spec: Spec, metric_name: str, dimensions, rule: AlarmRule, query_id: str, return_data: bool) -> dict:
    return {
        "Id": query_id,
        "MetricStat": {"Metric": {"Namespace": spec.namespace, "MetricName": metric_name, "Dimensions": dimensions}, "Period": rule.period, "Stat": rule.statistic},
        "ReturnData": return_data,
    }


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
    threshold: dict[str, Any] = {"Threshold": rule.threshold, "ComparisonOperator": rule.comparison.value}
    if rule.kind is AlarmKind.DEAD_LETTER_ARRIVALS:
        # Growth between consecutive samples: a DLQ that already holds messages (and keeps the
        # depth alarm in ALARM) still pages when new ones arrive; so does one drained and refilled.
        alarm["Metrics"] = [
            _metric_stat(spec, metric.name, dimensions, rule, DLQ_DEPTH_ID, False),
            {"Id": DLQ_ARRIVALS_ID, "Expression": f"DIFF({DLQ_DEPTH_ID})", "Label": "Dead letters arrived", "ReturnData": True},
        ]
    elif rule.kind is AlarmKind.TIME_TO_DRAIN:
        alarm["Metrics"] = [
            _metric_stat(spec, metric.name, dimensions, rule, DEPTH_ID, False),
            {"Id": RATE_ID, "Expression": RATE_EXPRESSION, "Label": "QueueDepth change per second", "ReturnData": False},
            {"Id": DRAIN_ID, "Expression": drain_expression(rule.min_depth), "Label": "Seconds until empty", "ReturnData": True},
        ]
    elif rule.kind in ANOMALY_KINDS:
        # Both queries return data and the band is the threshold, as PutMetricAlarm requires for
        # anomaly detection; the detector itself is put by apply (anomaly_detectors).
        alarm["Metrics"] = [
            _metric_stat(spec, metric.name, dimensions, rule, OBSERVED_ID, True),
            {"Id": BAND_ID, "Expression": f"{ANOMALY_BAND_FUNCTION}({OBSERVED_ID}, {rule.threshold:g})", "Label": "Expected band", "ReturnData": True},
        ]
        threshold = {"ThresholdMetricId": BAND_ID, "ComparisonOperator": ANOMALY_COMPARISON}
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
            **threshold,
            "TreatMissingData": rule.treat_missing_data.value,
            "Tags": _tags(spec, env, rule.kind.value, rule.severity, rule.tier),
        }
    )
    window = evaluation_window(rule)
    if window is not None:
        alarm["EvaluationWindow"] = window
    return alarm


@dataclass(frozen=True)
class Subject:
    """Something with alarms of its own: a queue, a stream's consumer group, a delayed set, a pattern, a Redis target."""

    name: str  # in alarm names
    dimension: str  # the Queue, Pattern or RedisTarget dimension's value
    target: str  # the Redis target that holds it
    rules: tuple[AlarmRule, ...]
    group: str | None = None
    queue: Queue | None = None  # a queue's parts (queue_depth tiers that count its retry set)


def subjects(spec: Spec, env: Environment) -> list[Subject]:
    """Every subject with alarms in this environment, queues first and Redis targets last."""
    found = [Subject(q.name, q.key, env.target_name(q.target), q.alarms, queue=q) for q in spec.queues]
    # A stream's alarms watch each listed consumer group; unlisted groups are measured, not alarmed.
    found += [Subject(group_subject(s.name, g), s.key, env.target_name(s.target), s.alarms, g) for s in spec.streams for g in s.groups]
    found += [Subject(d.name, d.key, env.target_name(d.target), d.alarms) for d in spec.delayed]
    found += [Subject(p.name, p.pattern, env.target_name(p.target), p.alarms) for p in spec.patterns]
    found += [Subject(naming.target_subject(t.name), t.name, t.name, spec.target_alarms) for t in env.targets]
    return [s for s in found if s.rules]


def render_alarms(spec: Spec, env: Environment) -> list[Alarm]:
    """Every alarm the spec wants in this environment, metric and composite, sorted by name."""
    rendered = [(subject, rule, _alarm(spec, env, subject.name, subject.dimension, rule, subject.group, subject.queue)) for subject in subjects(spec, env) for rule in subject.rules]
    alarms = [alarm for _, _, alarm in rendered]
    if spec.incidents is not None:
        alarms = _with_incidents(spec, env, rendered)
    return sorted(alarms, key=lambda a: a["AlarmName"])


# ---------------------------------------------------------------- one page per incident


def alarm_rule(children: Iterable[str]) -> str:
    """A composite AlarmRule in ALARM while any of the named alarms is (sorted: the spec's order of tiers does not matter)."""
    return " OR ".join(f'ALARM("{name}")' for name in sorted(children))


def _composite(
    spec: Spec, env: Environment, name: str, kind: CompositeKind, severity: Severity, tier: str | None, children: list[str], description: str, runbook: str | None
) -> Alarm:
    tail = (f" Runbook: {runbooks.describe(runbook)}" if runbook else "") + f" Managed by {naming.TOOL} for {naming.spec_identity(spec.name_prefix, env.name)}; do not edit by hand."
    return {
        "AlarmName": name,
        "AlarmDescription": (description[: MAX_DESCRIPTION - len(tail)] + tail),
        "ActionsEnabled": True,
        "AlarmActions": [],
        "OKActions": [],
        "InsufficientDataActions": [],
        "AlarmRule": alarm_rule(children),
        "Tags": _tags(spec, env, kind.value, severity, tier),
    }


def _with_incidents(spec: Spec, env: Environment, rendered: list[tuple[Subject, AlarmRule, Alarm]]) -> list[Alarm]:
    """The metric alarms (covered tiers without actions of their own when only the composite notifies) and the composites."""
    incidents = spec.incidents
    prefix = spec.name_prefix
    down: dict[str, Alarm] = {}
    if incidents.suppress_while_target_down:
        for target in env.targets:
            members = [(r, a) for s, r, a in rendered if s.group is None and r.kind in TARGET_KINDS and s.dimension == target.name]
            if members:
                name = naming.composite_name(prefix, env.name, naming.target_subject(target.name), CompositeKind.TARGET_DOWN)
                text = f"[CRITICAL] Redis target {target.name} ({env.name}) is down or unwatched: its connection or heartbeat alarm is in ALARM. It sends nothing itself (those alarms page); it holds the queues' composite alarms' actions."
                children = [a["AlarmName"] for _, a in members]
                down[target.name] = _composite(spec, env, name, CompositeKind.TARGET_DOWN, Severity.CRITICAL, None, children, text, members[0][0].runbook)
    out: list[Alarm] = []
    composites: list[Alarm] = []
    covered = set(incidents.severities)
    by_subject: dict[tuple[str, Severity], list[tuple[Subject, AlarmRule, Alarm]]] = {}
    for subject, rule, alarm in rendered:
        if rule.kind in TARGET_KINDS or rule.severity not in covered:
            out.append(alarm)
            continue
        by_subject.setdefault((subject.name, rule.severity), []).append((subject, rule, alarm))
        if incidents.notify is Notify.COMPOSITE:
            alarm = {**alarm, "AlarmActions": [], "OKActions": [], "InsufficientDataActions": []}
        out.append(alarm)
    for (subject_name, severity), members in by_subject.items():
        subject = members[0][0]
        children = [a["AlarmName"] for _, _, a in members]
        name = naming.composite_name(prefix, env.name, subject_name, CompositeKind.UNHEALTHY, severity.value)
        kinds = sorted({rule.kind.value for _, rule, _ in members})
        text = (
            f"[{severity.value.upper()}] {subject.dimension}{f' group {subject.group}' if subject.group else ''} ({env.name}) is unhealthy: "
            f"one page for any of its {severity.value} alarms ({', '.join(kinds)}) while it lasts."
        )
        runbook = incidents.runbook or members[0][1].runbook
        composite = _composite(spec, env, name, CompositeKind.UNHEALTHY, severity, severity.value, children, text, runbook)
        actions = env.actions(severity)
        composite.update({"AlarmActions": list(actions.alarm), "OKActions": list(actions.ok), "InsufficientDataActions": list(actions.insufficient_data)})
        suppressor = down.get(subject.target)
        if suppressor is not None:
            composite.update(
                {
                    "ActionsSuppressor": suppressor["AlarmName"],
                    "ActionsSuppressorWaitPeriod": incidents.suppress_wait_seconds,
                    "ActionsSuppressorExtensionPeriod": incidents.suppress_extension_seconds,
                }
            )
        composites.append(composite)
    return out + composites + list(down.values())


# ---------------------------------------------------------------- anomaly detectors


class BandError(ValueError):
    """An ANOMALY_DETECTION_BAND names no metric query with a MetricStat."""


def alarm_detectors(alarm: Mapping) -> list[dict]:
    """The SingleMetricAnomalyDetector of each metric an alarm's ANOMALY_DETECTION_BAND expressions watch."""
    queries = {q["Id"]: q for q in alarm.get("Metrics") or ()}
    found: dict[str, dict] = {}
    for query in queries.values():
        for metric_id in _ANOMALY_BAND.findall(query.get("Expression") or ""):
            stat = queries.get(metric_id, {}).get("MetricStat")
            if stat is None:
                raise BandError(f"alarm {alarm['AlarmName']}: {ANOMALY_BAND_FUNCTION}({metric_id}) needs a metric query '{metric_id}' with a MetricStat")
            detector = {
                "Namespace": stat["Metric"]["Namespace"],
                "MetricName": stat["Metric"]["MetricName"],
                "Dimensions": list(stat["Metric"].get("Dimensions") or ()),
                "Stat": stat["Stat"],
            }
            found.setdefault(detector_key(detector), detector)
    return list(found.values())


def anomaly_detectors(alarms: Iterable[Alarm]) -> list[dict]:
    """PutAnomalyDetector's SingleMetricAnomalyDetector for every metric and statistic an anomaly band watches, once each, in order of first use."""
    found: dict[str, dict] = {}
    for alarm in metric_alarms(alarms):
        for detector in alarm_detectors(alarm):
            found.setdefault(detector_key(detector), detector)
    return list(found.values())


def detector_key(detector: Mapping) -> str:
    """One string per (namespace, metric, dimensions, statistic): how detectors are compared and named."""
    dims = ",".join(f"{d['Name']}={d['Value']}" for d in sorted(detector.get("Dimensions") or (), key=lambda d: d["Name"]))
    return f"{detector['Namespace']}/{detector['MetricName']}[{dims}]/{detector['Stat']}"


def dimension_pairs(dimensions) -> tuple[tuple[str, str], ...]:
    """[{"Name", "Value"}, ...] as sorted (name, value) pairs: one metric's identity, however AWS ordered them."""
    return tuple(sorted((d["Name"], d["Value"]) for d in dimensions or ()))


def watched_metrics(alarm: Alarm) -> list[tuple[str, str, tuple[tuple[str, str], ...]]]:
    """(namespace, metric name, dimensions) of every metric an alarm reads, for either alarm shape (none for a composite)."""
    if is_composite(alarm):
        return []
    found = [m["MetricStat"]["Metric"] for m in alarm["Metrics"] if "MetricStat" in m] if "Metrics" in alarm else [alarm]
    return [(m["Namespace"], m["MetricName"], dimension_pairs(m["Dimensions"])) for m in found]


def alarm_metric(alarm: Alarm) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    """(namespace, metric name, dimensions) that a metric alarm watches (the first, for metric math), for either alarm shape.

    Composites watch alarms, not metrics: callers pass metric_alarms(...).
    """
    return watched_metrics(alarm)[0]
