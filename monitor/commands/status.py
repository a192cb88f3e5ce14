"""`provision-alarms status`: alarm states, the latest queue metrics and their recent trend, worst first.

The core is pure (`metric_queries`, `build_report`, `render_table`, `report_json`, `format_age`,
`sparkline`); `collect_status` is the thin layer that asks CloudWatch, with a client it is handed.
The latest values and the trends come from batched GetMetricData calls (500 series a call, never one per
queue); a trend wider than one-minute points takes one more batch for the latest values.
"""

from __future__ import annotations

import enum
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable, Mapping, Sequence, TextIO

from monitor.cloudwatch.alarms import Alarm, alarm_metric, metric_alarms, render_alarms
from monitor.cloudwatch.dashboard import SEVERITY_ORDER, queue_rank
from monitor.errors import ExitStatus
from monitor.spec import metrics, naming
from monitor.spec.durations import duration_seconds, format_age  # noqa: F401  (format_age: part of this module's API)
from monitor.spec.kinds import AlarmKind, Severity
from monitor.spec.metrics import Metric
from monitor.spec.model import DelayedQueue, Environment, Pattern, Queue, Spec, Stream
from monitor.truth.drain import DEFAULT_DRAIN_PERIOD, Drain
from monitor.truth.drain import estimate as drain_estimate

LOOKBACK = timedelta(minutes=15)  # how far back the latest datapoint is looked for
QUERY_PERIOD = 60  # seconds per datapoint asked of GetMetricData (the smallest)
JSON_FORMAT_VERSION = 1  # bump when the JSON structure changes incompatibly
DEFAULT_SINCE = timedelta(minutes=30)  # the trend window of --since
MAX_SINCE = timedelta(days=15)  # CloudWatch keeps one-minute datapoints for 15 days
TREND_POINTS = 60  # at most this many points a series: a longer --since widens the period
SPARK_WIDTH = 8  # characters of a sparkline
SPARK_BARS = "▁▂▃▄▅▆▇█"  # on a terminal that shows Unicode
SPARK_ASCII = "_.-:=+*#"  # elsewhere: the same eight levels in ASCII

# The statistic that gives "the latest value" of each metric the table shows.
QUEUE_METRICS: tuple[tuple[str, Metric, str], ...] = (
    ("depth", metrics.QUEUE_DEPTH, "Maximum"),
    ("oldest_age_seconds", metrics.OLDEST_MESSAGE_AGE, "Maximum"),
    ("in_flight", metrics.IN_FLIGHT_DEPTH, "Maximum"),
    ("dead_letter", metrics.DEAD_LETTER_DEPTH, "Maximum"),
)
STREAM_METRICS: tuple[tuple[str, Metric, str], ...] = (("length", metrics.STREAM_LENGTH, "Maximum"),)
GROUP_METRICS: tuple[tuple[str, Metric, str], ...] = (
    ("lag", metrics.CONSUMER_GROUP_LAG, "Maximum"),
    ("pending", metrics.CONSUMER_GROUP_PENDING, "Maximum"),
    ("oldest_pending_idle_seconds", metrics.OLDEST_PENDING_IDLE, "Maximum"),
)
DELAYED_METRICS: tuple[tuple[str, Metric, str], ...] = (
    ("total", metrics.DELAYED_TOTAL, "Maximum"),
    ("overdue", metrics.DELAYED_OVERDUE, "Maximum"),
)
PATTERN_METRICS: tuple[tuple[str, Metric, str], ...] = (
    ("queues", metrics.PATTERN_QUEUE_COUNT, "Maximum"),
    ("depth_sum", metrics.PATTERN_DEPTH_SUM, "Maximum"),
    ("depth_max", metrics.PATTERN_DEPTH_MAX, "Maximum"),
    ("oldest_age_max_seconds", metrics.PATTERN_OLDEST_AGE_MAX, "Maximum"),
)
TARGET_METRICS: tuple[tuple[str, Metric, str], ...] = (
    ("connection_failure", metrics.CONNECTION_FAILURE, "Maximum"),
    ("heartbeat", metrics.COLLECTOR_HEARTBEAT, "Sum"),
)


class State(str, enum.Enum):
    ALARM = "ALARM"
    INSUFFICIENT_DATA = "INSUFFICIENT_DATA"
    ABSENT = "ABSENT"  # in the spec but not in CloudWatch (not applied yet)
    OK = "OK"


STATE_ORDER = {State.ALARM: 0, State.INSUFFICIENT_DATA: 1, State.ABSENT: 2, State.OK: 3}
STATE_LABELS = {State.ALARM: "ALARM", State.INSUFFICIENT_DATA: "INSUFFICIENT", State.ABSENT: "ABSENT", State.OK: "OK"}
KIND_LABELS = {
    AlarmKind.QUEUE_DEPTH: "depth",
    AlarmKind.PROCESSING_LAG: "lag",
    AlarmKind.IN_FLIGHT_DEPTH: "in-flight",
    AlarmKind.DEAD_LETTER_DEPTH: "dlq",
    AlarmKind.DEAD_LETTER_ARRIVALS: "dlq-arrivals",
    AlarmKind.CONNECTION_FAILURE: "connection",
    AlarmKind.COLLECTOR_HEARTBEAT: "heartbeat",
    AlarmKind.CONSUMER_GROUP_LAG: "lag",
    AlarmKind.STUCK_PENDING: "stuck",
    AlarmKind.DELAYED_OVERDUE: "overdue",
    AlarmKind.READ_ERRORS: "unreadable",
    AlarmKind.TIME_TO_DRAIN: "drain",
    AlarmKind.DEPTH_ANOMALY: "depth-band",
    AlarmKind.AGE_ANOMALY: "age-band",
    AlarmKind.PATTERN_QUEUE_COUNT: "queues",
    AlarmKind.PATTERN_DEPTH_SUM: "depth-sum",
    AlarmKind.PATTERN_DEPTH_MAX: "depth-max",
    AlarmKind.PATTERN_OLDEST_AGE: "lag-max",
}

# ANSI styles, used only when stdout is a terminal and NO_COLOR is not set.
RED, YELLOW, GREEN, MAGENTA, BOLD, RESET = "\x1b[31m", "\x1b[33m", "\x1b[32m", "\x1b[35m", "\x1b[1m", "\x1b[0m"
STATE_STYLES = {State.ALARM: BOLD + RED, State.INSUFFICIENT_DATA: YELLOW, State.ABSENT: MAGENTA, State.OK: GREEN}
CLEAR_SCREEN = "\x1b[H\x1b[2J"
ELLIPSIS = "…"
ASCII_ELLIPSIS = "..."
RISING, FALLING = YELLOW, GREEN  # a trend's change, coloured: more waiting is worse


# ---------------------------------------------------------------- the report (pure)


@dataclass(frozen=True)
class Sample:
    value: float
    timestamp: datetime


@dataclass(frozen=True)
class AlarmStatus:
    name: str
    kind: AlarmKind
    tier: str
    severity: Severity
    state: State
    reason: str = ""

    @property
    def label(self) -> str:
        return f"{KIND_LABELS[self.kind]}/{self.tier}"


def _worst(alarms: Sequence[AlarmStatus]) -> AlarmStatus | None:
    return min(alarms, key=lambda a: (STATE_ORDER[a.state], SEVERITY_ORDER[a.severity], a.name), default=None)


class _Alarmed:
    """A row with alarms: its state is its worst alarm's (None without alarms)."""

    alarms: tuple[AlarmStatus, ...]

    @property
    def state(self) -> State | None:
        worst = _worst(self.alarms)
        return worst.state if worst else None


@dataclass(frozen=True)
class QueueStatus(_Alarmed):
    queue: Queue
    values: Mapping[str, Sample]  # by QUEUE_METRICS key; absent when no datapoint in LOOKBACK
    alarms: tuple[AlarmStatus, ...]
    series: Mapping[str, tuple[Sample, ...]] = field(default_factory=dict)  # by QUEUE_METRICS key, oldest first, within --since

    def rank(self) -> tuple:
        worst = _worst(self.alarms)
        if worst is None:
            return (len(STATE_ORDER), 0, queue_rank(self.queue))
        return (STATE_ORDER[worst.state], SEVERITY_ORDER[worst.severity], queue_rank(self.queue))

    @property
    def drain(self) -> Drain:
        """Time to drain from the depth series, as the queue's time_to_drain alarm computes it (its period, else 5 minutes)."""
        rule = next((r for r in self.queue.alarms if r.kind is AlarmKind.TIME_TO_DRAIN), None)
        points = [(p.timestamp.timestamp(), p.value) for p in self.series.get("depth", ())]
        return drain_estimate(points, rule.period if rule else DEFAULT_DRAIN_PERIOD)


@dataclass(frozen=True)
class TargetStatus(_Alarmed):
    name: str
    values: Mapping[str, Sample]  # by TARGET_METRICS key
    alarms: tuple[AlarmStatus, ...]

    @property
    def connection(self) -> str:
        """FAILING or OK from the latest ConnectionFailure datapoint; UNKNOWN without one."""
        sample = self.values.get("connection_failure")
        if sample is None:
            return "UNKNOWN"
        return "FAILING" if sample.value >= 1 else "OK"


def _rank(alarms: Sequence[AlarmStatus], name: str) -> tuple:
    worst = _worst(alarms)
    if worst is None:
        return (len(STATE_ORDER), 0, name)
    return (STATE_ORDER[worst.state], SEVERITY_ORDER[worst.severity], name)


@dataclass(frozen=True)
class GroupStatus(_Alarmed):
    name: str
    values: Mapping[str, Sample]  # by GROUP_METRICS key
    alarms: tuple[AlarmStatus, ...]


@dataclass(frozen=True)
class StreamStatus(_Alarmed):
    stream: Stream
    values: Mapping[str, Sample]  # by STREAM_METRICS key
    groups: tuple[GroupStatus, ...]  # the listed groups, worst first

    @property
    def alarms(self) -> tuple[AlarmStatus, ...]:
        return tuple(a for g in self.groups for a in g.alarms)


@dataclass(frozen=True)
class DelayedStatus(_Alarmed):
    delayed: DelayedQueue
    values: Mapping[str, Sample]  # by DELAYED_METRICS key
    alarms: tuple[AlarmStatus, ...]


@dataclass(frozen=True)
class PatternStatus(_Alarmed):
    pattern: Pattern
    values: Mapping[str, Sample]  # by PATTERN_METRICS key
    alarms: tuple[AlarmStatus, ...]


@dataclass(frozen=True)
class StatusReport:
    spec_path: str
    environment: str
    region: str
    namespace: str
    generated_at: datetime
    queues: tuple[QueueStatus, ...]  # worst first
    targets: tuple[TargetStatus, ...]
    streams: tuple[StreamStatus, ...] = ()  # worst first
    delayed: tuple[DelayedStatus, ...] = ()  # worst first
    patterns: tuple[PatternStatus, ...] = ()  # worst first
    since: timedelta = DEFAULT_SINCE  # the trend window
    period: int = QUERY_PERIOD  # seconds per point of the series

    @property
    def alarms(self) -> list[AlarmStatus]:
        owners = [*self.queues, *self.streams, *self.delayed, *self.patterns, *self.targets]
        return [a for owner in owners for a in owner.alarms]

    def count(self, state: State) -> int:
        return sum(1 for a in self.alarms if a.state is state)

    @property
    def exit_status(self) -> ExitStatus:
        return ExitStatus.CHECK_FAILED if self.count(State.ALARM) else ExitStatus.SUCCESS


@dataclass(frozen=True)
class MetricQuery:
    id: str
    subject: str  # queue key or Redis target name
    key: str  # QUEUE_METRICS / TARGET_METRICS / STREAM_METRICS / GROUP_METRICS / DELAYED_METRICS key
    metric: Metric
    stat: str
    group: str | None = None  # the consumer group, for GROUP_METRICS

    def request(self, spec: Spec, env: Environment, period: int = QUERY_PERIOD) -> dict:
        """One GetMetricData MetricDataQuery."""
        return {
            "Id": self.id,
            "MetricStat": {
                "Metric": {"Namespace": spec.namespace, "MetricName": self.metric.name, "Dimensions": self.metric.dimensions(env.name, self.subject, self.group)},
                "Period": period,
                "Stat": self.stat,
            },
            "ReturnData": True,
        }


def metric_queries(spec: Spec, env: Environment) -> list[MetricQuery]:
    """The latest-value queries of every queue and Redis target (ids q0, q1, ...)."""
    wanted: list[tuple[str, str, Metric, str, str | None]] = []
    for queue in spec.queues:
        for key, metric, stat in QUEUE_METRICS:
            if (key == "in_flight" and not queue.processing) or (key == "dead_letter" and not queue.dead_letter):
                continue
            wanted.append((queue.key, key, metric, stat, None))
    for target in env.targets:
        wanted += [(target.name, key, metric, stat, None) for key, metric, stat in TARGET_METRICS]
    for stream in spec.streams:  # only the listed groups: the spec does not know the others
        wanted += [(stream.key, key, metric, stat, None) for key, metric, stat in STREAM_METRICS]
        wanted += [(stream.key, key, metric, stat, group) for group in stream.groups for key, metric, stat in GROUP_METRICS]
    for item in spec.delayed:
        wanted += [(item.key, key, metric, stat, None) for key, metric, stat in DELAYED_METRICS]
    for pattern in spec.patterns:  # the aggregates; the matched keys are not known to the spec
        wanted += [(pattern.pattern, key, metric, stat, None) for key, metric, stat in PATTERN_METRICS]
    return [MetricQuery(f"q{i}", subject, key, metric, stat, group) for i, (subject, key, metric, stat, group) in enumerate(wanted)]


def _alarm_status(alarm: Alarm, state: tuple[str, str] | None) -> tuple[str, AlarmStatus]:
    """(subject, status) of one rendered alarm and its CloudWatch state (None: not found); see _alarm_group."""
    tags = {t["Key"]: t["Value"] for t in alarm["Tags"]}
    kind = AlarmKind(tags[naming.TAG_KIND])
    _, _, dims = alarm_metric(alarm)
    dims = dict(dims)
    subject = dims.get(metrics.QUEUE, dims.get(metrics.TARGET, dims.get(metrics.PATTERN)))
    name = alarm["AlarmName"]
    tier = tags[naming.TAG_TIER]
    value, reason = state if state else (State.ABSENT.value, "not found in CloudWatch")
    return subject, AlarmStatus(name, kind, tier, Severity(tags[naming.TAG_SEVERITY]), State(value), reason)


def build_report(
    spec: Spec,
    env: Environment,
    *,
    region: str,
    alarms: Sequence[Alarm],
    states: Mapping[str, tuple[str, str]],
    samples: Mapping[str, Sample],
    queries: Sequence[MetricQuery],
    now: datetime,
    series: Mapping[str, Sequence[Sample]] | None = None,
    since: timedelta = DEFAULT_SINCE,
    period: int = QUERY_PERIOD,
) -> StatusReport:
    """Join rendered alarms with their states (by name) and queries with their latest samples and series (by id)."""
    Scope = metrics.Scope
    by_subject: dict[tuple[Scope, str], list[AlarmStatus]] = {}
    by_group: dict[tuple[str, str], list[AlarmStatus]] = {}
    for alarm in metric_alarms(alarms):  # a composite's state is its children's, shown with them
        subject, status = _alarm_status(alarm, states.get(alarm["AlarmName"]))
        group = _alarm_group(alarm)
        if group is None:
            by_subject.setdefault((status.kind.info.scope, subject), []).append(status)
        else:
            by_group.setdefault((subject, group), []).append(status)
    values: dict[tuple[Scope, str], dict[str, Sample]] = {}
    group_values: dict[tuple[str, str], dict[str, Sample]] = {}
    trends: dict[tuple[Scope, str], dict[str, tuple[Sample, ...]]] = {}
    start = window_start(now, since, period)
    for query in queries:
        if query.id in samples:
            where = group_values.setdefault((query.subject, query.group), {}) if query.group else values.setdefault((query.metric.scope, query.subject), {})
            where[query.key] = samples[query.id]
        points = tuple(p for p in (series or {}).get(query.id, ()) if p.timestamp >= start)
        if points and not query.group:
            trends.setdefault((query.metric.scope, query.subject), {})[query.key] = points

    def ordered(items: list[AlarmStatus]) -> tuple[AlarmStatus, ...]:
        return tuple(sorted(items, key=lambda a: (STATE_ORDER[a.state], SEVERITY_ORDER[a.severity], list(AlarmKind).index(a.kind), a.tier)))

    queues = [
        QueueStatus(q, values.get((Scope.QUEUE, q.key), {}), ordered(by_subject.get((Scope.QUEUE, q.key), [])), trends.get((Scope.QUEUE, q.key), {}))
        for q in spec.queues
    ]
    targets = [TargetStatus(t.name, values.get((Scope.TARGET, t.name), {}), ordered(by_subject.get((Scope.TARGET, t.name), []))) for t in env.targets]
    streams = [
        StreamStatus(
            s,
            values.get((Scope.STREAM, s.key), {}),
            tuple(
                sorted(
                    (GroupStatus(g, group_values.get((s.key, g), {}), ordered(by_group.get((s.key, g), []))) for g in s.groups),
                    key=lambda gs: _rank(gs.alarms, gs.name),
                )
            ),
        )
        for s in spec.streams
    ]
    delayed = [DelayedStatus(d, values.get((Scope.DELAYED, d.key), {}), ordered(by_subject.get((Scope.DELAYED, d.key), []))) for d in spec.delayed]
    patterns = [PatternStatus(p, values.get((Scope.PATTERN, p.pattern), {}), ordered(by_subject.get((Scope.PATTERN, p.pattern), []))) for p in spec.patterns]
    return StatusReport(
        spec_path=spec.path,
        environment=env.name,
        region=region,
        namespace=spec.namespace,
        generated_at=now,
        queues=tuple(sorted(queues, key=QueueStatus.rank)),
        targets=tuple(targets),
        streams=tuple(sorted(streams, key=lambda s: _rank(s.alarms, s.stream.key))),
        delayed=tuple(sorted(delayed, key=lambda d: _rank(d.alarms, d.delayed.key))),
        patterns=tuple(sorted(patterns, key=lambda p: _rank(p.alarms, p.pattern.pattern))),
        since=since,
        period=period,
    )


def _alarm_group(alarm: Alarm) -> str | None:
    """The consumer group an alarm watches, if it watches one."""
    _, _, dims = alarm_metric(alarm)
    return dict(dims).get(metrics.CONSUMER_GROUP)


# ---------------------------------------------------------------- text (pure)


def parse_since(text: str) -> timedelta:
    """'30m', '2h', '1h30m', '90s', '1d' as a duration, at most MAX_SINCE; ValueError saying what is allowed."""
    seconds = duration_seconds(text)
    if seconds is None:
        raise ValueError(f"'{text}' is not a duration: write a number and a unit (s, m, h, d), e.g. 30m, 2h, 1h30m")
    since = timedelta(seconds=seconds)
    if not timedelta(minutes=1) <= since <= MAX_SINCE:
        raise ValueError(f"'{text}': the trend window is 1m to {format_age(MAX_SINCE.total_seconds())} (CloudWatch keeps one-minute data that long)")
    return since


def trend_period(since: timedelta) -> int:
    """Seconds per point for a window: one minute, or wider so that a series has at most TREND_POINTS points."""
    minutes = -(-int(since.total_seconds()) // (TREND_POINTS * QUERY_PERIOD))
    return max(1, minutes) * QUERY_PERIOD


def change(points: Sequence[Sample]) -> float | None:
    """The latest value minus the first one in the window; None with fewer than two points."""
    return points[-1].value - points[0].value if len(points) >= 2 else None


def sparkline(points: Sequence[Sample], *, start: datetime, end: datetime, bars: str = SPARK_BARS, width: int = SPARK_WIDTH) -> str:
    """The window as `width` characters, each the highest value of its slice, scaled from 0 to the highest
    of all; a space where a slice has no point. '' without points."""
    if not points:
        return ""
    span = max((end - start).total_seconds(), 1.0) / width
    slices: list[float | None] = [None] * width
    for point in points:
        index = min(width - 1, max(0, int((point.timestamp - start).total_seconds() // span)))
        slices[index] = point.value if slices[index] is None else max(slices[index], point.value)
    top = max(v for v in slices if v is not None)
    levels = len(bars) - 1

    def bar(value: float | None) -> str:
        if value is None:
            return " "
        return bars[round(max(0.0, value) / top * levels) if top > 0 else 0]

    return "".join(bar(v) for v in slices)


def _count(sample: Sample | None) -> str:
    if sample is None:
        return "-"
    return _number(sample.value)


def _number(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def _signed(value: float, formatter) -> str:
    """+12, -3, +5m 3s; '0' for no change."""
    if value == 0:
        return "0"
    return ("+" if value > 0 else "-") + formatter(abs(value))


Segment = tuple[str, str]  # (text, ANSI style or "")
Cell = tuple[Segment, ...]


@dataclass(frozen=True)
class Look:
    """What the output can show: ANSI colour, Unicode (sparkline bars, the ellipsis)."""

    colour: bool = False
    unicode: bool = False

    @property
    def ellipsis(self) -> str:
        return ELLIPSIS if self.unicode else ASCII_ELLIPSIS

    @property
    def bars(self) -> str:
        return SPARK_BARS if self.unicode else SPARK_ASCII


def _plain(text: str) -> Cell:
    return ((text, ""),)


def _cell_len(cell: Cell) -> int:
    return sum(len(text) for text, _ in cell)


def _truncate(cell: Cell, width: int, ellipsis: str = ELLIPSIS) -> Cell:
    """Cut a cell to `width` characters, ending with an ellipsis when something was cut."""
    if _cell_len(cell) <= width:
        return cell
    if width <= len(ellipsis):
        return ((_paint(cell, False)[:width], ""),)
    room, out = width - len(ellipsis), []
    for text, style in cell:
        if room <= 0:
            break
        out.append((text[:room], style))
        room -= len(text[:room])
    out.append((ellipsis, ""))
    return tuple(out)


def _middle(text: str, width: int, ellipsis: str = ELLIPSIS) -> str:
    """Shorten a queue key in the middle: its start and its end both tell queues apart."""
    if len(text) <= width:
        return text
    if width <= len(ellipsis):
        return text[:width]
    head = (width - len(ellipsis) + 1) // 2
    tail = width - len(ellipsis) - head
    return text[:head] + ellipsis + (text[-tail:] if tail else "")


def _paint(cell: Cell, colour: bool) -> str:
    return "".join(f"{style}{text}{RESET}" if colour and style and text else text for text, style in cell)


def _alarms_cell(alarms: Sequence[AlarmStatus], *, compact: bool = False) -> Cell:
    """'ALARM depth/critical  OK lag/warning lag/critical', grouped by state, worst first.

    compact names only the alarms that are not OK and counts the rest: 'ALARM depth/critical  2 OK'.
    """
    if not alarms:
        return _plain("no alarms")
    segments: list[Segment] = []
    for state in STATE_ORDER:
        group = [a.label for a in alarms if a.state is state]
        if group:
            if segments:
                segments.append(("  ", ""))
            if compact and state is State.OK:
                segments += [(f"{len(group)} ", ""), (STATE_LABELS[state], STATE_STYLES[state])]
            else:
                segments += [(STATE_LABELS[state], STATE_STYLES[state]), (" " + " ".join(group), "")]
    return tuple(segments)


@dataclass(frozen=True)
class TrendView:
    """What a trend cell needs besides the row: the window and how to draw."""

    start: datetime
    end: datetime
    look: Look


def _trend_cell(points: Sequence[Sample], formatter, view: TrendView, change_width: int) -> Cell:
    """'▁▂▃▅▇█   +120': the sparkline, then the change since the window's first point, right-aligned."""
    if not points:
        return _plain("-")
    spark = sparkline(points, start=view.start, end=view.end, bars=view.look.bars)
    moved = change(points)
    text = _signed(moved, formatter) if moved is not None else ""
    style = "" if not moved else (RISING if moved > 0 else FALLING)
    return ((spark + " " + " " * (change_width - len(text)), ""), (text, style))


@dataclass(frozen=True)
class Column:
    """One column of the queue table: its header, alignment, and the cell of a queue's row.

    drop: the order in which optional columns go when the table is too wide (None: never dropped).
    trend: a QUEUE_METRICS key whose series the column draws (cells are then built by `_trend_cell`).
    """

    header: str
    right: bool
    cell: Callable[[QueueStatus], Cell] | None = None
    drop: int | None = None
    trend: tuple[str, Callable[[float], str]] | None = None


def _queue_columns(report: StatusReport) -> tuple[Column, ...]:
    """The queue table's columns, left to right; a new column is one more entry here."""
    window = format_age(report.since.total_seconds()).replace(" ", "")
    return (
        Column("QUEUE", False, lambda q: _plain(q.queue.key)),
        Column("DEPTH", True, lambda q: _plain(_count(q.values.get("depth")))),
        Column(f"DEPTH {window}", False, drop=4, trend=("depth", _number)),
        Column("OLDEST", True, lambda q: _plain(format_age(q.values["oldest_age_seconds"].value) if "oldest_age_seconds" in q.values else "-"), drop=5),
        Column(f"OLDEST {window}", False, drop=2, trend=("oldest_age_seconds", format_age)),
        Column("IN-FLIGHT", True, lambda q: _plain(_count(q.values.get("in_flight")) if q.queue.processing else ""), drop=0),
        Column("DLQ", True, lambda q: _plain(_count(q.values.get("dead_letter")) if q.queue.dead_letter else ""), drop=1),
        Column("DRAIN", False, lambda q: _plain(q.drain.words()), drop=-1),
        Column("ALARMS", False, lambda q: _alarms_cell(q.alarms)),
    )


QUEUE_KEEP_WIDTH = 40  # queue keys up to this long are kept whole while columns can be dropped
QUEUE_MIN_WIDTH = 16  # a shortened queue key stays recognisable
ALARMS_MIN_WIDTH = 28  # room for the worst state and an alarm or two
SHORTEN_QUEUE_AT = 3  # columns whose drop rank is below this go before queue keys are shortened
_GAP = "  "


def _fit_widths(natural: list[int], width: int | None, drops: Sequence[tuple[int, int]]) -> tuple[list[int], list[int]]:
    """(column widths, indexes of the columns kept) so that a row fits `width` (None: no limit).

    The first column is the queue key, the last the alarms; `drops` are (rank, column index) of the
    optional ones. The numbers stay whole and ALARMS keeps at least ALARMS_MIN_WIDTH. Optional
    columns go lowest rank first; queue keys stay whole (up to QUEUE_KEEP_WIDTH) until the ranks
    below SHORTEN_QUEUE_AT are gone, and are shortened before the others go.
    """
    queue, alarms = 0, len(natural) - 1
    widths = list(natural)
    kept = list(range(len(natural)))
    if width is None:
        return widths, kept
    alarms_floor = min(natural[alarms], ALARMS_MIN_WIDTH)
    steps: list[int | None] = [None] + [index for _, index in sorted(drops)]
    shorten_after = sum(1 for rank, _ in drops if rank < SHORTEN_QUEUE_AT)
    for number, drop in enumerate(steps):
        if drop is not None:
            kept.remove(drop)
        floors = [min(natural[queue], QUEUE_KEEP_WIDTH)]
        if number >= shorten_after:
            floors.append(min(natural[queue], QUEUE_MIN_WIDTH))
        for queue_floor in floors:
            room = width - sum(natural[i] for i in kept if i not in (queue, alarms)) - len(_GAP) * (len(kept) - 1)
            widths[queue] = min(natural[queue], max(queue_floor, room - alarms_floor))
            widths[alarms] = min(natural[alarms], room - widths[queue])
            if widths[alarms] >= alarms_floor:
                return widths, kept
    widths[alarms] = max(1, widths[alarms])  # narrower than any sensible table: lines are cut
    return widths, kept


def _fit_line(cell: Cell, width: int | None, look: Look) -> str:
    return _paint(cell if width is None else _truncate(cell, width, look.ellipsis), look.colour)


def _queue_rows(report: StatusReport, columns: Sequence[Column], look: Look) -> list[list[Cell]]:
    view = TrendView(window_start(report.generated_at, report.since, report.period), report.generated_at, look)
    rows: list[list[Cell]] = [[] for _ in report.queues]
    for column in columns:
        if column.trend is None:
            for row, q in zip(rows, report.queues):
                row.append(column.cell(q))
            continue
        key, formatter = column.trend
        moves = [change(q.series.get(key, ())) for q in report.queues]
        change_width = max((len(_signed(m, formatter)) for m in moves if m is not None), default=0)
        for row, q in zip(rows, report.queues):
            row.append(_trend_cell(q.series.get(key, ()), formatter, view, change_width))
    return rows


def render_table(report: StatusReport, *, width: int | None = None, colour: bool = False, unicode: bool = False) -> str:
    """The status as text: a summary line, one row per queue (worst first) with its trend, one line per Redis target."""
    look = Look(colour, unicode)
    counts = ", ".join(f"{report.count(s)} {s.value}" for s in STATE_ORDER if report.count(s) or s in (State.ALARM, State.OK))
    when = report.generated_at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    summary_style = STATE_STYLES[State.ALARM] if report.count(State.ALARM) else ""
    summary: Cell = ((f"{report.environment}: ", ""), (counts, summary_style), (f" ({report.region}, {report.namespace}, {when})", ""))
    lines = [_fit_line(summary, width, look)]
    columns = _queue_columns(report)
    rows: list[list[Cell]] = [[_plain(c.header) for c in columns], *_queue_rows(report, columns, look)]
    natural = [max(_cell_len(row[i]) for row in rows) for i in range(len(columns))]
    widths, kept = _fit_widths(natural, width, [(c.drop, i) for i, c in enumerate(columns) if c.drop is not None])
    alarms = len(columns) - 1
    if widths[alarms] < natural[alarms]:  # name only the alarms that are not OK
        for row, q in zip(rows[1:], report.queues):
            row[alarms] = _alarms_cell(q.alarms, compact=True)
    for row in rows:
        line: list[Segment] = []
        for position, i in enumerate(kept):
            last = position == len(kept) - 1
            cell = _plain(_middle(row[i][0][0], widths[i], look.ellipsis)) if i == 0 else _truncate(row[i], widths[i], look.ellipsis)
            pad = " " * (widths[i] - _cell_len(cell))
            if columns[i].right:
                line += [(pad, ""), *cell]
            else:
                line += [*cell, ("" if last else pad, "")]
            if not last:
                line.append((_GAP, ""))
        lines.append(_fit_line(tuple(line), width, look))
    lines += _stream_lines(report, width, look) + _delayed_lines(report, width, look) + _pattern_lines(report, width, look)
    for t in report.targets:
        connection_style = {"OK": STATE_STYLES[State.OK], "FAILING": STATE_STYLES[State.ALARM]}.get(t.connection, STATE_STYLES[State.INSUFFICIENT_DATA])
        beat = t.values.get("heartbeat")
        heard = (
            f"last heartbeat {format_age((report.generated_at - beat.timestamp).total_seconds())} ago"
            if beat
            else f"no heartbeat in the last {format_age(LOOKBACK.total_seconds())}"
        )
        head: Cell = ((f"redis {t.name}: connection ", ""), (t.connection, connection_style), (f"; {heard}; ", ""))
        cell = head + _alarms_cell(t.alarms)
        if width is not None and _cell_len(cell) > width:
            cell = head + _alarms_cell(t.alarms, compact=True)
        lines.append(_fit_line(cell, width, look))
    return "\n".join(lines) + "\n"


def _simple_table(header: Sequence[str], rows: Sequence[Sequence[Cell]], width: int | None, look: Look) -> list[str]:
    """Columns padded to their widest cell; the first is left-aligned, the last (alarms) free, the rest right-aligned."""
    table = [[_plain(h) for h in header], *rows]
    widths = [max(_cell_len(row[i]) for row in table) for i in range(len(header))]
    out = []
    for row in table:
        line: list[Segment] = []
        for i, cell in enumerate(row):
            pad = " " * (widths[i] - _cell_len(cell))
            if i == 0:
                line += [*cell, (pad, ""), (_GAP, "")]
            elif i == len(row) - 1:
                line += [*cell]
            else:
                line += [(pad, ""), *cell, (_GAP, "")]
        out.append(_fit_line(tuple(line), width, look).rstrip())
    return out


def _stream_lines(report: StatusReport, width: int | None, look: Look) -> list[str]:
    """A row per stream (its length) and under it a row per listed consumer group."""
    if not report.streams:
        return []
    rows: list[list[Cell]] = []
    for s in report.streams:
        note = "" if s.stream.groups else "no groups listed: no alarms"
        rows.append([_plain(s.stream.key), _plain(_count(s.values.get("length"))), _plain(""), _plain(""), _plain(""), _plain(note)])
        for g in s.groups:
            v = g.values
            idle = format_age(v["oldest_pending_idle_seconds"].value) if "oldest_pending_idle_seconds" in v else "-"
            rows.append([_plain("  " + g.name), _plain(""), _plain(_count(v.get("lag"))), _plain(_count(v.get("pending"))), _plain(idle), _alarms_cell(g.alarms)])
    return _simple_table(("STREAM / GROUP", "LENGTH", "LAG", "PENDING", "OLDEST-PENDING", "ALARMS"), rows, width, look)


def _delayed_lines(report: StatusReport, width: int | None, look: Look) -> list[str]:
    if not report.delayed:
        return []
    rows = [
        [_plain(d.delayed.key), _plain(_count(d.values.get("total"))), _plain(_count(d.values.get("overdue"))), _alarms_cell(d.alarms)]
        for d in report.delayed
    ]
    return _simple_table(("DELAYED", "TOTAL", "OVERDUE", "ALARMS"), rows, width, look)


def _pattern_lines(report: StatusReport, width: int | None, look: Look) -> list[str]:
    """A row per pattern: its aggregates over the queues it matched in the latest run."""
    if not report.patterns:
        return []
    rows = []
    for p in report.patterns:
        v = p.values
        oldest = format_age(v["oldest_age_max_seconds"].value) if "oldest_age_max_seconds" in v else "-"
        rows.append([_plain(p.pattern.pattern), _plain(_count(v.get("queues"))), _plain(_count(v.get("depth_sum"))), _plain(_count(v.get("depth_max"))), _plain(oldest), _alarms_cell(p.alarms)])
    return _simple_table(("PATTERN", "QUEUES", "DEPTH-SUM", "DEPTH-MAX", "OLDEST", "ALARMS"), rows, width, look)


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z") if moment else None


def _alarms_json(alarms: Iterable[AlarmStatus]) -> list[dict]:
    return [{"name": a.name, "kind": a.kind.value, "tier": a.tier, "severity": a.severity.value, "state": a.state.value, "reason": a.reason} for a in alarms]


def report_json(report: StatusReport) -> dict:
    """The stable JSON form (documented in the README, "The on-call view")."""

    def value(sample: Sample | None) -> float | None:
        return sample.value if sample else None

    queues = []
    for q in report.queues:
        v = q.values
        latest = max((s.timestamp for s in v.values()), default=None)
        queues.append(
            {
                "queue": q.queue.key,
                "name": q.queue.name,
                "state": q.state.value if q.state else None,
                "depth": value(v.get("depth")),
                "oldest_age_seconds": value(v.get("oldest_age_seconds")),
                "in_flight": value(v.get("in_flight")),
                "dead_letter": value(v.get("dead_letter")),
                "sampled_at": _iso(latest),
                "alarms": _alarms_json(q.alarms),
                # The window's points, oldest first, and the latest minus the first (None: fewer than two).
                "series": {key: [[_iso(p.timestamp), p.value] for p in points] for key, points in q.series.items()},
                "change": {key: change(points) for key, points in q.series.items()},
                "drain": q.drain.to_json(),
            }
        )
    targets = []
    for t in report.targets:
        beat = t.values.get("heartbeat")
        targets.append(
            {
                "target": t.name,
                "state": t.state.value if t.state else None,
                "connection": t.connection,
                "last_heartbeat": _iso(beat.timestamp) if beat else None,
                "heartbeat_age_seconds": (report.generated_at - beat.timestamp).total_seconds() if beat else None,
                "alarms": _alarms_json(t.alarms),
            }
        )
    streams = [
        {
            "stream": s.stream.key,
            "name": s.stream.name,
            "state": s.state.value if s.state else None,
            "length": value(s.values.get("length")),
            "groups": [
                {
                    "group": g.name,
                    "state": g.state.value if g.state else None,
                    "lag": value(g.values.get("lag")),
                    "pending": value(g.values.get("pending")),
                    "oldest_pending_idle_seconds": value(g.values.get("oldest_pending_idle_seconds")),
                    "alarms": _alarms_json(g.alarms),
                }
                for g in s.groups
            ],
        }
        for s in report.streams
    ]
    delayed = [
        {
            "queue": d.delayed.key,
            "name": d.delayed.name,
            "state": d.state.value if d.state else None,
            "total": value(d.values.get("total")),
            "overdue": value(d.values.get("overdue")),
            "alarms": _alarms_json(d.alarms),
        }
        for d in report.delayed
    ]
    document = {
        "version": JSON_FORMAT_VERSION,
        "spec": report.spec_path,
        "environment": report.environment,
        "region": report.region,
        "namespace": report.namespace,
        "generated_at": _iso(report.generated_at),
        "summary": {s.value: report.count(s) for s in STATE_ORDER},
        "queues": queues,
        "targets": targets,
    }
    # New keys only, so no version bump; present when the spec has streams or delayed sets.
    document["trend"] = {"since_seconds": int(report.since.total_seconds()), "period_seconds": report.period}
    if report.streams:
        document["streams"] = streams
    if report.delayed:
        document["delayed"] = delayed
    if report.patterns:
        document["patterns"] = [
            {
                "pattern": p.pattern.pattern,
                "name": p.pattern.name,
                "state": p.state.value if p.state else None,
                **{key: value(p.values.get(key)) for key, _, _ in PATTERN_METRICS},
                "alarms": _alarms_json(p.alarms),
            }
            for p in report.patterns
        ]
    return document


# ---------------------------------------------------------------- CloudWatch (thin)


def fetch_alarm_states(cloudwatch, names: Sequence[str]) -> dict[str, tuple[str, str]]:
    """{alarm name: (state, reason)} for the named alarms that exist."""
    from monitor.cloudwatch.api import describe_alarms

    return {a["AlarmName"]: (a["StateValue"], a.get("StateReason", "")) for a in describe_alarms(cloudwatch, names=list(names))}


def window_start(now: datetime, length: timedelta, period: int) -> datetime:
    """The start of a window ending now, on a period boundary (as GetMetricData's points are)."""
    moment = (now - length).timestamp()
    return datetime.fromtimestamp(moment - moment % period, timezone.utc)


def fetch_series(cloudwatch, requests: Sequence[dict], *, start: datetime, end: datetime) -> dict[str, tuple[Sample, ...]]:
    """{query id: its datapoints between start and end, oldest first}: 500 queries a call, never one per queue."""
    from monitor.cloudwatch.api import metric_data

    found = metric_data(cloudwatch, requests, start=start, end=end, ScanBy="TimestampDescending")
    return {query_id: tuple(Sample(float(v), t) for t, v in sorted(points, key=lambda p: p[0])) for query_id, points in found.items() if points}


def latest_samples(series: Mapping[str, Sequence[Sample]], *, now: datetime) -> dict[str, Sample]:
    """{query id: its most recent point}, for points no older than LOOKBACK."""
    return {query_id: points[-1] for query_id, points in series.items() if points and points[-1].timestamp >= now - LOOKBACK}


def collect_status(spec: Spec, env: Environment, cloudwatch, *, now: datetime | None = None, since: timedelta = DEFAULT_SINCE) -> StatusReport:
    """Ask CloudWatch for the alarm states, the series of the last `since` (and LOOKBACK), and build the report."""
    from monitor.cloudwatch.clients import translate_errors

    now = now or datetime.now(timezone.utc)
    alarms = render_alarms(spec, env)
    queries = metric_queries(spec, env)
    period = trend_period(since)
    requests = [q.request(spec, env, period) for q in queries]
    with translate_errors():
        # Metric alarms only: DescribeAlarms would not report composites (no AlarmTypes), nor does the report show them.
        states = fetch_alarm_states(cloudwatch, [a["AlarmName"] for a in metric_alarms(alarms)])
        series = fetch_series(cloudwatch, requests, start=window_start(now, max(since, LOOKBACK), period), end=now)
        minutes = series
        if period != QUERY_PERIOD:
            # A wider period stamps each point with its start, often over LOOKBACK ago, and gives the
            # Maximum over it: the latest values come from one-minute queries over LOOKBACK only, in
            # calls of their own (500 queries each), so a long window never fetches minutes it won't show.
            latest = [q.request(spec, env) for q in queries]
            minutes = fetch_series(cloudwatch, latest, start=window_start(now, LOOKBACK, QUERY_PERIOD), end=now)
    region = cloudwatch.meta.region_name
    return build_report(
        spec, env, region=region, alarms=alarms, states=states, samples=latest_samples(minutes, now=now), queries=queries, now=now,
        series=series, since=since, period=period,
    )


# ---------------------------------------------------------------- the command


def terminal_width(stream: TextIO) -> int | None:
    """The width to fit: the terminal's (or $COLUMNS); None (no limit) when writing to a pipe or file."""
    if os.environ.get("COLUMNS") or _isatty(stream):
        return shutil.get_terminal_size().columns
    return None


def use_colour(stream: TextIO, environ: Mapping[str, str] = os.environ) -> bool:
    """ANSI colour on a terminal, unless NO_COLOR is set (no-color.org) or TERM is dumb."""
    return _isatty(stream) and not environ.get("NO_COLOR") and environ.get("TERM") != "dumb"


def use_unicode(stream: TextIO, environ: Mapping[str, str] = os.environ) -> bool:
    """Sparkline bars and the ellipsis on a terminal whose locale and stream are UTF-8 (and TERM is not dumb).

    The locale is read from the environment: Python writes UTF-8 even under the C locale (and sets
    LC_CTYPE=C.UTF-8 itself), but the terminal behind it then need not show it.
    """
    if not _isatty(stream) or environ.get("TERM") == "dumb":
        return False
    encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "").replace("_", "")
    return _utf8_locale(environ) and encoding == "utf8"


# What Python's C-locale coercion (PEP 538) writes into LC_CTYPE by itself when the locale is C.
_COERCED_CTYPES = {"C.UTF-8", "C.utf8", "UTF-8"}


def _utf8_locale(environ: Mapping[str, str]) -> bool:
    """Whether the locale the user set (LC_ALL, else LC_CTYPE, else LANG) is UTF-8."""
    def utf8(name: str) -> bool:
        return re.search(r"utf-?8", name, re.I) is not None

    if environ.get("LC_ALL"):
        return utf8(environ["LC_ALL"])
    ctype = environ.get("LC_CTYPE", "")
    if ctype and ctype not in _COERCED_CTYPES:
        return utf8(ctype)
    return utf8(environ.get("LANG", ""))


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def show(report: StatusReport, output: str, stream: TextIO, *, compact: bool = False) -> None:
    if output == "json":
        import json

        stream.write(json.dumps(report_json(report), indent=None if compact else 2) + "\n")
    else:
        stream.write(render_table(report, width=terminal_width(stream), colour=use_colour(stream), unicode=use_unicode(stream)))
    stream.flush()


def run(
    spec: Spec,
    env: Environment,
    cloudwatch,
    *,
    output: str = "table",
    watch: float | None = None,
    stream: TextIO | None = None,
    sleep: Callable[[float], None] = time.sleep,
    since: timedelta = DEFAULT_SINCE,
) -> ExitStatus:
    """Show the status (trends over `since`) once, or every `watch` seconds until Ctrl-C; the exit status of the last one."""
    stream = stream or sys.stdout
    if not watch:
        report = collect_status(spec, env, cloudwatch, since=since)
        show(report, output, stream)
        return report.exit_status
    status = ExitStatus.SUCCESS
    try:
        while True:
            report = collect_status(spec, env, cloudwatch, since=since)
            if output == "table" and _isatty(stream):
                stream.write(CLEAR_SCREEN)
            show(report, output, stream, compact=True)  # JSON: one document per line
            status = report.exit_status
            sleep(watch)
    except KeyboardInterrupt:
        return status
