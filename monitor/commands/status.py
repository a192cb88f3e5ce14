"""`provision-alarms status`: alarm states and the latest queue metrics, one row per queue, worst first.

The core is pure (`metric_queries`, `build_report`, `render_table`, `report_json`, `format_age`);
`collect_status` is the thin layer that asks CloudWatch, with a client it is handed.
"""

from __future__ import annotations

import enum
import os
import shutil
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable, Mapping, Sequence, TextIO

from monitor.cloudwatch.alarms import Alarm, alarm_metric, metric_alarms, render_alarms
from monitor.cloudwatch.dashboard import SEVERITY_ORDER, queue_rank
from monitor.errors import ExitStatus
from monitor.spec import metrics, naming
from monitor.spec.kinds import AlarmKind, Severity
from monitor.spec.metrics import Metric
from monitor.spec.model import DelayedQueue, Environment, Queue, Spec, Stream

LOOKBACK = timedelta(minutes=15)  # how far back the latest datapoint is looked for
QUERY_PERIOD = 60  # seconds per datapoint asked of GetMetricData
JSON_FORMAT_VERSION = 1  # bump when the JSON structure changes incompatibly

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

    def rank(self) -> tuple:
        worst = _worst(self.alarms)
        if worst is None:
            return (len(STATE_ORDER), 0, queue_rank(self.queue))
        return (STATE_ORDER[worst.state], SEVERITY_ORDER[worst.severity], queue_rank(self.queue))


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

    @property
    def alarms(self) -> list[AlarmStatus]:
        owners = [*self.queues, *self.streams, *self.delayed, *self.targets]
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

    def request(self, spec: Spec, env: Environment) -> dict:
        """One GetMetricData MetricDataQuery."""
        return {
            "Id": self.id,
            "MetricStat": {
                "Metric": {"Namespace": spec.namespace, "MetricName": self.metric.name, "Dimensions": self.metric.dimensions(env.name, self.subject, self.group)},
                "Period": QUERY_PERIOD,
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
    for key, metric, stat in TARGET_METRICS:
        wanted.append((env.redis.name, key, metric, stat, None))
    for stream in spec.streams:  # only the listed groups: the spec does not know the others
        wanted += [(stream.key, key, metric, stat, None) for key, metric, stat in STREAM_METRICS]
        wanted += [(stream.key, key, metric, stat, group) for group in stream.groups for key, metric, stat in GROUP_METRICS]
    for item in spec.delayed:
        wanted += [(item.key, key, metric, stat, None) for key, metric, stat in DELAYED_METRICS]
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
) -> StatusReport:
    """Join rendered alarms with their states (by name) and queries with their latest samples (by id)."""
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
    for query in queries:
        if query.id in samples:
            where = group_values.setdefault((query.subject, query.group), {}) if query.group else values.setdefault((query.metric.scope, query.subject), {})
            where[query.key] = samples[query.id]

    def ordered(items: list[AlarmStatus]) -> tuple[AlarmStatus, ...]:
        return tuple(sorted(items, key=lambda a: (STATE_ORDER[a.state], SEVERITY_ORDER[a.severity], list(AlarmKind).index(a.kind), a.tier)))

    queues = [QueueStatus(q, values.get((Scope.QUEUE, q.key), {}), ordered(by_subject.get((Scope.QUEUE, q.key), []))) for q in spec.queues]
    target = env.redis.name
    targets = [TargetStatus(target, values.get((Scope.TARGET, target), {}), ordered(by_subject.get((Scope.TARGET, target), [])))]
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
    )


def _alarm_group(alarm: Alarm) -> str | None:
    """The consumer group an alarm watches, if it watches one."""
    _, _, dims = alarm_metric(alarm)
    return dict(dims).get(metrics.CONSUMER_GROUP)


# ---------------------------------------------------------------- text (pure)


def format_age(seconds: float | None) -> str:
    """Human age in its two largest units: 45s, 15m 3s, 2h 5m, 3d 4h ('-' when unknown)."""
    if seconds is None:
        return "-"
    total = max(0, int(seconds))
    units = ((86400, "d"), (3600, "h"), (60, "m"), (1, "s"))
    for (size, name), (small_size, small_name) in zip(units, units[1:]):
        if total >= size:
            first, rest = divmod(total, size)
            second = rest // small_size
            return f"{first}{name} {second}{small_name}" if second else f"{first}{name}"
    return f"{total}s"


def _count(sample: Sample | None) -> str:
    if sample is None:
        return "-"
    return f"{sample.value:.0f}" if float(sample.value).is_integer() else f"{sample.value:.1f}"


Segment = tuple[str, str]  # (text, ANSI style or "")
Cell = tuple[Segment, ...]


def _plain(text: str) -> Cell:
    return ((text, ""),)


def _cell_len(cell: Cell) -> int:
    return sum(len(text) for text, _ in cell)


def _truncate(cell: Cell, width: int) -> Cell:
    """Cut a cell to `width` characters, ending with an ellipsis when something was cut."""
    if _cell_len(cell) <= width:
        return cell
    if width <= 0:
        return ()
    room, out = width - len(ELLIPSIS), []
    for text, style in cell:
        if room <= 0:
            break
        out.append((text[:room], style))
        room -= len(text[:room])
    out.append((ELLIPSIS, ""))
    return tuple(out)


def _middle(text: str, width: int) -> str:
    """Shorten a queue key in the middle: its start and its end both tell queues apart."""
    if len(text) <= width:
        return text
    if width <= len(ELLIPSIS):
        return text[:width]
    head = (width - len(ELLIPSIS) + 1) // 2
    tail = width - len(ELLIPSIS) - head
    return text[:head] + ELLIPSIS + (text[-tail:] if tail else "")


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


# Columns: header, right-aligned. QUEUE and ALARMS shrink; the optional ones go when there is no room.
_COLUMNS = (("QUEUE", False), ("DEPTH", True), ("OLDEST", True), ("IN-FLIGHT", True), ("DLQ", True), ("ALARMS", False))
_QUEUE, _ALARMS = 0, 5
_DROP_ORDER = (3, 4, 2)  # IN-FLIGHT, then DLQ, then OLDEST
QUEUE_KEEP_WIDTH = 40  # queue keys up to this long are kept whole while columns can be dropped
QUEUE_MIN_WIDTH = 16  # a shortened queue key stays recognisable
ALARMS_MIN_WIDTH = 28  # room for the worst state and an alarm or two
_GAP = "  "


def _fit_widths(natural: list[int], width: int | None) -> tuple[list[int], list[int]]:
    """(column widths, indexes of the columns kept) so that a row fits `width` (None: no limit).

    The numbers stay whole and ALARMS keeps at least ALARMS_MIN_WIDTH. Queue keys stay whole (up to
    QUEUE_KEEP_WIDTH) while dropping optional columns makes room; only then are they shortened.
    """
    widths = list(natural)
    if width is None:
        return widths, list(range(len(_COLUMNS)))
    alarms_floor = min(natural[_ALARMS], ALARMS_MIN_WIDTH)
    for queue_floor in (min(natural[_QUEUE], QUEUE_KEEP_WIDTH), min(natural[_QUEUE], QUEUE_MIN_WIDTH)):
        kept = list(range(len(_COLUMNS)))
        for drop in (None, *_DROP_ORDER):
            if drop is not None:
                kept.remove(drop)
            room = width - sum(natural[i] for i in kept if i not in (_QUEUE, _ALARMS)) - len(_GAP) * (len(kept) - 1)
            widths[_QUEUE] = min(natural[_QUEUE], max(queue_floor, room - alarms_floor))
            widths[_ALARMS] = min(natural[_ALARMS], room - widths[_QUEUE])
            if widths[_ALARMS] >= alarms_floor:
                return widths, kept
    widths[_ALARMS] = max(1, widths[_ALARMS])  # narrower than any sensible table: lines are cut
    return widths, kept


def _fit_line(cell: Cell, width: int | None, colour: bool) -> str:
    return _paint(cell if width is None else _truncate(cell, width), colour)


def render_table(report: StatusReport, *, width: int | None = None, colour: bool = False) -> str:
    """The status as text: a summary line, one row per queue (worst first), one line per Redis target."""
    counts = ", ".join(f"{report.count(s)} {s.value}" for s in STATE_ORDER if report.count(s) or s in (State.ALARM, State.OK))
    when = report.generated_at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    summary_style = STATE_STYLES[State.ALARM] if report.count(State.ALARM) else ""
    summary: Cell = ((f"{report.environment}: ", ""), (counts, summary_style), (f" ({report.region}, {report.namespace}, {when})", ""))
    lines = [_fit_line(summary, width, colour)]
    header = [_plain(c[0]) for c in _COLUMNS]
    rows: list[list[Cell]] = [header]
    for q in report.queues:
        v = q.values
        rows.append(
            [
                _plain(q.queue.key),
                _plain(_count(v.get("depth"))),
                _plain(format_age(v["oldest_age_seconds"].value) if "oldest_age_seconds" in v else "-"),
                _plain(_count(v.get("in_flight")) if q.queue.processing else ""),
                _plain(_count(v.get("dead_letter")) if q.queue.dead_letter else ""),
                _alarms_cell(q.alarms),
            ]
        )
    natural = [max(_cell_len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    widths, kept = _fit_widths(natural, width)
    if widths[_ALARMS] < natural[_ALARMS]:  # name only the alarms that are not OK
        for row, q in zip(rows[1:], report.queues):
            row[_ALARMS] = _alarms_cell(q.alarms, compact=True)
    for row in rows:
        line: list[Segment] = []
        for position, i in enumerate(kept):
            last = position == len(kept) - 1
            cell = _plain(_middle(row[i][0][0], widths[i])) if i == _QUEUE else _truncate(row[i], widths[i])
            pad = " " * (widths[i] - _cell_len(cell))
            if _COLUMNS[i][1]:  # right-aligned
                line += [(pad, ""), *cell]
            else:
                line += [*cell, ("" if last else pad, "")]
            if not last:
                line.append((_GAP, ""))
        lines.append(_fit_line(tuple(line), width, colour))
    lines += _stream_lines(report, width, colour) + _delayed_lines(report, width, colour)
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
        lines.append(_fit_line(cell, width, colour))
    return "\n".join(lines) + "\n"


def _simple_table(header: Sequence[str], rows: Sequence[Sequence[Cell]], width: int | None, colour: bool) -> list[str]:
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
        out.append(_fit_line(tuple(line), width, colour).rstrip())
    return out


def _stream_lines(report: StatusReport, width: int | None, colour: bool) -> list[str]:
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
    return _simple_table(("STREAM / GROUP", "LENGTH", "LAG", "PENDING", "OLDEST-PENDING", "ALARMS"), rows, width, colour)


def _delayed_lines(report: StatusReport, width: int | None, colour: bool) -> list[str]:
    if not report.delayed:
        return []
    rows = [
        [_plain(d.delayed.key), _plain(_count(d.values.get("total"))), _plain(_count(d.values.get("overdue"))), _alarms_cell(d.alarms)]
        for d in report.delayed
    ]
    return _simple_table(("DELAYED", "TOTAL", "OVERDUE", "ALARMS"), rows, width, colour)


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
    if report.streams:
        document["streams"] = streams
    if report.delayed:
        document["delayed"] = delayed
    return document


# ---------------------------------------------------------------- CloudWatch (thin)


def fetch_alarm_states(cloudwatch, names: Sequence[str]) -> dict[str, tuple[str, str]]:
    """{alarm name: (state, reason)} for the named alarms that exist."""
    from monitor.cloudwatch.api import describe_alarms

    return {a["AlarmName"]: (a["StateValue"], a.get("StateReason", "")) for a in describe_alarms(cloudwatch, names=list(names))}


def fetch_latest(cloudwatch, requests: Sequence[dict], *, start: datetime, end: datetime) -> dict[str, Sample]:
    """{query id: the most recent datapoint} for queries that have one between start and end."""
    from monitor.cloudwatch.api import metric_data

    series = metric_data(cloudwatch, requests, start=start, end=end, ScanBy="TimestampDescending")
    latest = {}
    for query_id, points in series.items():
        if points:
            moment, value = max(points, key=lambda point: point[0])
            latest[query_id] = Sample(float(value), moment)
    return latest


def collect_status(spec: Spec, env: Environment, cloudwatch, *, now: datetime | None = None) -> StatusReport:
    """Ask CloudWatch for the alarm states and latest values, and build the report."""
    from monitor.cloudwatch.clients import translate_errors

    now = now or datetime.now(timezone.utc)
    alarms = render_alarms(spec, env)
    queries = metric_queries(spec, env)
    with translate_errors():
        states = fetch_alarm_states(cloudwatch, [a["AlarmName"] for a in alarms])
        samples = fetch_latest(cloudwatch, [q.request(spec, env) for q in queries], start=now - LOOKBACK, end=now)
    region = cloudwatch.meta.region_name
    return build_report(spec, env, region=region, alarms=alarms, states=states, samples=samples, queries=queries, now=now)


# ---------------------------------------------------------------- the command


def terminal_width(stream: TextIO) -> int | None:
    """The width to fit: the terminal's (or $COLUMNS); None (no limit) when writing to a pipe or file."""
    if os.environ.get("COLUMNS") or _isatty(stream):
        return shutil.get_terminal_size().columns
    return None


def use_colour(stream: TextIO) -> bool:
    return _isatty(stream) and not os.environ.get("NO_COLOR")


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
        stream.write(render_table(report, width=terminal_width(stream), colour=use_colour(stream)))
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
) -> ExitStatus:
    """Show the status once, or every `watch` seconds until Ctrl-C; the exit status of the last one."""
    stream = stream or sys.stdout
    if not watch:
        report = collect_status(spec, env, cloudwatch)
        show(report, output, stream)
        return report.exit_status
    status = ExitStatus.SUCCESS
    try:
        while True:
            report = collect_status(spec, env, cloudwatch)
            if output == "table" and _isatty(stream):
                stream.write(CLEAR_SCREEN)
            show(report, output, stream, compact=True)  # JSON: one document per line
            status = report.exit_status
            sleep(watch)
    except KeyboardInterrupt:
        return status
