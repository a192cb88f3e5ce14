"""Alarm scenarios: input series and expected alarm states, run against the alarms the spec renders.

A scenario file (YAML) gives series per queue (or Redis target) and metric in the compact notation
of monitor.truth.series, plus explicit points, and the states expected at given times:

    name: backlog builds up and drains
    environment: development                  # optional; else --env, else the spec's first
    start: 2026-01-01T00:00:00Z               # optional (DEFAULT_START)
    period: 60                                # seconds per notation step (default 60)
    duration: 30m                             # optional; the run also covers every series and `at`
    series:
      hokusai:model_ready_queue:              # a queue key or name, or redis:TARGET for target metrics
        QueueDepth: "0x10 1500x6 0x10"
        DeadLetterDepth: {values: "0x10", points: [[10m30s, 1]]}
    expect:
      - {at: 13m, alarm: hokusai:model_ready_queue/queue_depth/critical, state: ALARM}
      - {from: 20m, until: 30m, alarm: ..., state: OK}      # at every evaluation in the window
      - {none_in: ALARM}                                     # no alarm, at any time of the run

Metric keys come from monitor.spec.metrics (Metric.dimensions), and the alarms are exactly those
render_alarms returns for the environment, so a scenario cannot disagree with the collector or
with what is provisioned. A metric without a series has no data at all.

    results = run_files(paths, spec, env_name)     # what `provision-alarms test` runs
    report(results)                                # the test-runner report; exit_status(results)
    evaluate_all(alarms, data, start, end)         # {alarm name: final Evaluation}
"""

from __future__ import annotations

import datetime as dt
import difflib
import fnmatch
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from monitor.cloudwatch.alarms import Alarm, render_alarms
from monitor.errors import ExitStatus, SpecError, UsageError
from monitor.spec import metrics, naming
from monitor.spec.durations import duration_seconds
from monitor.spec.kinds import CompositeKind, Severity, TreatMissingData, period_words
from monitor.spec.metrics import Scope
from monitor.spec.windows import DEFAULT_TIMEZONE, WindowKind
from monitor.spec.model import Environment, Spec, group_subject
from monitor.spec.schema import REJECTED, Field, ListOf, Node, Num, Obj, Str, accepted_view
from monitor.spec.yamlload import (
    Document,
    LoadError,
    Problem,
    format_path,
    load_document,
)
from monitor.truth import composite, evaluator
from monitor.truth.composite import ActionEvent
from monitor.truth.composite import Outcome as ActionOutcome
from monitor.truth.evaluator import (
    Evaluation,
    MetricData,
    MetricKey,
    NotSupported,
    State,
)
from monitor.truth.series import SeriesSyntaxError, parse_series, period_count

SCENARIO_DIR = "scenarios"
DEFAULT_START = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
DEFAULT_START_SECONDS = int(DEFAULT_START.timestamp())
DEFAULT_PERIOD = 60
# PutMetricData accepts timestamps at most two weeks old, so no real run of data is longer.
MAX_RUN_SECONDS = 14 * 24 * 3600
TARGET_PREFIXES = ("redis:", "target:")
STATES = tuple(s.value for s in State)
# What an `actions:` expectation can say about an alarm's actions in its window.
ACTIONS_RAN, ACTIONS_SUPPRESSED, ACTIONS_NONE = "ran", "suppressed", "none"
ACTIONS_EXPECTED = (ACTIONS_RAN, ACTIONS_SUPPRESSED, ACTIONS_NONE)
Render = Callable[[Spec, Environment], list[Alarm]]

_DURATION_HINT = "an offset from start such as 90s, 15m, 1h30m or 2d, or an ISO-8601 time such as 2026-01-01T00:15:00Z"


class ScenarioError(SpecError):
    """One or more scenario files are invalid; carries every problem found."""


# ---------------------------------------------------------------- the typed scenario


@dataclass(frozen=True)
class Expectation:
    """Alarms expected in `state` (or, when `negated`, not in it) at every checked time of [start, end]."""

    label: str  # what the file names, e.g. hokusai:model_ready_queue/queue_depth/critical, or "no alarm"
    alarms: tuple[str, ...]  # full alarm names; () means every alarm
    state: State
    negated: bool
    start: int
    end: int  # == start for a single `at`
    line: int
    actions: str | None = None  # ran | suppressed | none: about the actions of changes into `state`


@dataclass(frozen=True)
class Scenario:
    path: str
    name: str
    environment: str
    start: int
    end: int
    data: Mapping[MetricKey, tuple[tuple[int, float], ...]]
    expectations: tuple[Expectation, ...]
    labels: Mapping[str, str]  # alarm name -> subject/kind/tier, for the report


@dataclass(frozen=True)
class Failure:
    """One alarm at one time that broke an expectation, with the evaluation in force then."""

    alarm: str
    time: int
    actual: State
    evaluation: Evaluation | None  # None: not evaluated yet at that time
    history: tuple[Evaluation, ...]  # the transitions of the whole run
    events: tuple[ActionEvent, ...] = ()  # actions expectations: the changes in the window and their actions
    found: str = ""  # actions expectations: ran, suppressed, none or mixed


@dataclass(frozen=True)
class Outcome:
    expectation: Expectation
    failures: tuple[Failure, ...]

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass(frozen=True)
class ScenarioResult:
    scenario: Scenario
    outcomes: tuple[Outcome, ...]
    not_modelled: Mapping[str, str]  # alarm name -> why the evaluator cannot run it (left out of none_in)
    actions: Mapping[str, tuple[ActionEvent, ...]] = field(default_factory=dict)  # alarm name -> its actions' fate
    composites: tuple[str, ...] = ()  # names of the composite alarms that ran

    @property
    def passed(self) -> bool:
        return all(o.passed for o in self.outcomes)


# ---------------------------------------------------------------- naming alarms and subjects


@dataclass(frozen=True)
class AlarmIndex:
    """The rendered alarms of one environment and the short `subject/kind/tier` label of each."""

    environment: str
    alarms: Mapping[str, Alarm]  # by AlarmName, in render order
    labels: Mapping[str, str]  # AlarmName -> subject/kind/tier
    aliases: Mapping[str, str]  # every accepted subject/kind/tier spelling (normalised) -> AlarmName

    @classmethod
    def build(cls, spec: Spec, env: Environment, render: Render = render_alarms) -> AlarmIndex:
        """`render` gives the environment's alarms: PutMetricAlarm dicts and PutCompositeAlarm dicts alike."""
        alarms = {a["AlarmName"]: a for a in render(spec, env)}
        labels, aliases = {}, {}
        subjects = [(q.name, (q.key, q.name), q.alarms) for q in spec.queues]
        subjects += [(d.name, (d.key, d.name), d.alarms) for d in spec.delayed]
        # A consumer group's alarms are labelled STREAM_KEY[GROUP]/KIND/TIER.
        subjects += [(group_subject(st.name, g), (f"{st.key}[{g}]", group_subject(st.name, g)), st.alarms) for st in spec.streams for g in st.groups]
        subjects += [(p.name, (p.pattern, p.name), p.alarms) for p in spec.patterns]
        for target in env.targets:
            spellings = tuple(p + target.name for p in TARGET_PREFIXES) + (naming.target_subject(target.name),)
            subjects.append((naming.target_subject(target.name), spellings, spec.target_alarms))
            # The target's composite (incidents): redis:TARGET/target_down/critical.
            down = naming.composite_name(spec.name_prefix, env.name, naming.target_subject(target.name), CompositeKind.TARGET_DOWN)
            labels[down] = f"{spellings[0]}/{CompositeKind.TARGET_DOWN.value}/{Severity.CRITICAL.value}"
            for spelling in spellings:
                aliases.setdefault(_normal_label(f"{spelling}/{CompositeKind.TARGET_DOWN.value}/{Severity.CRITICAL.value}"), down)
        for subject, spellings, rules in subjects:
            # Each tier, then the subject's composites (incidents): QUEUE/unhealthy/SEVERITY.
            named = [(naming.alarm_name(spec.name_prefix, env.name, subject, r.kind, r.tier), r.kind.value, r.tier) for r in rules]
            named += [
                (naming.composite_name(spec.name_prefix, env.name, subject, CompositeKind.UNHEALTHY, s.value), CompositeKind.UNHEALTHY.value, s.value)
                for s in Severity
            ]
            for name, kind, tier in named:
                labels[name] = f"{spellings[0]}/{kind}/{tier}"
                for spelling in spellings:
                    aliases.setdefault(_normal_label(f"{spelling}/{kind}/{tier}"), name)
        return cls(env.name, alarms, {n: labels.get(n, n) for n in alarms}, {k: v for k, v in aliases.items() if v in alarms})

    def label(self, name: str) -> str:
        return self.labels.get(name, name)

    def resolve(self, ref: str) -> str | None:
        """The alarm name for a full name or SUBJECT/KIND/TIER (queue key or name, redis:TARGET; kind with _ or -)."""
        if ref in self.alarms:
            return ref
        return self.aliases.get(_normal_label(ref))

    def unknown(self, ref: str) -> str:
        """The message for an alarm reference that matches nothing: a suggestion and the choices."""
        hint = difflib.get_close_matches(ref, list(self.labels.values()) + list(self.alarms), n=1, cutoff=0.5)
        suggestion = f"; did you mean '{hint[0]}'?" if hint else ""
        return f"unknown alarm '{ref}'{suggestion} (alarms of {self.environment}: {', '.join(self.labels.values())})"

    def select(self, refs: Sequence[str]) -> list[str]:
        """Alarm names for each ref (full name, label or substring of either); every alarm without refs."""
        if not refs:
            return list(self.alarms)
        chosen: list[str] = []
        for ref in refs:
            exact = self.resolve(ref)
            found = [exact] if exact else [n for n in self.alarms if ref in n or ref in self.labels[n]]
            if not found:
                raise UsageError(self.unknown(ref))
            chosen += [n for n in found if n not in chosen]
        return chosen


def _normal_label(label: str) -> str:
    subject, _, rest = label.rpartition("/")
    subject, _, kind = subject.rpartition("/")
    return f"{subject}/{kind.replace('-', '_')}/{rest}"


def _subjects(spec: Spec, env: Environment) -> dict[str, tuple[Scope, str, str | None]]:
    """Every way a scenario may name something measured -> (scope, the dimension value, the consumer group).

    Redis targets (redis:NAME, target:NAME, redis-NAME), delayed sets, streams (their key for
    StreamLength, KEY[GROUP] for a consumer group's three-dimension series), patterns (their
    glob or name, for the aggregates) and queues. A key that a pattern matches is resolved by
    `_subject` (per-key metrics), not listed here.
    """
    names: dict[str, tuple[Scope, str, str | None]] = {}
    for target in env.targets:
        for prefix in TARGET_PREFIXES:
            names[prefix + target.name] = (Scope.TARGET, target.name, None)
        names[naming.target_subject(target.name)] = (Scope.TARGET, target.name, None)
    for pattern in spec.patterns:
        names[pattern.name] = (Scope.PATTERN, pattern.pattern, None)
        names[pattern.pattern] = (Scope.PATTERN, pattern.pattern, None)
    for stream in spec.streams:
        names[stream.name] = (Scope.STREAM, stream.key, None)
        names[stream.key] = (Scope.STREAM, stream.key, None)
        for group in stream.groups:
            names[f"{stream.key}[{group}]"] = (Scope.GROUP, stream.key, group)
    for item in spec.delayed:  # delayed sets: their metrics have two dimensions too (streams' groups have three)
        names[item.name] = (Scope.DELAYED, item.key, None)
        names[item.key] = (Scope.DELAYED, item.key, None)
    for queue in spec.queues:  # a queue wins over a target spelling it collides with
        names[queue.name] = (Scope.QUEUE, queue.key, None)
        names[queue.key] = (Scope.QUEUE, queue.key, None)
    return names


_GROUP_SUBJECT = re.compile(r"(?P<key>.+)\[(?P<group>[^\]]+)\]")


def _subject(spec: Spec, names: Mapping[str, tuple[Scope, str, str | None]], subject: str) -> tuple[Scope, str, str | None] | None:
    """What a series' subject names: a listed name, any consumer group of a stream, or a key a pattern matches."""
    if subject in names:
        return names[subject]
    match = _GROUP_SUBJECT.fullmatch(subject)
    if match and any(s.key == match["key"] for s in spec.streams):
        return (Scope.GROUP, match["key"], match["group"])  # groups not listed are measured too
    if any(fnmatch.fnmatchcase(subject, p.pattern) for p in spec.patterns):
        return (Scope.QUEUE, subject, None)  # a discovered key's own metrics
    return None


# ---------------------------------------------------------------- times


def _utc_seconds(value: dt.datetime | dt.date) -> int:
    if not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if value.tzinfo is None:  # a time without a zone means UTC, as everywhere in this project
        value = value.replace(tzinfo=dt.timezone.utc)
    return int(value.timestamp())


def _absolute_time(value) -> int | None:
    """Epoch seconds of a YAML timestamp or an ISO-8601 string, or None."""
    if isinstance(value, (dt.date, dt.datetime)):
        return _utc_seconds(value)
    if isinstance(value, str):
        try:
            return _utc_seconds(dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00")))
        except ValueError:
            return None
    return None


def parse_time(value, start: int) -> int:
    """Epoch seconds of an offset from `start` (15m, 1h30m) or of an absolute time; ValueError if neither."""
    if isinstance(value, bool):
        raise ValueError(f"found {value}; expected {_DURATION_HINT}")
    if isinstance(value, (dt.date, dt.datetime)):
        return _utc_seconds(value)
    if isinstance(value, int):
        if value == 0:
            return start
        raise ValueError(f"found {value} without a unit; write {value}s or {value}m")
    if isinstance(value, str):
        offset = duration_seconds(value)
        if offset is not None:
            return start + offset
        absolute = _absolute_time(value.strip())
        if absolute is not None:
            return absolute
    raise ValueError(f"found {value!r}; expected {_DURATION_HINT}")


def offset_words(seconds: int) -> str:
    """An offset as scenario files write it: 0m, 13m, 7m30s, 1h05m, 9h00m, -2m."""
    sign, seconds = ("-" if seconds < 0 else ""), abs(int(seconds))
    hours, minutes, secs = seconds // 3600, seconds // 60 % 60, seconds % 60
    text = f"{hours}h" if hours else ""
    if minutes or not secs:
        text += f"{minutes:02d}m" if hours else f"{minutes}m"
    if secs:
        text += f"{secs:02d}s" if text else f"{secs}s"
    return sign + text


def iso(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- the file's shape


class _Anything(Node):
    """A value checked later, by the builder (times, series)."""

    def __init__(self, expected: str):
        self.expected = expected

    def check(self, value, path, doc, out):
        if value is None:
            out.append(doc.problem(path, f"is empty; expected {self.expected}"))
            return REJECTED
        return value


_TIME = _Anything(_DURATION_HINT)
_STATE = Str(enum=STATES)
_SERIES_VALUE = _Anything('a series in the notation such as "0x10 1500x6 _x3", or {values: "...", points: [[7m30s, 1], ...]}')

SCENARIO_SCHEMA = Obj(
    fields={
        "name": Field(Str(max_length=200, doc="What the scenario shows, for the report."), required=True),
        "description": Field(Str()),
        "environment": Field(Str(doc="The spec environment whose rendered alarms run.")),
        "start": Field(_TIME),
        "period": Field(Num(integer=True, minimum=1, maximum=86400, doc="Seconds per notation step.")),
        "duration": Field(_TIME),
        "series": Field(
            Obj(
                keys=Str(pattern_hint="a queue key or name, or redis:TARGET"),
                values=Obj(keys=Str(pattern_hint="a metric name"), values=_SERIES_VALUE),
            ),
            required=True,
        ),
        "expect": Field(
            ListOf(
                Obj(
                    fields={
                        "at": Field(_TIME),
                        "from": Field(_TIME),
                        "until": Field(_TIME),
                        "alarm": Field(Str(pattern_hint="an alarm: QUEUE/KIND/TIER or its full name")),
                        "state": Field(_STATE),
                        "none_in": Field(_STATE),
                        "actions": Field(Str(enum=ACTIONS_EXPECTED)),
                        "entering": Field(_STATE),
                    }
                ),
                min_items=1,
            ),
            required=True,
        ),
    }
)


# ---------------------------------------------------------------- loading


def load_scenario(path: str | Path, spec: Spec, env_name: str | None = None, *, render: Render = render_alarms) -> Scenario:
    """Read and validate one scenario file against the spec; raise ScenarioError with every problem."""
    return load_scenarios([path], spec, env_name, render=render)[0]


def load_scenarios(
    paths: Iterable[str | Path], spec: Spec, env_name: str | None = None, *, render: Render = render_alarms
) -> list[Scenario]:
    """Every scenario, or ScenarioError with the problems of all files at once."""
    scenarios, problems = [], []
    for path in paths:
        try:
            doc = load_document(str(path), {})
        except LoadError as exc:  # its wording is the spec's; these are scenario files
            problems += [_reworded(p) for p in exc.problems]
            continue
        builder = _Builder(doc, spec, env_name, render)
        scenario = builder.build()
        problems += sorted(builder.problems, key=lambda p: (p.line, p.column))
        if scenario is not None:
            scenarios.append(scenario)
    if problems:
        raise ScenarioError(problems)
    return scenarios


def _reworded(problem: Problem) -> Problem:
    message = problem.message.replace("a spec", "a scenario file").replace("the spec", "the scenario file")
    return Problem(problem.file, problem.line, problem.column, problem.path, message)


class _Builder:
    """Builds a Scenario from a document, collecting problems with their positions."""

    def __init__(self, doc: Document, spec: Spec, env_name: str | None, render: Render = render_alarms):
        self.doc, self.spec, self.env_name, self.render = doc, spec, env_name, render
        self.problems: list[Problem] = list(doc.problems)

    def error(self, path: tuple, message: str, *, key: bool = False) -> None:
        self.problems.append(self.doc.problem(path, message, key=key))

    def time(self, path: tuple, value, start: int) -> int | None:
        try:
            t = parse_time(value, start)
        except ValueError as exc:
            self.error(path, str(exc))
            return None
        if t < start:
            self.error(path, f"{iso(t)} is before the scenario's start {iso(start)}")
            return None
        if t - start > MAX_RUN_SECONDS:
            self.error(path, f"is {(t - start) / 86400:g} days after start; a scenario spans at most 14 days (PutMetricData's limit)")
            return None
        return t

    def ok(self, path: tuple) -> bool:
        """Whether nothing at, under or above `path` has a problem yet (so checking it says more)."""
        here = format_path(path)
        return not any(
            p.path == here or p.path.startswith((here + ".", here + "[")) or here.startswith((p.path + ".", p.path + "["))
            for p in self.problems
            if p.path != "(top level)" or not path
        )

    def build(self) -> Scenario | None:
        for var_path in self.doc.unset_vars:
            self.error(var_path, "${...} variables are not expanded in scenario files; write the value")
        problems, data = accepted_view(SCENARIO_SCHEMA, self.doc)  # the builder sees only accepted values
        self.problems += problems
        if not isinstance(data, dict):
            return None
        env = self._environment(data) if self.ok(("environment",)) else None
        start = DEFAULT_START_SECONDS
        if "start" in data and self.ok(("start",)):
            start = _absolute_time(data["start"])
            if start is None:  # keep checking the rest against the default start
                self.error(("start",), f"found {data['start']!r}; expected an ISO-8601 time such as 2026-01-01T00:00:00Z")
                start = DEFAULT_START_SECONDS
        if env is None:
            return None
        period = data["period"] if "period" in data and self.ok(("period",)) else DEFAULT_PERIOD
        end = start
        if "duration" in data and self.ok(("duration",)):
            end = self.time(("duration",), data["duration"], start) or start
        index = AlarmIndex.build(self.spec, env, self.render)
        samples, series_end = self._series(data.get("series"), env, start, period)
        expectations = self._expectations(data.get("expect"), index, start)
        if self.problems:
            return None
        end = max([end, series_end] + [e.end for e in expectations])
        if end - start > MAX_RUN_SECONDS:
            self.error(("series",), f"the series span {offset_words(end - start)}; a scenario spans at most 14 days")
            return None
        # An expectation without a time covers the whole run, known only now.
        expectations = [e if e.end >= 0 else replace(e, end=end) for e in expectations]
        return Scenario(self.doc.file, data["name"], env.name, start, end, samples, tuple(expectations), index.labels)

    def _environment(self, data) -> Environment | None:
        name = data.get("environment", self.env_name)
        if name is None:
            return next(iter(self.spec.environments.values()))
        if name not in self.spec.environments:
            path = ("environment",) if "environment" in data else ()
            hint = difflib.get_close_matches(str(name), list(self.spec.environments), n=1)
            suggestion = f"; did you mean '{hint[0]}'?" if hint else ""
            self.error(path, f"no environment '{name}' in {self.spec.path}{suggestion} (it has: {', '.join(self.spec.environments)})")
            return None
        return self.spec.environments[name]

    def _series(self, raw: dict, env: Environment, start: int, period: int):
        subjects = _subjects(self.spec, env)
        samples: dict[MetricKey, list[tuple[int, float]]] = defaultdict(list)
        end = start
        for subject, by_metric in (raw if isinstance(raw, dict) else {}).items():
            found = _subject(self.spec, subjects, subject) if isinstance(subject, str) else None
            if found is None:
                choices = sorted({q.key for q in self.spec.queues} | {d.key for d in self.spec.delayed} | {s.key for s in self.spec.streams} | {p.pattern for p in self.spec.patterns})
                choices += [f"redis:{t.name}" for t in env.targets]
                hint = difflib.get_close_matches(subject, list(subjects), n=1, cutoff=0.5)
                suggestion = f"; did you mean '{hint[0]}'?" if hint else ""
                self.error(
                    ("series", subject),
                    f"unknown queue or target '{subject}'{suggestion} (allowed: {', '.join(choices)}; also STREAM_KEY[GROUP], or a key a pattern matches)",
                    key=True,
                )
                continue
            scope, dimension, group = found
            allowed = [m.name for m in metrics.ALL_METRICS if m.scope is scope]
            for metric_name, value in (by_metric if isinstance(by_metric, dict) else {}).items():
                path = ("series", subject, metric_name)
                if not self.ok(path):
                    continue
                metric = metrics.BY_NAME.get(metric_name)
                if metric is None or metric.scope is not scope:
                    hint = difflib.get_close_matches(metric_name, allowed, n=1, cutoff=0.5)
                    suggestion = f"; did you mean '{hint[0]}'?" if hint else ""
                    what = f"a {metric.scope.value} metric, not a {scope.value} one" if metric else "not a metric"
                    self.error(path, f"'{metric_name}' is {what}{suggestion} (allowed for {subject}: {', '.join(allowed)})", key=True)
                    continue
                key = MetricKey.of(self.spec.namespace, metric.name, metric.dimensions(env.name, dimension, group))
                if key in samples:
                    self.error(path, f"{metric_name} of {dimension} is given twice (under another name of the same queue)", key=True)
                    continue
                got, last = self._one_series(path, value, start, period)
                samples[key] = sorted(got)
                end = max(end, last)
        return {k: tuple(v) for k, v in samples.items()}, end

    def _one_series(self, path: tuple, value, start: int, period: int) -> tuple[list[tuple[int, float]], int]:
        """Samples of one metric and the end of the time they cover."""
        text, points = value, []
        if isinstance(value, dict):
            unknown = set(value) - {"values", "points"}
            for key in sorted(unknown):
                self.error(path + (key,), f"unknown key '{key}' (allowed: values, points)", key=True)
            text, points = value.get("values", ""), value.get("points", [])
            if not isinstance(points, list):
                self.error(path + ("points",), "expected a list of [time, value] pairs such as [[7m30s, 1]]")
                points = []
        if not isinstance(text, str):
            self.error(path + (("values",) if isinstance(value, dict) else ()), f"found {text!r}; expected {_SERIES_VALUE.expected}")
            return [], start
        try:
            samples = parse_series(text, start, period)
            end = start + period_count(text) * period
        except SeriesSyntaxError as exc:
            self.error(path, str(exc))
            return [], start
        for i, point in enumerate(points):
            where = path + ("points", i)
            if not (isinstance(point, list) and len(point) == 2):
                self.error(where, f"found {point!r}; expected a [time, value] pair such as [7m30s, 1]")
                continue
            t = self.time(where + (0,), point[0], start)
            number = point[1]
            if isinstance(number, bool) or not isinstance(number, (int, float)) or number != number or abs(number) == float("inf"):
                self.error(where + (1,), f"found {number!r}; expected a finite number")
                continue
            if t is not None:
                samples.append((t, float(number)))
                end = max(end, t + 1)
        return samples, end

    def _expectations(self, raw: list, index: AlarmIndex, start: int) -> list[Expectation]:
        out = []
        for i, item in enumerate(raw if isinstance(raw, list) else []):
            path = ("expect", i)
            if not isinstance(item, dict) or not self.ok(path):
                continue
            line = self.doc.position(path)[0]
            has_alarm, has_none = "alarm" in item, "none_in" in item
            if has_alarm == has_none:
                self.error(path, "give either alarm + state (or alarm + actions), or none_in: STATE (no alarm in that state)")
                continue
            if has_alarm and ("state" in item) == ("actions" in item):
                self.error(
                    path,
                    f"give either 'state' (one of {', '.join(STATES)}) or 'actions' (one of {', '.join(ACTIONS_EXPECTED)}) with alarm",
                )
                continue
            if "entering" in item and "actions" not in item:
                self.error(path + ("entering",), "'entering' picks the state whose actions are checked: it goes with 'actions'", key=True)
                continue
            if has_none and ("state" in item or "actions" in item):
                key = "state" if "state" in item else "actions"
                self.error(path + (key,), f"{key} goes with alarm; none_in already names the state", key=True)
                continue
            if "at" in item and ("from" in item or "until" in item):
                self.error(path + ("at",), "give at, or from/until, not both", key=True)
                continue
            name = None
            if has_alarm:
                name = index.resolve(item["alarm"])
                if name is None:
                    self.error(path + ("alarm",), index.unknown(item["alarm"]))
            times = {k: self.time(path + (k,), item[k], start) for k in ("at", "from", "until") if k in item}
            if None in times.values() or (has_alarm and name is None):
                continue
            if "at" in times:
                first, last = times["at"], times["at"]
            else:  # -1: the end of the run, filled in once it is known
                first, last = times.get("from", start), times.get("until", -1)
                if last != -1 and last < first:
                    self.error(path + ("until",), f"until ({offset_words(last - start)}) is before from ({offset_words(first - start)})")
                    continue
            if has_alarm and "actions" in item:
                entering = State(item.get("entering", State.ALARM.value))
                out.append(Expectation(index.label(name), (name,), entering, False, first, last, line, item["actions"]))
            elif has_alarm:
                out.append(Expectation(index.label(name), (name,), State(item["state"]), False, first, last, line))
            else:
                out.append(Expectation("no alarm", (), State(item["none_in"]), True, first, last, line))
        return out


# ---------------------------------------------------------------- evaluating


def run_alarms(alarms: Iterable[Alarm], data: MetricData, start: int, end: int) -> tuple[dict[str, list[Evaluation]], dict[str, str]]:
    """(timelines by alarm name, {alarm name: why it is not modelled}) of metric and composite alarms alike.

    A composite whose child or suppressor is not modelled is not modelled either.
    """
    alarms = list(alarms)
    lines: dict[str, list[Evaluation]] = {}
    not_modelled: dict[str, str] = {}
    for alarm in alarms:
        if not composite.is_composite(alarm):
            try:
                lines[alarm["AlarmName"]] = evaluator.evaluate(alarm, data, start, end)
            except NotSupported as exc:
                not_modelled[alarm["AlarmName"]] = str(exc)
    pending = [a for a in alarms if composite.is_composite(a)]
    while True:  # a composite over a not-modelled composite is not modelled: repeat until nothing changes
        blocked = {a["AlarmName"]: str(why) for a in pending if (why := composite.not_modelled_children(a, not_modelled))}
        if not blocked:
            break
        not_modelled.update(blocked)
        pending = [a for a in pending if a["AlarmName"] not in blocked]
    lines.update(composite.evaluate_composites(pending, lines))
    return lines, not_modelled


def timelines(alarms: Iterable[Alarm], data: MetricData, start: int, end: int) -> dict[str, list[Evaluation]]:
    """Every evaluation of each alarm in (start, end], by alarm name (composites evaluated with their children).

    Raises evaluator.NotSupported for an alarm the evaluator does not model (percentiles, anomaly bands).
    """
    lines, not_modelled = run_alarms(alarms, data, start, end)
    if not_modelled:
        raise NotSupported(next(iter(not_modelled.values())))
    return lines


def evaluate_all(alarms: Iterable[Alarm], data: MetricData, start: int, end: int) -> dict[str, Evaluation]:
    """The state in force at `end` of each alarm, with the datapoints and reason that decided it.

    An alarm with no evaluation in (start, end] has not been evaluated: INSUFFICIENT_DATA.
    Raises evaluator.NotSupported for an alarm the evaluator does not model (percentiles, anomaly bands).
    """
    final = {}
    for name, timeline in timelines(alarms, data, start, end).items():
        final[name] = timeline[-1] if timeline else Evaluation(start, State.INSUFFICIENT_DATA, (), "not evaluated yet")
    return final


def samples_from_metric_data(namespace: str, metric_data: Iterable[Mapping]) -> dict[MetricKey, list[tuple[float, float]]]:
    """Evaluator input from PutMetricData MetricData entries (Value, or Values with Counts)."""
    out: dict[MetricKey, list[tuple[float, float]]] = defaultdict(list)
    for datum in metric_data:
        key = MetricKey.of(namespace, datum["MetricName"], datum.get("Dimensions", ()))
        stamp = datum["Timestamp"]
        t = stamp.timestamp() if isinstance(stamp, dt.datetime) else float(stamp)
        if "Value" in datum:
            out[key].append((t, float(datum["Value"])))
        elif "Values" in datum:
            counts = datum.get("Counts") or [1] * len(datum["Values"])
            for value, count in zip(datum["Values"], counts):
                out[key] += [(t, float(value))] * int(count)
        else:
            raise ValueError(f"{datum['MetricName']}: only Value or Values can be turned into samples (not StatisticValues)")
    return dict(out)


def run_scenario(scenario: Scenario, alarms: Sequence[Alarm]) -> ScenarioResult:
    """Check every expectation of the scenario against the given alarms (metric and composite alike)."""
    by_name = {a["AlarmName"]: a for a in alarms}
    lines, not_modelled = run_alarms(by_name.values(), scenario.data, scenario.start, scenario.end)
    events = {
        name: tuple(composite.actions(alarm, lines))
        for name, alarm in by_name.items()
        if name in lines  # run_alarms leaves a composite it cannot model out of lines
    }
    outcomes = []
    for expectation in scenario.expectations:
        for name in expectation.alarms:
            if name in not_modelled:  # named explicitly: the scenario cannot be checked at all
                raise NotSupported(f"{scenario.path}:{expectation.line}: {not_modelled[name]}")
        names = expectation.alarms or tuple(lines)
        if expectation.actions is None:
            failures = _check(expectation, names, lines)
        else:
            failures = _check_actions(expectation, names, lines, events)
        outcomes.append(Outcome(expectation, tuple(failures)))
    composites = tuple(n for n, a in by_name.items() if composite.is_composite(a) and n not in not_modelled)
    return ScenarioResult(scenario, tuple(outcomes), not_modelled, events, composites)


def _check(expectation: Expectation, names: Sequence[str], lines: Mapping[str, list[Evaluation]]) -> list[Failure]:
    """The first time each alarm breaks the expectation in its window."""
    failures = []
    for name in names:
        timeline = lines[name]
        times = [expectation.start] + [e.time for e in timeline if expectation.start < e.time <= expectation.end]
        for t in times:
            deciding = evaluator.in_force(timeline, t)
            actual = deciding.state if deciding else State.INSUFFICIENT_DATA
            if (actual is expectation.state) == expectation.negated:
                failures.append(Failure(name, t, actual, deciding, tuple(evaluator.transitions(timeline))))
                break
    return failures


def actions_found(events: Sequence[ActionEvent]) -> str:
    """ran (every one ran), suppressed (none ran), none (no change had actions) or mixed."""
    if not events:
        return ACTIONS_NONE
    ran = {e.outcome is ActionOutcome.RAN for e in events}
    return ACTIONS_RAN if ran == {True} else ACTIONS_SUPPRESSED if ran == {False} else "mixed"


def _check_actions(
    expectation: Expectation, names: Sequence[str], lines: Mapping[str, list[Evaluation]], events: Mapping[str, tuple[ActionEvent, ...]]
) -> list[Failure]:
    """Each alarm whose changes into the expected state, within the window, did not have their actions go as expected."""
    failures = []
    for name in names:
        chosen = tuple(
            e for e in events.get(name, ()) if e.state is expectation.state and expectation.start <= e.entered <= expectation.end
        )
        found = actions_found(chosen)
        if found != expectation.actions:
            timeline = lines[name]
            failures.append(
                Failure(name, expectation.start, State.INSUFFICIENT_DATA, None, tuple(evaluator.transitions(timeline)), chosen, found)
            )
    return failures


def default_files(spec_path: str | Path) -> list[Path]:
    """Every *.yaml under scenarios/ next to the spec, sorted; UsageError when there is none."""
    folder = Path(spec_path).resolve().parent / SCENARIO_DIR
    files = sorted(folder.rglob("*.yaml")) if folder.is_dir() else []
    if not files:
        raise UsageError(f"no scenario files (*.yaml) under {folder}; name some on the command line")
    return [f.relative_to(Path.cwd()) if f.is_relative_to(Path.cwd()) else f for f in files]


def run_files(
    paths: Iterable[str | Path], spec: Spec, env_name: str | None = None, *, render: Render = render_alarms
) -> list[ScenarioResult]:
    """Load every scenario (all problems at once), render each environment's alarms once, and run them.

    `render` gives an environment's alarms; composite alarm dicts among them are run too.
    """
    scenarios = load_scenarios(paths, spec, env_name, render=render)
    rendered: dict[str, list[Alarm]] = {}
    results = []
    for scenario in scenarios:
        if scenario.environment not in rendered:
            rendered[scenario.environment] = render(spec, spec.environments[scenario.environment])
        results.append(run_scenario(scenario, rendered[scenario.environment]))
    return results


def exit_status(results: Sequence[ScenarioResult]) -> ExitStatus:
    return ExitStatus.SUCCESS if all(r.passed for r in results) else ExitStatus.CHECK_FAILED


# ---------------------------------------------------------------- reporting


def _when(expectation: Expectation, start: int) -> str:
    if expectation.start == expectation.end:
        return f"at {offset_words(expectation.start - start)}"
    return f"{offset_words(expectation.start - start)}..{offset_words(expectation.end - start)}"


def _claim(expectation: Expectation) -> str:
    if expectation.negated:
        return f"no alarm is in {expectation.state.value}"
    if expectation.actions is not None:
        return f"{expectation.label} {expectation.state.value} actions: {expectation.actions}"
    return f"{expectation.label} is {expectation.state.value}"


def event_words(event: ActionEvent, start: int) -> str:
    """e.g. 'ALARM at 12m: ran at 14m (WaitPeriod (120s) ended with redis-down not in ALARM)'."""
    return f"{event.state.value} at {offset_words(event.entered - start)}: {event.outcome.value} at {offset_words(event.time - start)} ({event.why})"


def _short_number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:.3f}".rstrip("0")


def _datapoint_lines(evaluation: Evaluation, start: int) -> list[str]:
    rows = []
    for p in evaluation.datapoints:
        value = "-" if p.value is None else _short_number(p.value)
        rows.append(
            f"          {offset_words(p.time - start):>8}  {value:>9}  {'real' if p.real else 'filled':<6}  "
            f"{'breaching' if p.breaching else 'not breaching'}"
        )
    return rows


def _actions_failure_lines(failure: Failure, expectation: Expectation, scenario: Scenario) -> list[str]:
    start = scenario.start
    lines = [
        f"        alarm:    {failure.alarm}",
        f"        changes into {expectation.state.value} in {_when(expectation, start)}",
        f"        expected: actions {expectation.actions}",
        f"        actual:   actions {failure.found}",
    ]
    lines += [f"          {event_words(e, start)}" for e in failure.events]
    history = " -> ".join(["INSUFFICIENT_DATA"] + [f"{t.state.value} at {offset_words(t.time - start)}" for t in failure.history])
    lines.append(f"        history:  {history}")
    return lines


def _failure_lines(failure: Failure, expectation: Expectation, scenario: Scenario) -> list[str]:
    if expectation.actions is not None:
        return _actions_failure_lines(failure, expectation, scenario)
    start = scenario.start
    expected = f"not {expectation.state.value}" if expectation.negated else expectation.state.value
    lines = [
        f"        alarm:    {failure.alarm}" + (f" ({scenario.labels.get(failure.alarm, failure.alarm)})" if expectation.negated else ""),
        f"        at:       {offset_words(failure.time - start)} ({iso(failure.time)})",
        f"        expected: {expected}",
        f"        actual:   {failure.actual.value}",
    ]
    if failure.evaluation is None:
        lines.append("        not evaluated yet: no evaluation between start and this time")
    else:
        e = failure.evaluation
        lines.append(f"        decided at {offset_words(e.time - start)}: {e.reason}")
        if e.datapoints:
            lines.append("        datapoints (period start, value, real/filled, breaching), oldest first:")
            lines += _datapoint_lines(e, start)
    history = " -> ".join(
        ["INSUFFICIENT_DATA"] + [f"{t.state.value} at {offset_words(t.time - start)}" for t in failure.history]
    )
    lines.append(f"        history:  {history}")
    return lines


def report(results: Sequence[ScenarioResult]) -> str:
    """The test-runner report: per scenario each expectation PASS/FAIL, failures explained, a summary."""
    out, passed, failed = [], 0, 0
    for result in results:
        scenario = result.scenario
        out.append(f"{scenario.path}: {scenario.name} [{scenario.environment}, {offset_words(scenario.end - scenario.start)}]")
        for outcome in result.outcomes:
            expectation = outcome.expectation
            mark = "PASS" if outcome.passed else "FAIL"
            out.append(f"  {mark}  {_when(expectation, scenario.start):<12} {_claim(expectation)}  (line {expectation.line})")
            if outcome.passed:
                passed += 1
                continue
            failed += 1
            for failure in outcome.failures:
                out += _failure_lines(failure, expectation, scenario)
        for name, why in result.not_modelled.items():
            out.append(f"  note: left out of none_in checks, not modelled: {why}")
        for name in result.composites:  # the timeline of what a composite's actions did
            events = result.actions.get(name, ())
            out.append(f"  actions of {name}: " + ("; ".join(event_words(e, scenario.start) for e in events) or "none due"))
        out.append("")
    out.append(f"{passed} passed, {failed} failed")
    return "\n".join(out) + "\n"


def timing_words(alarm: Alarm) -> str:
    """How long after the data change the alarm fires and clears, with a datapoint every period."""
    config = evaluator.parse_alarm(alarm)
    n, m, period, r = config.evaluation_periods, config.datapoints_to_alarm, config.period, config.range_periods
    unit, every = period_words(period), "10 seconds" if evaluator.evaluation_interval(period) < 60 else "minute"
    silent = span_words(r * period)
    if config.window.kind is WindowKind.WALL_CLOCK:
        where = f"{unit} period on the clock in {config.window.timezone or DEFAULT_TIMEZONE}"
        if n == 1:
            words = f"Fires at the end of the first {where} that breaches; clears at the end of the first that does not."
        else:
            words = (
                f"Fires at the end of the {_ordinal(m)} breaching {where} within {n}; clears at the latest at the end "
                f"of the {_ordinal(n - m + 1)} period after the last breaching one."
            )
        stop = f"at the end of the {_ordinal(r)} period after the one holding the last datapoint"
    else:
        if n == 1:
            words = (
                f"Evaluated every {every} over the last {span_words(period)}: fires at the first evaluation at which those "
                f"{span_words(period)} breach; clears at the first at which they do not."
            )
        else:
            onset = "after a breach starts" if m == 1 else f"more than {span_words((m - 1) * period)} after a breach starts"
            words = (
                f"Evaluated every {every} over the last {n} periods of {span_words(period)} counted back from it: with data in every period, "
                f"fires at the first evaluation {onset} ({m} of {n} breaching); clears at the latest at the first "
                f"evaluation more than {span_words((n - m + 1) * period)} after the last breaching data."
            )
        stop = f"at the first evaluation more than {silent} after the last datapoint"
    if config.treat_missing is TreatMissingData.BREACHING:
        words += f" If the data stop, it fires once no datapoint is left in the last {r} periods ({silent}): {stop}."
    elif config.treat_missing is TreatMissingData.MISSING:
        words += f" If the data stop, INSUFFICIENT_DATA once no datapoint is left in the last {r} periods ({silent}): {stop}."
    return words


def span_words(seconds: int) -> str:
    """A length of time in words: '5 minutes', '1 hour', '10 seconds', '90 seconds'."""
    for unit, size in (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"


def _ordinal(k: int) -> str:
    return {1: "first", 2: "second", 3: "third"}.get(k, f"{k}th")


def explain_text(index: AlarmIndex, names: Sequence[str]) -> str:
    """For each alarm: its label, its name, and when it fires and clears, in words."""
    blocks = []
    for name in names:
        alarm = index.alarms[name]
        try:
            if composite.is_composite(alarm):
                words = composite.explain(alarm)
            else:
                words = f"{evaluator.explain(alarm)}\n  {timing_words(alarm)}"
        except NotSupported as exc:
            words = f"not modelled by the offline evaluator: {exc}"
        blocks.append(f"{index.label(name)}\n  {name}\n  {words}\n")
    return "\n".join(blocks)
