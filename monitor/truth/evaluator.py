"""An offline, deterministic model of how CloudWatch evaluates a metric alarm.

Alarms are the PutMetricAlarm parameter dicts the project renders (boto3 shapes): a single metric
(Namespace, MetricName, Dimensions, Statistic, Period) or metric math (Metrics=[...]). Data are raw
samples per metric; several samples may fall in one period.

    data = {MetricKey.of("Hokusai/Queues", "QueueDepth", {"Queue": "q"}): [(t, value), ...]}
    timeline = evaluate(alarm, data, start, end)            # one Evaluation per period boundary
    transitions(timeline)                                   # only the evaluations that changed state
    state_at(timeline, t)                                   # the state in force at time t
    explain(alarm)                                          # when it fires and clears, in words

Semantics (docs/aws-facts.md, "How CloudWatch evaluates an alarm"):
- Periods are aligned to multiples of Period since the epoch; each is reduced to one datapoint by
  the statistic (SampleCount, Average, Sum, Minimum, Maximum; percentiles raise NotSupported).
- An evaluation at boundary T looks at the EVALUATION_RANGE (N + 2 periods) ending at T. With at
  least N real datapoints the N most recent decide; otherwise all real ones plus the fewest filled
  points needed to reach N (filled into the newest empty periods) decide, as TreatMissingData says.
- M (DatapointsToAlarm, default N) breaching points: ALARM, else OK; under "missing" and "ignore"
  see `decide` for when the data are not enough to say.
- Evaluation happens once per period boundary (CloudWatch evaluates every minute for periods of
  a minute or more; between two boundaries the datapoints it sees are the same ones, so one
  evaluation per period gives the same states, only the timing within a period is coarser).
- Metric math is computed over the evaluation range only, as CloudWatch queries it: DIFF and RATE
  have no value at the oldest period of the range.
"""

from __future__ import annotations

import enum
import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from monitor.errors import ExitStatus, MonitorError
from monitor.spec.kinds import Comparison, TreatMissingData, period_words
from monitor.spec.metrics import ENVIRONMENT
from monitor.truth import metric_math

# AWS documents the evaluation range only by example: N=3 retrieves the 5 most recent periods.
# We use N + 2 for every N; it reproduces every documented truth-table row.
EVALUATION_RANGE_EXTRA_PERIODS = 2
# PutMetricAlarm: Period is 10, 20, 30 (high resolution) or a multiple of 60.
HIGH_RESOLUTION_PERIODS = (10, 20, 30)
SECONDS_PER_MINUTE = 60
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


class State(str, enum.Enum):
    OK = "OK"
    ALARM = "ALARM"
    INSUFFICIENT_DATA = "INSUFFICIENT_DATA"


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

    @property
    def range_periods(self) -> int:
        """How many periods one evaluation looks at."""
        return self.evaluation_periods + EVALUATION_RANGE_EXTRA_PERIODS


@dataclass(frozen=True)
class Datapoint:
    """One datapoint an evaluation used: real, or filled in for an empty period (value None)."""

    time: int  # start of its period
    value: float | None
    real: bool
    breaching: bool  # filled points count as breaching only under TreatMissingData=breaching


@dataclass(frozen=True)
class Evaluation:
    """The outcome of one evaluation at `time` (a period boundary)."""

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
    if "Metrics" in params:
        period, metrics, expressions, returned = _parse_math(name, params)
    else:
        period = int(need("Period"))
        statistic = _statistic(name, params.get("Statistic"), params.get("ExtendedStatistic"))
        metrics = (MetricQuery(SINGLE_METRIC_ID, MetricKey.from_metric(params), statistic),)
        expressions, returned = (), SINGLE_METRIC_ID
    if period <= 0 or (period not in HIGH_RESOLUTION_PERIODS and period % SECONDS_PER_MINUTE):
        raise InvalidAlarm(f"alarm {name}: Period {period} must be 10, 20, 30 or a multiple of 60")
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
    )


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
            expressions.append(ExpressionQuery(query_id, entry["Expression"], metric_math.parse(entry["Expression"])))
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
    """Start of the period holding time t (periods are aligned to multiples of `period`)."""
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
    """Per-period datapoints {period start: value} of raw samples; periods without samples are absent."""
    buckets: dict[int, list[float]] = defaultdict(list)
    for t, value in samples:
        buckets[period_start(t, period)].append(value)
    return {start: reduce(values, statistic) for start, values in sorted(buckets.items())}


def decide(
    points: Sequence[tuple[int, float | None]],
    breaches: Callable[[float], bool],
    evaluation_periods: int,
    datapoints_to_alarm: int,
    treat_missing: TreatMissingData,
    previous: State,
) -> tuple[State, tuple[Datapoint, ...], str]:
    """State from the evaluation range `points` (oldest first, value None = no data in that period).

    With fewer than N real points under "missing" or "ignore", the filled points are unknown:
    M real breaching points still mean ALARM and one real non-breaching point means OK; if only
    breaching points exist but fewer than M, "ignore" keeps the state and "missing" goes to ALARM
    when the oldest evaluated point is real (the metric stopped while breaching) and to
    INSUFFICIENT_DATA otherwise, as the documented rows `X----` and `----X` require.
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
    good = sum(1 for p in real if not p.breaching)
    used = f"{len(real)} real and {len(fills)} filled as {treat_missing.value}: {_values(chosen)}"
    if treat_missing in (TreatMissingData.BREACHING, TreatMissingData.NOT_BREACHING) or bad >= m:
        state = State.ALARM if bad >= m else State.OK
        return state, chosen, f"{bad} of {n} datapoints breaching ({m} needed for ALARM); {used}"
    if good:
        return State.OK, chosen, f"{good} real datapoint(s) not breaching, {bad} breaching ({m} needed); {used}"
    if not real:
        if treat_missing is TreatMissingData.IGNORE:
            return previous, (), f"no data in the last {len(points)} periods; ignored, the state stays {previous.value}"
        return State.INSUFFICIENT_DATA, (), f"no data in the last {len(points)} periods"
    if treat_missing is TreatMissingData.IGNORE:
        return previous, chosen, f"{bad} breaching ({m} needed), the rest missing; the state stays {previous.value}; {used}"
    if chosen[0].real:
        return State.ALARM, chosen, f"the oldest evaluated datapoint breaches and none is not breaching (data stopped); {used}"
    return State.INSUFFICIENT_DATA, chosen, f"{bad} breaching ({m} needed), the rest missing; {used}"


def _values(points: Sequence[Datapoint]) -> str:
    return "[" + ", ".join("-" if p.value is None else _number(p.value) for p in points) + "]"


def _number(x: float) -> str:
    """A number without a needless '.0'."""
    x = float(x)
    return str(int(x)) if x.is_integer() and abs(x) < 1e15 else repr(x)


def _range_series(
    config: AlarmConfig, per_query: Mapping[str, Mapping[int, float]], grid: Sequence[int]
) -> dict[int, float]:
    """The returned query's values over the evaluation range `grid`."""
    env: dict[str, metric_math.Value] = {
        q.id: {t: per_query[q.id][t] for t in grid if t in per_query[q.id]} for q in config.metrics
    }
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


def evaluate(
    alarm: Mapping | AlarmConfig,
    data: MetricData,
    start: float,
    end: float,
    *,
    initial_state: State | str = State.INSUFFICIENT_DATA,
) -> list[Evaluation]:
    """Evaluate the alarm at every period boundary T with start < T <= end, each seeing the periods before T."""
    config = alarm if isinstance(alarm, AlarmConfig) else parse_alarm(alarm)
    per_query = {q.id: aggregate(data.get(q.key, ()), q.statistic, config.period) for q in config.metrics}
    state = State(initial_state)
    timeline = []
    boundary = period_start(start, config.period) + config.period
    while boundary <= end:
        grid = [boundary - k * config.period for k in range(config.range_periods, 0, -1)]
        series = _range_series(config, per_query, grid)
        state, chosen, reason = decide(
            [(t, series.get(t)) for t in grid],
            lambda v: config.comparison.breaches(v, config.threshold),
            config.evaluation_periods,
            config.datapoints_to_alarm,
            config.treat_missing,
            state,
        )
        timeline.append(Evaluation(boundary, state, chosen, reason))
        boundary += config.period
    return timeline


def transitions(timeline: Sequence[Evaluation], initial_state: State | str = State.INSUFFICIENT_DATA) -> list[Evaluation]:
    """The evaluations that changed the state (the first one counts if it left `initial_state`)."""
    changes, state = [], State(initial_state)
    for evaluation in timeline:
        if evaluation.state is not state:
            changes.append(evaluation)
            state = evaluation.state
    return changes


def state_at(timeline: Sequence[Evaluation], t: float, initial_state: State | str = State.INSUFFICIENT_DATA) -> State:
    """The state in force at time t: that of the last evaluation at or before t."""
    state = State(initial_state)
    for evaluation in timeline:
        if evaluation.time > t:
            break
        state = evaluation.state
    return state


def _metric_words(query: MetricQuery) -> str:
    # Every alarm of one deployment watches the same Environment, so naming it is noise.
    dims = sorted((k, v) for k, v in query.key.dimensions if k != ENVIRONMENT)
    where = f" ({', '.join(f'{k}={v}' for k, v in dims)})" if dims else ""
    return f"the {_STATISTIC_WORDS[query.statistic]} of {query.key.name}{where}"


def explain(alarm: Mapping | AlarmConfig) -> str:
    """When the alarm fires and when it clears, in one sentence."""
    config = alarm if isinstance(alarm, AlarmConfig) else parse_alarm(alarm)
    metrics = {q.id: q for q in config.metrics}
    expressions = {q.id: q for q in config.expressions}

    def ref_words(query_id: str) -> str:
        if query_id in metrics:
            return _metric_words(metrics[query_id])
        return metric_math.describe(expressions[query_id].node, ref_words, _number)

    n, m, unit = config.evaluation_periods, config.datapoints_to_alarm, period_words(config.period)
    if n == 1:
        window = f"in the latest {unit} period"
    elif m == n:
        window = f"in each of the last {n} {unit} periods"
    else:
        window = f"in {m} of the last {n} {unit} periods"
    return (
        f"ALARM when {ref_words(config.returned)} {_COMPARISON_WORDS[config.comparison]} {_number(config.threshold)} "
        f"{window}; OK otherwise; {_MISSING_WORDS[config.treat_missing]}."
    )
