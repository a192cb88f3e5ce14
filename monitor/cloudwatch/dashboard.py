"""The on-call CloudWatch dashboard of one environment, rendered from the spec (pure).

`render_dashboard(spec, env) -> (name, body)`; the body is what PutDashboard takes (as JSON).
From the top: a header, the status of every alarm the spec owns (worst state first), the
collector's health (a row per Redis target, then its Lambda), one row per queue (worst first) with
the alarm thresholds drawn as lines, one row per stream, delayed set and pattern, and a legend of
what each alarm kind means with its runbook. tests/support/dashboard_rules.py checks every body
against AWS's "Dashboard Body Structure and Syntax" (the emulator accepts anything).
"""

from __future__ import annotations

import math
import re
from typing import Any, Iterable, Iterator, Sequence

from monitor.cloudwatch import search
from monitor.cloudwatch.alarms import Alarm, math_query, render_alarms
from monitor.spec import metrics, naming
from monitor.spec import runbooks as runbook_refs
from monitor.spec.declaration import DEFAULT_PERIOD
from monitor.spec.kinds import AlarmKind, Severity
from monitor.spec.metrics import Metric
from monitor.spec.model import AlarmRule, DelayedQueue, Environment, Pattern, Queue, RedisTarget, Spec, Stream

Widget = dict[str, Any]

MAX_WIDGETS = 500  # PutDashboard: a body holds 0..500 widgets
GRID_COLUMNS = 24  # dashboard grid width
MAX_ALARMS_PER_WIDGET = 100  # alarm status widget: up to 100 alarm ARNs
GRAPH_PERIOD_STEP = 60  # a graph's period: "any multiple of 60, with 60 as the minimum" (dashboard body syntax)

DEFAULT_REGION = "us-east-1"  # when neither the caller nor the environment names one
DEFAULT_ACCOUNT_ID = "123456789012"  # AWS's documentation placeholder (also moto's account)
DEFAULT_PARTITION = "aws"

HEADER_HEIGHT = 3
METRIC_HEIGHT = 6
ALARMS_PER_ALARM_ROW = 4  # how many alarm tiles a full-width alarm widget shows side by side
MAX_ALARM_WIDGET_HEIGHT = 15

# The collector function's own metrics, published by AWS Lambda.
LAMBDA_NAMESPACE = "AWS/Lambda"
LAMBDA_DIMENSION = "FunctionName"
LAMBDA_COUNTS = ("Invocations", "Errors", "Throttles")  # Sum per period
LAMBDA_DURATION = "Duration"  # Average and Maximum, milliseconds
LAMBDA_STATISTICS = {"Invocations": ("Sum",), "Errors": ("Sum",), "Throttles": ("Sum",), LAMBDA_DURATION: ("Average", "Maximum")}

SEVERITY_ORDER = {Severity.CRITICAL: 0, Severity.WARNING: 1, Severity.INFO: 2}
SEVERITY_COLOURS = {Severity.CRITICAL: "#d62728", Severity.WARNING: "#ff7f0e", Severity.INFO: "#1f77b4"}

# Widgets besides the subjects' and targets' rows: header, legend, the collector Lambda's row.
_FIXED_WIDGETS = 2 + len(LAMBDA_STATISTICS)


# ---------------------------------------------------------------- ordering


def queue_rank(queue: Queue) -> tuple:
    """Sort key, worst first: more critical tiers, then more warning tiers, then more tiers, then name."""
    counts = [sum(1 for r in queue.alarms if r.severity is s) for s in SEVERITY_ORDER]
    return (*(-c for c in counts), -len(queue.alarms), queue.name)


def worst_first(queues: Iterable[Queue]) -> list[Queue]:
    """The queues in the order the on-call view shows them (deterministic)."""
    return sorted(queues, key=queue_rank)


def alarm_rank(alarm: dict) -> tuple:
    """Sort key of a rendered alarm: critical first, then by name."""
    tags = {t["Key"]: t["Value"] for t in alarm["Tags"]}
    return (SEVERITY_ORDER[Severity(tags[naming.TAG_SEVERITY])], alarm["AlarmName"])


def alarm_arn(name: str, *, region: str, account_id: str, partition: str = DEFAULT_PARTITION) -> str:
    return f"arn:{partition}:cloudwatch:{region}:{account_id}:alarm:{name}"


# ---------------------------------------------------------------- widgets


def _rules(rules: Sequence[AlarmRule], kind: AlarmKind) -> list[AlarmRule]:
    return sorted((r for r in rules if r.kind is kind), key=lambda r: (SEVERITY_ORDER[r.severity], r.tier))


def _metric_line(namespace: str, metric: Metric, env: Environment, subject: str, options: dict, group: str | None = None) -> list:
    dims = [part for d in metric.dimensions(env.name, subject, group) for part in (d["Name"], d["Value"])]
    return [namespace, metric.name, *dims, options]


def _annotation(rule: AlarmRule) -> dict:
    return {
        "label": f"{rule.tier} {rule.comparison.symbol} {rule.threshold:g} ({rule.datapoints_to_alarm}/{rule.evaluation_periods} x {rule.period}s)",
        "value": rule.threshold,
        "color": SEVERITY_COLOURS[rule.severity],
    }


def graph_period(period: int) -> int:
    """The period a graph can show for an alarm period: a multiple of 60 s, at least 60 s.

    High-resolution alarm periods (10, 20, 30 s) are drawn per minute: a dashboard graph's period
    must be a multiple of 60 (the threshold line still names the alarm's own period).
    """
    return max(GRAPH_PERIOD_STEP, -(-period // GRAPH_PERIOD_STEP) * GRAPH_PERIOD_STEP)


def _stats(rules: Sequence[AlarmRule], kind: AlarmKind) -> list[tuple[str, int]]:
    """The (statistic, graph period) pairs the alarms of this kind evaluate; the kind's default when none."""
    pairs: list[tuple[str, int]] = []
    for rule in rules:
        pair = (rule.statistic, graph_period(rule.period))
        if pair not in pairs:
            pairs.append(pair)
    return pairs or [(kind.info.statistic, DEFAULT_PERIOD)]


def _metric_widget(title: str, region: str, lines: list, stats: list[tuple[str, int]], annotations: list[dict], unit_label: str = "") -> Widget:
    stat, period = stats[0]
    properties: dict[str, Any] = {
        "title": title,
        "view": "timeSeries",
        "stacked": False,
        "region": region,
        "stat": stat,
        "period": period,
        "metrics": lines,
        "yAxis": {"left": {"min": 0, **({"label": unit_label, "showUnits": False} if unit_label else {})}},
    }
    if annotations:
        properties["annotations"] = {"horizontal": annotations}
    return {"type": "metric", "height": METRIC_HEIGHT, "properties": properties}


def _watched_metric_widget(
    spec: Spec, env: Environment, region: str, title: str, kind: AlarmKind, subject: str, rules: Sequence[AlarmRule], unit_label: str = ""
) -> Widget:
    """One metric with one line per (statistic, period) its alarms use, and their thresholds.

    Only the tiers that alarm on the metric itself: a metric-math tier gets a graph of its own.
    """
    own = [r for r in _rules(rules, kind) if math_query(r, subject) is None]
    stats = _stats(own, kind)
    lines = [
        _metric_line(spec.namespace, kind.info.metric, env, subject, {"label": f"{kind.info.metric.name} ({stat}, {period}s)", "stat": stat, "period": period})
        for stat, period in stats
    ]
    return _metric_widget(title, region, lines, stats, [_annotation(r) for r in own], unit_label)


def _dead_letter_widget(spec: Spec, env: Environment, region: str, queue: Queue) -> Widget:
    """Dead-letter depth and its growth per period (DIFF, as the arrivals alarm computes it)."""
    depth_rules = _rules(queue.alarms, AlarmKind.DEAD_LETTER_DEPTH)
    arrival_rules = _rules(queue.alarms, AlarmKind.DEAD_LETTER_ARRIVALS)
    depth_stat, depth_period = _stats(depth_rules, AlarmKind.DEAD_LETTER_DEPTH)[0]
    arrival_stat, arrival_period = _stats(arrival_rules, AlarmKind.DEAD_LETTER_ARRIVALS)[0]
    metric = metrics.DEAD_LETTER_DEPTH
    lines = [
        _metric_line(spec.namespace, metric, env, queue.key, {"label": "dead letters waiting", "stat": depth_stat, "period": depth_period}),
        [{"expression": "DIFF(m1)", "label": "dead letters arrived", "id": "e1"}],
        _metric_line(spec.namespace, metric, env, queue.key, {"id": "m1", "visible": False, "stat": arrival_stat, "period": arrival_period}),
    ]
    annotations = [_annotation(r) for r in depth_rules] + [{**_annotation(r), "label": "arrivals " + _annotation(r)["label"]} for r in arrival_rules]
    return _metric_widget(f"{queue.key}: dead letters", region, lines, [(depth_stat, depth_period)], annotations)


def alarm_metric_lines(alarm: Alarm) -> list[list]:
    """A metric-math alarm's own queries as a graph's metrics array: the inputs hidden, the result drawn.

    The ids stay the alarm's (they start with a lowercase letter, as both APIs ask); ReturnData,
    which dashboards do not know, becomes `visible: false` on the inputs.
    """
    lines: list[list] = []
    for query in alarm["Metrics"]:
        options: dict[str, Any] = {"id": query["Id"]}
        if not query.get("ReturnData", True):
            options["visible"] = False
        if "Expression" in query:
            lines.append([{"expression": query["Expression"], "label": query.get("Label", query["Id"]), **options}])
        else:
            stat = query["MetricStat"]
            metric = stat["Metric"]
            dims = [part for d in metric["Dimensions"] for part in (d["Name"], d["Value"])]
            lines.append([metric["Namespace"], metric["MetricName"], *dims, {**options, "stat": stat["Stat"], "period": graph_period(stat["Period"])}])
    return lines


def _math_widgets(
    spec: Spec, env: Environment, region: str, queue: Queue, kind: AlarmKind, alarms: dict[str, Alarm], unit_label: str
) -> list[Widget]:
    """A graph per metric-math tier of this kind: the alarm's own expression, and its threshold on it."""
    widgets = []
    for rule in _rules(queue.alarms, kind):
        if math_query(rule, queue.key, queue) is None:
            continue
        alarm = alarms[naming.alarm_name(spec.name_prefix, env.name, queue.name, rule.kind, rule.tier)]
        label = next(q.get("Label", "") for q in alarm["Metrics"] if q.get("ReturnData"))
        stats = [(rule.statistic, graph_period(rule.period))]
        widgets.append(_metric_widget(f"{queue.key}: {rule.tier} ({label})", region, alarm_metric_lines(alarm), stats, [_annotation(rule)], unit_label))
    return widgets


def _drain_widgets(spec: Spec, env: Environment, region: str, queue: Queue, alarms: dict[str, Alarm]) -> list[Widget]:
    """A graph per time_to_drain tier: the seconds until empty, the alarm's own metric math (RATE, IF, capped), and its threshold."""
    widgets = []
    for rule in _rules(queue.alarms, AlarmKind.TIME_TO_DRAIN):
        alarm = alarms[naming.alarm_name(spec.name_prefix, env.name, queue.name, rule.kind, rule.tier)]
        stats = [(rule.statistic, graph_period(rule.period))]
        title = f"{queue.key}: time to drain ({rule.tier})"
        widgets.append(_metric_widget(title, region, alarm_metric_lines(alarm), stats, [_annotation(rule)], "seconds until empty"))
    return widgets


def _queue_widgets(spec: Spec, env: Environment, region: str, queue: Queue, alarms: dict[str, Alarm]) -> list[Widget]:
    widgets = [
        _watched_metric_widget(spec, env, region, f"{queue.key}: depth", AlarmKind.QUEUE_DEPTH, queue.key, queue.alarms, "messages"),
        *_math_widgets(spec, env, region, queue, AlarmKind.QUEUE_DEPTH, alarms, "messages"),
        *_drain_widgets(spec, env, region, queue, alarms),
        _watched_metric_widget(spec, env, region, f"{queue.key}: oldest message age", AlarmKind.PROCESSING_LAG, queue.key, queue.alarms, "seconds"),
    ]
    if queue.processing:
        widgets.append(
            _watched_metric_widget(spec, env, region, f"{queue.key}: in flight", AlarmKind.IN_FLIGHT_DEPTH, queue.key, queue.alarms, "messages")
        )
        widgets += _math_widgets(spec, env, region, queue, AlarmKind.IN_FLIGHT_DEPTH, alarms, "messages")
    if queue.dead_letter:
        widgets.append(_dead_letter_widget(spec, env, region, queue))
    return widgets


def _group_widget(spec: Spec, env: Environment, region: str, stream: Stream, title: str, metric: Metric, kind: AlarmKind | None, unit_label: str) -> Widget:
    """A group metric of one stream: a line per listed group, or every group (SEARCH) when none is listed."""
    own = _rules(stream.alarms, kind) if kind else []
    stat, period = _stats(own, kind)[0] if kind else ("Maximum", DEFAULT_PERIOD)
    if stream.groups:
        lines = [_metric_line(spec.namespace, metric, env, stream.key, {"label": group, "stat": stat, "period": period}, group) for group in stream.groups]
    else:
        terms = {"MetricName": metric.name, metrics.ENVIRONMENT: env.name, metrics.QUEUE: stream.key}
        try:
            expression = search.search(spec.namespace, (metrics.ENVIRONMENT, metrics.QUEUE, metrics.CONSUMER_GROUP), terms, stat, period)
        except search.Unsearchable as exc:
            return _text(f"**{_markdown(title)}**\n\nNo graph: {exc}. List the stream's groups in the spec to graph them one by one.", METRIC_HEIGHT)
        lines = [[{"expression": expression, "label": "", "id": "e1"}]]
    return _metric_widget(title, region, lines, [(stat, period)], [_annotation(r) for r in own], unit_label)


def _stream_widgets(spec: Spec, env: Environment, region: str, stream: Stream) -> list[Widget]:
    length = [_metric_line(spec.namespace, metrics.STREAM_LENGTH, env, stream.key, {"label": "entries", "stat": "Maximum", "period": DEFAULT_PERIOD})]
    return [
        _metric_widget(f"{stream.key}: length", region, length, [("Maximum", DEFAULT_PERIOD)], [], "entries"),
        _group_widget(spec, env, region, stream, f"{stream.key}: lag per group", metrics.CONSUMER_GROUP_LAG, AlarmKind.CONSUMER_GROUP_LAG, "entries"),
        _group_widget(spec, env, region, stream, f"{stream.key}: pending per group", metrics.CONSUMER_GROUP_PENDING, None, "entries"),
        _group_widget(spec, env, region, stream, f"{stream.key}: oldest pending idle", metrics.OLDEST_PENDING_IDLE, AlarmKind.STUCK_PENDING, "seconds"),
    ]


def _delayed_widgets(spec: Spec, env: Environment, region: str, item: DelayedQueue) -> list[Widget]:
    total = [_metric_line(spec.namespace, metrics.DELAYED_TOTAL, env, item.key, {"label": "jobs", "stat": "Maximum", "period": DEFAULT_PERIOD})]
    return [
        _metric_widget(f"{item.key}: delayed jobs", region, total, [("Maximum", DEFAULT_PERIOD)], [], "jobs"),
        _watched_metric_widget(spec, env, region, f"{item.key}: overdue jobs", AlarmKind.DELAYED_OVERDUE, item.key, item.alarms, "jobs"),
    ]


def _pattern_widgets(spec: Spec, env: Environment, region: str, pattern: Pattern) -> list[Widget]:
    """A pattern's aggregates over the keys it matched, with the thresholds of the pattern's alarms."""
    glob = pattern.pattern

    def line(metric: Metric, label: str) -> list:
        return _metric_line(spec.namespace, metric, env, glob, {"label": label, "stat": "Maximum", "period": DEFAULT_PERIOD})

    def thresholds(*kinds: AlarmKind) -> list[dict]:
        return [{**_annotation(r), "label": f"{r.kind.info.metric.name} {_annotation(r)['label']}"} for k in kinds for r in _rules(pattern.alarms, k)]

    stats = [("Maximum", DEFAULT_PERIOD)]
    return [
        _metric_widget(f"{glob}: keys matched", region, [line(metrics.PATTERN_QUEUE_COUNT, "keys")], stats, thresholds(AlarmKind.PATTERN_QUEUE_COUNT), "keys"),
        _metric_widget(
            f"{glob}: depth",
            region,
            [line(metrics.PATTERN_DEPTH_SUM, "all matched queues"), line(metrics.PATTERN_DEPTH_MAX, "deepest queue")],
            stats,
            thresholds(AlarmKind.PATTERN_DEPTH_SUM, AlarmKind.PATTERN_DEPTH_MAX),
            "messages",
        ),
        _metric_widget(
            f"{glob}: oldest message age", region, [line(metrics.PATTERN_OLDEST_AGE_MAX, "oldest over all")], stats, thresholds(AlarmKind.PATTERN_OLDEST_AGE), "seconds"
        ),
    ]


def _target_widgets(spec: Spec, env: Environment, region: str, target: RedisTarget) -> list[Widget]:
    """One Redis target's collector health: connection failures, heartbeat (and unread primaries of a cluster)."""
    name = target.name
    widgets = [
        _watched_metric_widget(spec, env, region, f"Redis {name}: connection failures", AlarmKind.CONNECTION_FAILURE, name, spec.target_alarms),
        _watched_metric_widget(spec, env, region, f"Redis {name}: collector heartbeat", AlarmKind.COLLECTOR_HEARTBEAT, name, spec.target_alarms, "runs"),
    ]
    if target.cluster:
        nodes = [_metric_line(spec.namespace, metrics.CLUSTER_NODE_FAILURES, env, name, {"label": "primaries not read", "stat": "Maximum", "period": DEFAULT_PERIOD})]
        widgets.append(_metric_widget(f"Redis {name}: cluster primaries not read", region, nodes, [("Maximum", DEFAULT_PERIOD)], [], "primaries"))
    return widgets


def schedule_seconds(schedule: str) -> int:
    """Seconds between collector runs for rate(...) expressions; a minute for cron(...)."""
    match = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours)\)", schedule)
    if not match:
        return DEFAULT_PERIOD
    return int(match[1]) * (3600 if match[2].startswith("hour") else 60)


def _lambda_widgets(spec: Spec, region: str) -> list[Widget]:
    function = spec.collector.function_name
    period = max(DEFAULT_PERIOD, schedule_seconds(spec.collector.schedule))
    widgets = []
    for name, stats in LAMBDA_STATISTICS.items():
        lines = [[LAMBDA_NAMESPACE, name, LAMBDA_DIMENSION, function, {"stat": stat, "period": period, "label": f"{name} ({stat})"}] for stat in stats]
        unit = "milliseconds" if name == LAMBDA_DURATION else ""
        widgets.append(_metric_widget(f"Collector {function}: {name}", region, lines, [(stats[0], period)], [], unit))
    return widgets


def _alarm_widgets(alarms: list[dict], region: str, account_id: str, partition: str) -> list[Widget]:
    ordered = sorted(alarms, key=alarm_rank)
    chunks = [ordered[i : i + MAX_ALARMS_PER_WIDGET] for i in range(0, len(ordered), MAX_ALARMS_PER_WIDGET)]
    widgets = []
    for number, chunk in enumerate(chunks, 1):
        title = "Alarms" + (f" ({number}/{len(chunks)})" if len(chunks) > 1 else "") + ": worst state first"
        height = min(MAX_ALARM_WIDGET_HEIGHT, 2 + math.ceil(len(chunk) / ALARMS_PER_ALARM_ROW))
        arns = [alarm_arn(a["AlarmName"], region=region, account_id=account_id, partition=partition) for a in chunk]
        widgets.append(
            {"type": "alarm", "height": height, "properties": {"title": title, "alarms": arns, "sortBy": "stateUpdatedTimestamp"}}
        )
    return widgets


def _text(markdown: str, height: int) -> Widget:
    return {"type": "text", "height": height, "properties": {"markdown": markdown}}


_MARKDOWN_SPECIAL = set("\\`*_{}[]()#+-.!|<>~")


def _markdown(text: str) -> str:
    """A name as literal markdown text: its punctuation backslash-escaped."""
    return "".join("\\" + c if c in _MARKDOWN_SPECIAL else c for c in text)


def _runbook_cell(ref: str) -> str:
    return f"[runbook]({ref})" if runbook_refs.is_link(ref) else f"`{runbook_refs.SHIPPED_RUNBOOKS}{ref}`"


def _legend(spec: Spec) -> Widget:
    runbooks: dict[AlarmKind, set[str]] = {}
    owners = [*spec.queues, *spec.streams, *spec.delayed, *spec.patterns]
    for rule in [r for q in owners for r in q.alarms] + list(spec.target_alarms):
        urls = runbooks.setdefault(rule.kind, set())
        if rule.runbook:
            urls.add(rule.runbook)
    rows = ["## What the alarms mean", "", "| alarm kind | metric | fires when | runbook |", "| --- | --- | --- | --- |"]
    for kind in AlarmKind:
        if kind in runbooks:
            links = " ".join(_runbook_cell(ref) for ref in sorted(runbooks[kind])) or "none set"
            rows.append(f"| {kind.value} | {kind.info.metric.name} | {kind.info.meaning} | {links} |")
    return _text("\n".join(rows), 3 + len(runbooks))


def _header(spec: Spec, env: Environment, region: str, shown: int, total: int, alarms_shown: int, alarms_total: int) -> Widget:
    targets = ", ".join(f"`{t.name}`" for t in env.targets)
    lines = [
        f"# {spec.name_prefix} / {env.name}: Redis queues",
        f"Namespace `{spec.namespace}` in {region}; Redis target{'s' if len(env.targets) > 1 else ''} {targets}; "
        f"collector `{spec.collector.function_name}`. Queues worst first; live table: `provision-alarms status --env {env.name}`.",
    ]
    if shown < total:
        lines.append(
            f"**Showing {shown} of {total} queues, streams, delayed sets and patterns**: a dashboard holds at most "
            f"{MAX_WIDGETS} widgets; `provision-alarms status` lists them all."
        )
    if alarms_shown < alarms_total:
        lines.append(f"**Alarm status shows {alarms_shown} of {alarms_total} alarms** (most severe first).")
    return _text("\n\n".join(lines), HEADER_HEIGHT)


# ---------------------------------------------------------------- layout


def _layout(rows: Iterable[Sequence[Widget]]) -> list[Widget]:
    """Place rows top to bottom; a row's widgets share the 24 columns equally (left to right)."""
    placed: list[Widget] = []
    y = 0
    for row in rows:
        if not row:
            continue
        width = GRID_COLUMNS // len(row)
        for index, widget in enumerate(row):
            placed.append({"type": widget["type"], "x": index * width, "y": y, "width": width, "height": widget["height"], "properties": widget["properties"]})
        y += max(w["height"] for w in row)
    return placed


def subject_rows(spec: Spec, env: Environment, region: str, alarms: Sequence[Alarm]) -> Iterator[list[Widget]]:
    """A row per subject in the order the dashboard shows them: queues worst first, streams, delayed sets, patterns.

    A new kind of subject is one more generator line here; the widget budget follows by itself.
    """
    by_name = {a["AlarmName"]: a for a in alarms}
    yield from (_queue_widgets(spec, env, region, q, by_name) for q in worst_first(spec.queues))
    yield from (_stream_widgets(spec, env, region, s) for s in spec.streams)
    yield from (_delayed_widgets(spec, env, region, d) for d in spec.delayed)
    yield from (_pattern_widgets(spec, env, region, p) for p in spec.patterns)


def render_dashboard(
    spec: Spec,
    env: Environment,
    *,
    region: str | None = None,
    account_id: str = DEFAULT_ACCOUNT_ID,
    partition: str = DEFAULT_PARTITION,
    alarms: Sequence[Alarm] | None = None,
) -> tuple[str, dict]:
    """(dashboard name, body) for one environment: pure.

    region defaults to the environment's region (else us-east-1); account_id and partition only go
    into the alarm ARNs of the alarm status widgets, so pass the real account (from STS or from the
    ARNs DescribeAlarms returns) when putting the dashboard. alarms: render_alarms(spec, env), when
    the caller has it already (rendered here otherwise).
    """
    region = region or env.region or DEFAULT_REGION
    alarms = list(render_alarms(spec, env) if alarms is None else alarms)
    target_rows = [_target_widgets(spec, env, region, t) for t in env.targets]
    budget = MAX_WIDGETS - _FIXED_WIDGETS - sum(len(row) for row in target_rows)
    alarm_widgets = _alarm_widgets(alarms, region, account_id, partition)[: max(0, budget)]
    alarms_shown = min(len(alarms), len(alarm_widgets) * MAX_ALARMS_PER_WIDGET)
    budget -= len(alarm_widgets)
    shown: list[list[Widget]] = []
    for row in subject_rows(spec, env, region, alarms):
        if len(row) > budget:
            break  # in order: what is shown is always the worst part
        shown.append(row)
        budget -= len(row)
    total = len(spec.queues) + len(spec.streams) + len(spec.delayed) + len(spec.patterns)
    rows: list[Sequence[Widget]] = [
        [_header(spec, env, region, len(shown), total, alarms_shown, len(alarms))],
        *([w] for w in alarm_widgets),
        *target_rows,
        _lambda_widgets(spec, region),
        *shown,
        [_legend(spec)],
    ]
    return naming.dashboard_name(spec.name_prefix, env.name), {"widgets": _layout(rows)}
