"""An offline, deterministic model of how CloudWatch evaluates a metric alarm.

Alarms are the PutMetricAlarm parameter dicts the project renders (boto3 shapes): a single metric
(Namespace, MetricName, Dimensions, Statistic, Period) or metric math (Metrics=[...]). Data are raw
samples per metric; several samples may fall in one period.

    data = {MetricKey.of("Hokusai/Queues", "QueueDepth", {"Queue": "q"}): [(t, value), ...]}
    timeline = evaluate(alarm, data, start, end)            # one Evaluation per minute (10 s: high resolution)
    transitions(timeline)                                   # only the evaluations that changed state
    state_at(timeline, t)                                   # the state in force at time t
    explain(alarm)                                          # when it fires and clears, in words

Semantics (shared/docs/aws-facts.md, "How CloudWatch evaluates an alarm"):
- CloudWatch evaluates every minute (every 10 s for 10/20/30 s periods), not once per period.
- Each evaluation at time T looks at the evaluation range: N + 2 periods (an ASSUMPTION: AWS
  documents the range only by example, 5 periods for N = 3, and says it depends on the period).
  With the default sliding window (EvaluationWindow absent or SlidingWindow) the periods are
  counted back from T: [T - P, T), [T - 2P, T - P), ... With a WallClockWindow they are the latest
  periods aligned to the clock in its time zone (a day to midnight, a week to Monday 00:00) that
  have ended by T: a datapoint counts only once its period is over.
- Each period is reduced to one datapoint by the statistic (SampleCount, Average, Sum, Minimum,
  Maximum; percentiles raise NotSupported); it breaches if `value <op> threshold`.
- With at least N real datapoints the N most recent decide; otherwise see `decide` for how
  TreatMissingData fills the rest, and the rule against premature ALARM under "missing".
- Metric math is computed over the evaluation range only, as CloudWatch queries it: DIFF and RATE
  have no value at the oldest period of the range. Anomaly detection bands raise NotSupported.
"""

from __future__ import annotations

import bisect
import datetime as dt
import enum
import functools
import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from monitor.cloudwatch.rules import State  # noqa: F401  (alarm states: shared with composite rules; re-exported)
from monitor.errors import ExitStatus, MonitorError
from monitor.spec.kinds import Comparison, TreatMissingData, period_words
from monitor.spec.metrics import ENVIRONMENT
from monitor.spec.windows import (
    DEFAULT_TIMEZONE,
    WindowKind,
    read_window_field,
    timezone_of,
    wall_clock_period_problem,
)
from monitor.truth import metric_math

# ASSUMPTION: AWS documents the evaluation range only by example (N=3 retrieves the 5 most recent
# periods) and says it depends on the period; we use N + 2 for every N. It reproduces every
# documented truth-table row, but no document states it for other N.
EVALUATION_RANGE_EXTRA_PERIODS = 2
# PutMetricAlarm: Period is 10, 20, 30 (high resolution) or a multiple of 60.
HIGH_RESOLUTION_PERIODS = (10, 20, 30)
SECONDS_PER_MINUTE = 60
# CloudWatch evaluates every minute, and every 10 s for high-resolution periods (aws-facts.md).
HIGH_RESOLUTION_EVALUATION_SECONDS = 10
# The metric math function of anomaly detection alarms (with ThresholdMetricId instead of Threshold).
ANOMALY_BAND_FUNCTION = "ANOMALY_DETECTION_BAND"
# The three operators PutMetricAlarm accepts only for anomaly detection bands.
ANOMALY_BAND_OPERATORS = (
    "LessThanLowerOrGreaterThanUpperThreshold",
    "LessThanLowerThreshold",
    "GreaterThanUpperThreshold",
)
# The id the single metric of a non-math alarm gets, so both kinds evaluate through one path.
SINGLE_METRIC_ID = "metric"
# Percentiles (p99), trimmed/winsorized means and counts (tm90, TC(..)), percentile rank, IQM.
_EXTENDED_STATISTIC = re.compile(r"(p\d|tm|tc|ts|wm|pr|iqm)", re.IGNORECASE)


class NotSupported(MonitorError):
    """The alarm uses a CloudWatch feature this offline evaluator does not model."""

    exit_status = ExitStatus.INVALID


class InvalidAlarm(MonitorError, ValueError):
    """The alarm parameters are not a valid PutMetricAlarm request."""

    exit_status = ExitStatus.INVALID


class Statistic(str, enum.Enum):
    SAMPLE_COUNT = "SampleCount"
    AVERAGE = "Average"
    SUM = "Sum"
    MINIMUM = "Minimum"
    MAXIMUM = "Maximum"


_COMPARISON_WORDS = {
    Comparison.GE: "is at least",
    Comparison.GT: "is above",
    Comparison.LT: "is below",
    Comparison.LE: "is at most",
}
_STATISTIC_WORDS = {
    Statistic.SAMPLE_COUNT: "number of samples",
    Statistic.AVERAGE: "average",
    Statistic.SUM: "sum",
    Statistic.MINIMUM: "minimum",
    Statistic.MAXIMUM: "maximum",
}
_MISSING_WORDS = {
    TreatMissingData.MISSING: "missing data is left out, and with no data at all the alarm is INSUFFICIENT_DATA",
    TreatMissingData.IGNORE: "missing data keeps the current state",
    TreatMissingData.BREACHING: "missing data counts as breaching",
    TreatMissingData.NOT_BREACHING: "missing data counts as not breaching",
}


@dataclass(frozen=True)
class MetricKey:
    """Identity of one CloudWatch metric: namespace, name and the set of its dimensions."""

    namespace: str
    name: str
    dimensions: frozenset[tuple[str, str]] = frozenset()

    @classmethod
    def of(cls, namespace: str, name: str, dimensions: Mapping[str, str] | Iterable[Mapping[str, str]] = ()) -> MetricKey:
        """Key from dimensions given as {name: value} or as boto3's [{"Name": .., "Value": ..}]."""
        if isinstance(dimensions, Mapping):
            pairs = dimensions.items()
        else:
            pairs = ((d["Name"], d["Value"]) for d in dimensions)
        return cls(namespace, name, frozenset(pairs))

    @classmethod
    def from_metric(cls, metric: Mapping) -> MetricKey:
        """Key of a boto3 Metric dict, or of a single-metric alarm's parameters (same field names)."""
        return cls.of(metric["Namespace"], metric["MetricName"], metric.get("Dimensions", ()))


Samples = Sequence[tuple[float, float]]
MetricData = Mapping[MetricKey, Samples]


@dataclass(frozen=True)
class MetricQuery:
    """One metric an alarm reads, reduced per period by one statistic."""

    id: str
    key: MetricKey
    statistic: Statistic


@dataclass(frozen=True)
class ExpressionQuery:
    """One metric math expression of an alarm."""

    id: str
    text: str
    node: metric_math.Node
    label: str = ""


@dataclass(frozen=True)
class Window:
    """An alarm's evaluation window: sliding (the default) or wall clock in a time zone."""

    kind: WindowKind = WindowKind.SLIDING
    timezone: str | None = None  # wall clock only; None means UTC
    tz: dt.tzinfo = field(default=dt.timezone.utc, compare=False)


SLIDING = Window()


@dataclass(frozen=True)
class AlarmConfig:
    """The parts of a PutMetricAlarm request that decide its state."""

    name: str
    period: int
    evaluation_periods: int
    datapoints_to_alarm: int
    threshold: float
    comparison: Comparison
    treat_missing: TreatMissingData
    metrics: tuple[MetricQuery, ...]
    expressions: tuple[ExpressionQuery, ...]
    returned: str  # id of the query whose values are compared with the threshold
    window: Window = SLIDING

    @property
    def range_periods(self) -> int:
        """How many periods one evaluation looks at."""
        return self.evaluation_periods + EVALUATION_RANGE_EXTRA_PERIODS


@dataclass(frozen=True)
class Datapoint:
    """One datapoint an evaluation used: real, or filled in for an empty period (value None)."""

    time: int  # start of its period (for a sliding window, counted back from the evaluation)
    value: float | None
    real: bool
    breaching: bool  # filled points count as breaching only under TreatMissingData=breaching


@dataclass(frozen=True)
class Evaluation:
    """The outcome of one evaluation at `time` (a whole minute, or a 10 s step for high resolution)."""

    time: int
    state: State
    datapoints: tuple[Datapoint, ...]  # oldest first; the N points that decided, or () if none did
    reason: str


def parse_alarm(params: Mapping) -> AlarmConfig:
    """The evaluation-relevant configuration of PutMetricAlarm parameters."""
    name = params.get("AlarmName", "<unnamed>")

    def need(key: str):
        if key not in params:
            raise InvalidAlarm(f"alarm {name}: {key} is required")
        return params[key]

    comparison_text = need("ComparisonOperator")
    if comparison_text not in Comparison._value2member_map_:
        if comparison_text in ANOMALY_BAND_OPERATORS:
            raise NotSupported(f"alarm {name}: anomaly detection ({comparison_text}) is not modelled")
        raise InvalidAlarm(
            f"alarm {name}: ComparisonOperator {comparison_text!r} is not one of "
            + ", ".join(c.value for c in Comparison)
        )
    treat_text = params.get("TreatMissingData", TreatMissingData.MISSING.value)
    if treat_text not in TreatMissingData._value2member_map_:
        raise InvalidAlarm(
            f"alarm {name}: TreatMissingData {treat_text!r} is not one of " + ", ".join(t.value for t in TreatMissingData)
        )
    n = int(need("EvaluationPeriods"))
    m = int(params.get("DatapointsToAlarm", n))
    if not 1 <= m <= n:
        raise InvalidAlarm(f"alarm {name}: DatapointsToAlarm ({m}) must be between 1 and EvaluationPeriods ({n})")
    if "ThresholdMetricId" in params:
        raise NotSupported(f"alarm {name}: anomaly detection (ThresholdMetricId {params['ThresholdMetricId']!r}) is not modelled")
    if "Metrics" in params:
        period, metrics, expressions, returned = _parse_math(name, params)
    else:
        period = int(need("Period"))
        statistic = _statistic(name, params.get("Statistic"), params.get("ExtendedStatistic"))
        metrics = (MetricQuery(SINGLE_METRIC_ID, MetricKey.from_metric(params), statistic),)
        expressions, returned = (), SINGLE_METRIC_ID
    if period <= 0 or (period not in HIGH_RESOLUTION_PERIODS and period % SECONDS_PER_MINUTE):
        raise InvalidAlarm(f"alarm {name}: Period {period} must be 10, 20, 30 or a multiple of 60")
    window = parse_window(name, params.get("EvaluationWindow"), period)
    return AlarmConfig(
        name=name,
        period=period,
        evaluation_periods=n,
        datapoints_to_alarm=m,
        threshold=float(need("Threshold")),
        comparison=Comparison(comparison_text),
        treat_missing=TreatMissingData(treat_text),
        metrics=metrics,
        expressions=expressions,
        returned=returned,
        window=window,
    )


def parse_window(name: str, value, period: int) -> Window:
    """The Window of PutMetricAlarm's EvaluationWindow (None: sliding); InvalidAlarm with the allowed values."""
    try:
        kind, timezone = read_window_field(value)
    except ValueError as exc:
        raise InvalidAlarm(f"alarm {name}: {exc}") from None
    if kind is WindowKind.SLIDING:
        return SLIDING
    problem = wall_clock_period_problem(period)
    if problem:
        raise InvalidAlarm(f"alarm {name}: {problem}")
    try:
        tz = timezone_of(timezone)
    except ValueError as exc:
        raise InvalidAlarm(f"alarm {name}: WallClockWindow Timezone {exc}") from None
    return Window(WindowKind.WALL_CLOCK, timezone, tz)


def _statistic(name: str, statistic: str | None, extended: str | None) -> Statistic:
    if extended is not None:
        # CloudWatch computes percentiles from its own stored sample distribution, with an
        # approximation it does not document; we cannot reproduce it exactly, so we refuse.
        raise NotSupported(
            f"alarm {name}: extended statistic {extended!r} (percentiles, trimmed means) is not modelled; "
            "supported: " + ", ".join(s.value for s in Statistic)
        )
    if statistic is None:
        raise InvalidAlarm(f"alarm {name}: Statistic or ExtendedStatistic is required")
    if statistic not in Statistic._value2member_map_:
        if _EXTENDED_STATISTIC.match(statistic):  # a MetricStat's Stat may hold a percentile too
            return _statistic(name, None, statistic)
        raise InvalidAlarm(f"alarm {name}: Statistic {statistic!r} is not one of " + ", ".join(s.value for s in Statistic))
    return Statistic(statistic)


def _parse_math(name: str, params: Mapping):
    """(period, metric queries, expression queries, returned id) of a metric math alarm."""
    metrics, expressions, returned, periods = [], [], [], set()
    for entry in params["Metrics"]:
        query_id = entry.get("Id")
        if not query_id:
            raise InvalidAlarm(f"alarm {name}: every entry of Metrics needs an Id")
        if entry.get("ReturnData", True):  # the API's default for ReturnData is true
            returned.append(query_id)
        if "MetricStat" in entry:
            stat = entry["MetricStat"]
            periods.add(int(stat["Period"]))
            statistic = _statistic(name, stat["Stat"], None)
            metrics.append(MetricQuery(query_id, MetricKey.from_metric(stat["Metric"]), statistic))
        elif "Expression" in entry:
            if ANOMALY_BAND_FUNCTION in entry["Expression"].upper():
                raise NotSupported(f"alarm {name}: anomaly detection band ({entry['Expression']}) is not modelled")
            expressions.append(ExpressionQuery(query_id, entry["Expression"], metric_math.parse(entry["Expression"]), entry.get("Label", "")))
        else:
            raise InvalidAlarm(f"alarm {name}: Metrics entry {query_id} has neither MetricStat nor Expression")
    if len(returned) != 1:
        raise InvalidAlarm(f"alarm {name}: exactly one entry of Metrics must have ReturnData true, found {len(returned)}")
    if len(periods) != 1:
        raise InvalidAlarm(f"alarm {name}: all MetricStat entries must share one Period, found {sorted(periods)}")
    ids = [q.id for q in metrics] + [q.id for q in expressions]
    if len(set(ids)) != len(ids):
        raise InvalidAlarm(f"alarm {name}: duplicate Id in Metrics")
    for query in expressions:
        unknown = metric_math.references(query.node) - set(ids)
        if unknown:
            raise InvalidAlarm(f"alarm {name}: expression {query.id} refers to unknown id(s) {', '.join(sorted(unknown))}")
    return periods.pop(), tuple(metrics), tuple(expressions), returned[0]


def period_start(t: float, period: int) -> int:
    """Start of the epoch-aligned period holding time t (a wall-clock window in UTC, for periods up to a day)."""
    return math.floor(t / period) * period


def reduce(values: Sequence[float], statistic: Statistic) -> float:
    """One period's datapoint from its samples."""
    if statistic is Statistic.SAMPLE_COUNT:
        return float(len(values))
    if statistic is Statistic.SUM:
        return float(sum(values))
    if statistic is Statistic.AVERAGE:
        return sum(values) / len(values)
    if statistic is Statistic.MINIMUM:
        return float(min(values))
    return float(max(values))


def aggregate(samples: Samples, statistic: Statistic, period: int) -> dict[int, float]:
    """Per-period datapoints {period start: value} on epoch-aligned periods; periods without samples are absent."""
    buckets: dict[int, list[float]] = defaultdict(list)
    for t, value in samples:
        buckets[period_start(t, period)].append(value)
    return {start: reduce(values, statistic) for start, values in sorted(buckets.items())}


def evaluation_interval(period: int) -> int:
    """How often CloudWatch evaluates an alarm of this period: every 10 s (high resolution) or every minute."""
    return HIGH_RESOLUTION_EVALUATION_SECONDS if period in HIGH_RESOLUTION_PERIODS else SECONDS_PER_MINUTE


def evaluation_times(period: int, start: float, end: float) -> range:
    """The evaluation times T with start < T <= end: whole minutes (or 10 s steps for high resolution)."""
    step = evaluation_interval(period)
    return range(math.floor(start / step) * step + step, math.floor(end) + 1, step)


def clock_boundary(t: float, period: int, tz: dt.tzinfo) -> int:
    """The latest wall-clock period boundary at or before t in time zone tz (a week starts on Monday 00:00)."""
    local = dt.datetime.fromtimestamp(math.floor(t), tz)
    if period == 60:
        local = local.replace(second=0, microsecond=0)
    elif period == 300:
        local = local.replace(minute=local.minute - local.minute % 5, second=0, microsecond=0)
    elif period == 3600:
        local = local.replace(minute=0, second=0, microsecond=0)
    else:
        day = local.date() if period == 86400 else local.date() - dt.timedelta(days=local.weekday())
        local = dt.datetime.combine(day, dt.time(0), tzinfo=tz)
    return int(local.timestamp())


class _Samples:
    """One metric's samples, sorted, reduced over any [start, end) by one statistic."""

    def __init__(self, samples: Samples, statistic: Statistic):
        ordered = sorted(samples)
        self.times = [t for t, _ in ordered]
        self.values = [v for _, v in ordered]
        self.statistic = statistic
        self._known: dict[tuple[float, float], float | None] = {}  # consecutive evaluations share most periods

    def value(self, start: float, end: float) -> float | None:
        key = (start, end)
        if key not in self._known:
            lo, hi = bisect.bisect_left(self.times, start), bisect.bisect_left(self.times, end)
            self._known[key] = reduce(self.values[lo:hi], self.statistic) if hi > lo else None
        return self._known[key]


def decide(
    points: Sequence[tuple[int, float | None]],
    breaches: Callable[[float], bool],
    evaluation_periods: int,
    datapoints_to_alarm: int,
    treat_missing: TreatMissingData,
    previous: State,
) -> tuple[State, tuple[Datapoint, ...], str]:
    """State from the evaluation range `points` (oldest first, value None = no data in that period).

    With fewer than N real points, "breaching" and "notBreaching" fill the newest empty periods.
    Under "missing" and "ignore" only real points count: M breaching ones mean ALARM, one that does
    not breach means OK. When every real point breaches but fewer than M do, "ignore" keeps the
    state and "missing" goes to ALARM only if the oldest breaching point is at least M periods old
    (CloudWatch's rule against premature alarms on intermittent data), else INSUFFICIENT_DATA.
    """
    n, m = evaluation_periods, datapoints_to_alarm
    real = [Datapoint(t, v, True, breaches(v)) for t, v in points if v is not None]
    if len(real) >= n:
        chosen = tuple(real[-n:])
        bad = sum(p.breaching for p in chosen)
        state = State.ALARM if bad >= m else State.OK
        reason = f"{bad} of the last {n} datapoints breaching ({m} needed for ALARM): {_values(chosen)}"
        return state, chosen, reason

    fill_breaching = treat_missing is TreatMissingData.BREACHING
    empty = [t for t, v in points if v is None]
    fills = [Datapoint(t, None, False, fill_breaching) for t in empty[len(empty) - (n - len(real)) :]]
    chosen = tuple(sorted(real + fills, key=lambda p: p.time))
    bad = sum(p.breaching for p in chosen)
    used = f"{len(real)} real and {len(fills)} filled as {treat_missing.value}: {_values(chosen)}"
    if treat_missing in (TreatMissingData.BREACHING, TreatMissingData.NOT_BREACHING):
        state = State.ALARM if bad >= m else State.OK
        return state, chosen, f"{bad} of {n} datapoints breaching ({m} needed for ALARM); {used}"
    if not real:
        if treat_missing is TreatMissingData.IGNORE:
            return previous, (), f"no data in the last {len(points)} periods; ignored, the state stays {previous.value}"
        return State.INSUFFICIENT_DATA, (), f"no data in the last {len(points)} periods"
    good = sum(1 for p in real if not p.breaching)
    if bad >= m:
        return State.ALARM, chosen, f"{bad} real datapoints breaching ({m} needed for ALARM); {used}"
    if good:
        return State.OK, chosen, f"{good} real datapoint(s) not breaching, {bad} breaching ({m} needed); {used}"
    if treat_missing is TreatMissingData.IGNORE:
        return previous, chosen, f"{bad} breaching ({m} needed), the rest missing; the state stays {previous.value}; {used}"
    times = [t for t, _ in points]
    age = len(points) - times.index(real[0].time)  # the newest period of the range is 1 period old
    if age >= m:
        return State.ALARM, chosen, (
            f"every real datapoint breaches and the oldest is {age} periods old, at least DatapointsToAlarm ({m}); {used}"
        )
    return State.INSUFFICIENT_DATA, chosen, (
        f"{bad} breaching ({m} needed), the rest missing, the oldest breaching only {age} period(s) old; {used}"
    )


def _values(points: Sequence[Datapoint]) -> str:
    return "[" + ", ".join("-" if p.value is None else _number(p.value) for p in points) + "]"


def _number(x: float) -> str:
    """A number without a needless '.0'."""
    x = float(x)
    return str(int(x)) if x.is_integer() and abs(x) < 1e15 else repr(x)


def _range_series(config: AlarmConfig, per_query: Mapping[str, Mapping[int, float]], grid: Sequence[int]) -> dict[int, float]:
    """The returned query's values over the evaluation range `grid` (period starts)."""
    env: dict[str, metric_math.Value] = {q.id: dict(per_query[q.id]) for q in config.metrics}
    pending = {q.id: q.node for q in config.expressions}

    def resolve(query_id: str, chain: tuple[str, ...] = ()) -> metric_math.Value:
        if query_id in env:
            return env[query_id]
        if query_id in chain:
            raise InvalidAlarm(f"alarm {config.name}: expressions refer to each other in a cycle: {' -> '.join(chain + (query_id,))}")
        node = pending[query_id]
        for ref in metric_math.references(node):
            resolve(ref, chain + (query_id,))
        env[query_id] = metric_math.evaluate(node, env, grid)
        return env[query_id]

    result = resolve(config.returned)
    if not isinstance(result, dict):
        raise InvalidAlarm(f"alarm {config.name}: the returned expression is a single number, not a time series")
    in_range = set(grid)
    return {t: v for t, v in result.items() if t in in_range and math.isfinite(v)}


def evaluation_range(config: AlarmConfig, t: int, boundary: Callable[[float], int] | None = None) -> list[tuple[int, int]]:
    """The periods (start, end), oldest first, that the evaluation at time t looks at.

    Sliding: periods counted back from t. Wall clock: the latest periods that have ended by t,
    on clock boundaries (`boundary`, defaulting to clock_boundary in the window's time zone).
    """
    p, count = config.period, config.range_periods
    if config.window.kind is WindowKind.SLIDING:
        return [(t - k * p, t - (k - 1) * p) for k in range(count, 0, -1)]
    edge = boundary or (lambda x: clock_boundary(x, p, config.window.tz))
    edges = [edge(t)]
    for _ in range(count):
        edges.append(edge(edges[-1] - 1))
    edges.reverse()
    return list(zip(edges, edges[1:]))


def evaluate(
    alarm: Mapping | AlarmConfig,
    data: MetricData,
    start: float,
    end: float,
    *,
    initial_state: State | str = State.INSUFFICIENT_DATA,
) -> list[Evaluation]:
    """Evaluate the alarm at every evaluation time T with start < T <= end (each whole minute, or 10 s)."""
    config = alarm if isinstance(alarm, AlarmConfig) else parse_alarm(alarm)
    samples = {q.id: _Samples(data.get(q.key, ()), q.statistic) for q in config.metrics}
    boundary = functools.lru_cache(maxsize=None)(lambda x: clock_boundary(x, config.period, config.window.tz))
    breaches = lambda v: config.comparison.breaches(v, config.threshold)  # noqa: E731
    state = State(initial_state)
    timeline: list[Evaluation] = []
    last_range = None
    for t in evaluation_times(config.period, start, end):
        periods = evaluation_range(config, t, boundary)
        if periods == last_range:  # a wall-clock window sees the same ended periods until the next boundary
            timeline.append(replace(timeline[-1], time=t))
            continue
        last_range = periods
        per_query = {
            q_id: {s: v for s, e in periods if (v := q.value(s, e)) is not None} for q_id, q in samples.items()
        }
        grid = [s for s, _ in periods]
        series = _range_series(config, per_query, grid)
        state, chosen, reason = decide(
            [(s, series.get(s)) for s in grid],
            breaches,
            config.evaluation_periods,
            config.datapoints_to_alarm,
            config.treat_missing,
            state,
        )
        timeline.append(Evaluation(t, state, chosen, reason))
    return timeline


def transitions(timeline: Sequence[Evaluation], initial_state: State | str = State.INSUFFICIENT_DATA) -> list[Evaluation]:
    """The evaluations that changed the state (the first one counts if it left `initial_state`)."""
    changes, state = [], State(initial_state)
    for evaluation in timeline:
        if evaluation.state is not state:
            changes.append(evaluation)
            state = evaluation.state
    return changes


def in_force(timeline: Sequence[Evaluation], t: float) -> Evaluation | None:
    """The last evaluation at or before t (None before the first); the timeline is in time order."""
    position = bisect.bisect_right(timeline, t, key=lambda evaluation: evaluation.time)
    return timeline[position - 1] if position else None


def state_at(timeline: Sequence[Evaluation], t: float, initial_state: State | str = State.INSUFFICIENT_DATA) -> State:
    """The state in force at time t: that of the last evaluation at or before t."""
    deciding = in_force(timeline, t)
    return deciding.state if deciding else State(initial_state)


def _metric_words(query: MetricQuery) -> str:
    # Every alarm of one deployment watches the same Environment, so naming it is noise.
    dims = sorted((k, v) for k, v in query.key.dimensions if k != ENVIRONMENT)
    where = f" ({', '.join(f'{k}={v}' for k, v in dims)})" if dims else ""
    return f"the {_STATISTIC_WORDS[query.statistic]} of {query.key.name}{where}"


_CONDITIONAL = re.compile(r"\bIF\s*\(", re.IGNORECASE)


def explain(alarm: Mapping | AlarmConfig) -> str:
    """When the alarm fires and when it clears, in one sentence."""
    config = alarm if isinstance(alarm, AlarmConfig) else parse_alarm(alarm)
    metrics = {q.id: q for q in config.metrics}
    expressions = {q.id: q for q in config.expressions}

    def inputs(query_id: str) -> set[str]:
        if query_id in metrics:
            return {_metric_words(metrics[query_id])}
        return set().union(*(inputs(ref) for ref in metric_math.references(expressions[query_id].node)))

    def ref_words(query_id: str) -> str:
        if query_id in metrics:
            return _metric_words(metrics[query_id])
        query = expressions[query_id]
        if query.label and _CONDITIONAL.search(query.text):
            # A branching formula read aloud is a riddle: its label, and what it is computed from.
            return f'"{query.label}" (metric math over {" and ".join(sorted(inputs(query_id)))})'
        return metric_math.describe(query.node, ref_words, _number)

    n, m, unit = config.evaluation_periods, config.datapoints_to_alarm, period_words(config.period)
    if n == 1:
        window = f"in the latest {unit} period"
    elif m == n:
        window = f"in each of the last {n} {unit} periods"
    else:
        window = f"in {m} of the last {n} {unit} periods"
    return (
        f"ALARM when {ref_words(config.returned)} {_COMPARISON_WORDS[config.comparison]} {_number(config.threshold)} "
        f"{window}{window_words(config)}; OK otherwise; {_MISSING_WORDS[config.treat_missing]}."
    )


def window_words(config: AlarmConfig) -> str:
    """How the periods are laid out, as a clause: '' when a sliding window's periods are whole evaluation steps."""
    interval = evaluation_interval(config.period)
    if config.window.kind is WindowKind.WALL_CLOCK:
        where = config.window.timezone or DEFAULT_TIMEZONE
        return f", whole periods on the clock in {where}, each counted once it has ended (wall-clock window)"
    if config.period == interval:
        return ""
    every = "10 seconds" if interval == HIGH_RESOLUTION_EVALUATION_SECONDS else "minute"
    return f", counted back from each evaluation every {every} (sliding window)"
