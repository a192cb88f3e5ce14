"""`provision-alarms doctor`: which alarms of the spec would be blind against the live Redis keys.

An alarm is blind when it watches a metric the collector cannot produce for its queue right now:
a key of the wrong type, an oldest message without a readable enqueue time (no processing_lag),
a consumer group that does not exist.
It is unverified when every metric it watches is produced but only from an absent key: Redis
deletes an emptied list, so an absent key is an empty queue or a misspelt key name, and nothing
in Redis tells the two apart.

Pure core: `diagnose(alarms, subjects) -> Report` takes what was read (SubjectReading: the keys of
a queue, stream or delayed set with their TYPE and count, and the metric points the collector
would publish for it) and the rendered alarms. Thin shell: `read_subjects` reads Redis with the
collector's own connection code and readers (read-only; the least-privilege reader ACL user is
enough, TYPE is used when allowed), and `run` prints the report. Nothing here knows what a
queue's parts are beyond the `KeyReading`s a subject lists, so new part kinds need only a reading.
"""

from __future__ import annotations

import enum
import json
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence, TextIO

from monitor.cloudwatch.alarms import Alarm, render_alarms, watched_metrics
from monitor.errors import ExitStatus, RedisError
from monitor.spec import metrics, naming
from monitor.spec.durations import format_age
from monitor.spec.kinds import AlarmKind
from monitor.spec.model import Environment, Spec

JSON_FORMAT_VERSION = 1

MetricRef = tuple[str, str, str | None]  # (metric name, Queue dimension, ConsumerGroup dimension)


class Verdict(str, enum.Enum):
    OK = "ok"
    UNVERIFIED = "unverified"
    BLIND = "blind"


class Section(str, enum.Enum):
    QUEUE = "queue"
    STREAM = "stream"
    DELAYED = "delayed"


@dataclass(frozen=True)
class KeyReading:
    """One Redis key of a subject, as found."""

    part: str  # waiting, in_flight, dead, stream, delayed ... (whatever the subject's model calls it)
    key: str
    expected: str  # the Redis type the collector reads it as: list, zset, stream
    found: str | None  # TYPE's answer ("none": absent); None when the ACL user may not run TYPE
    count: int | None  # LLEN / XLEN / ZCARD; None when it could not be read (another type)
    metrics: tuple[str, ...] = ()  # the metrics the collector makes from this key

    @property
    def absent(self) -> bool:
        return self.found == "none" or (self.found is None and self.count == 0 and self.expected == "list")

    @property
    def wrong_type(self) -> bool:
        return self.count is None or (self.found not in (None, "none", self.expected))


@dataclass(frozen=True)
class SubjectReading:
    """A queue, stream or delayed set: its keys, depth, oldest job, and what the collector would publish."""

    section: Section
    name: str
    key: str
    keys: tuple[KeyReading, ...]
    depth: int | None
    published: frozenset[MetricRef]
    enqueue_time: str | None = None  # found / empty / not found ...; None where the section has none
    oldest_age_seconds: float | None = None
    problems: tuple[str, ...] = ()  # why something is not published, in the collector's words


@dataclass(frozen=True)
class AlarmCheck:
    name: str
    kind: str
    tier: str
    verdict: Verdict
    reason: str = ""


@dataclass(frozen=True)
class SubjectReport:
    reading: SubjectReading
    alarms: tuple[AlarmCheck, ...]


@dataclass(frozen=True)
class Report:
    spec: str
    environment: str
    subjects: tuple[SubjectReport, ...]

    def count(self, verdict: Verdict) -> int:
        return sum(1 for s in self.subjects for a in s.alarms if a.verdict is verdict)

    @property
    def exit_status(self) -> ExitStatus:
        return ExitStatus.CHECK_FAILED if self.count(Verdict.BLIND) else ExitStatus.SUCCESS


# ---------------------------------------------------------------- the pure core


def _refs(alarm: Alarm) -> list[MetricRef]:
    refs = []
    for _, name, dims in watched_metrics(alarm):
        d = dict(dims)
        if metrics.QUEUE in d:
            refs.append((name, d[metrics.QUEUE], d.get(metrics.CONSUMER_GROUP)))
    return refs


def _kind_and_tier(alarm: Alarm) -> tuple[str, str]:
    """The alarm's kind (its tag) and tier (what its name has after the kind)."""
    kind = next((t["Value"] for t in alarm.get("Tags", ()) if t["Key"] == naming.TAG_KIND), "")
    slug = AlarmKind(kind).slug if kind in {k.value for k in AlarmKind} else kind
    return kind, alarm["AlarmName"].rpartition(f"-{slug}-")[2]


def _why_missing(ref: MetricRef, subject: SubjectReading | None) -> str:
    name, key, group = ref
    where = f"{name} ({key}{', group ' + group if group else ''})"
    if subject is None:
        return f"{where} is not read by the collector here"
    wrong = [k for k in subject.keys if name in k.metrics and k.wrong_type]
    if wrong:
        return f"{where} is not published: " + "; ".join(f"{_shown(k.key)} is {_type_words(k)}, not a {k.expected}" for k in wrong)
    if subject.problems:
        return f"{where} is not published: " + "; ".join(subject.problems)
    return f"{where} is not published"


def _shown(key: str) -> str:
    """A key as text: control characters (kombu's priority separator \\x06\\x16) escaped."""
    return key if key.isprintable() else key.encode("unicode_escape").decode("ascii")


def _type_words(key: KeyReading) -> str:
    return f"a {key.found}" if key.found not in (None, "none") else "of another type"


def check_alarm(alarm: Alarm, by_key: Mapping[str, SubjectReading]) -> AlarmCheck:
    """The verdict on one rendered alarm, given what was read for every subject."""
    refs = _refs(alarm)
    missing = [ref for ref in refs if ref[1] not in by_key or ref not in by_key[ref[1]].published]
    kind, tier = _kind_and_tier(alarm)
    if missing:
        return AlarmCheck(alarm["AlarmName"], kind, tier, Verdict.BLIND, "; ".join(_why_missing(ref, by_key.get(ref[1])) for ref in missing))
    absent = []
    for name, key, _ in refs:
        # A metric summed over several keys (a preset's priority lists) is unverified only when all are absent.
        feeding = [k for k in by_key[key].keys if name in k.metrics]
        if feeding and all(k.absent for k in feeding):
            absent += feeding
    if absent:
        keys = ", ".join(dict.fromkeys(_shown(k.key) for k in absent))
        return AlarmCheck(
            alarm["AlarmName"], kind, tier, Verdict.UNVERIFIED, f"{keys} absent: an empty {absent[0].expected}, or a key name nobody writes to"
        )
    return AlarmCheck(alarm["AlarmName"], kind, tier, Verdict.OK)


def diagnose(spec_path: str, environment: str, alarms: Sequence[Alarm], subjects: Sequence[SubjectReading]) -> Report:
    """Each alarm's verdict, grouped under the subject its first metric belongs to (pure)."""
    by_key = {s.key: s for s in subjects}
    grouped: dict[str, list[AlarmCheck]] = {s.key: [] for s in subjects}
    for alarm in alarms:
        refs = _refs(alarm)
        if not refs:
            continue  # a target alarm: it watches the collector itself, not a key
        grouped.setdefault(refs[0][1], []).append(check_alarm(alarm, by_key))
    reports = [SubjectReport(s, tuple(grouped[s.key])) for s in subjects]
    unread = [a for key, checks in grouped.items() if key not in by_key for a in checks]
    if unread:  # alarms on keys nothing here read: a spec section this command does not know
        reports.append(SubjectReport(SubjectReading(Section.QUEUE, "(not read)", "(not read)", (), None, frozenset()), tuple(unread)))
    return Report(spec_path, environment, tuple(reports))


def _oldest_words(reading: SubjectReading) -> str:
    if reading.enqueue_time is None:
        return ""
    if reading.oldest_age_seconds is not None and reading.enqueue_time == "found":
        return f"enqueue time found, {format_age(reading.oldest_age_seconds)} old"
    return reading.enqueue_time


def render_table(report: Report) -> str:
    """Keys per subject (part, key, type, count), the oldest job, then every alarm not OK."""
    lines = [f"doctor {report.environment} ({report.spec})"]
    rows = [("SUBJECT", "PART", "KEY", "TYPE", "COUNT")]
    notes: list[str] = []
    for subject in report.subjects:
        reading = subject.reading
        for index, key in enumerate(reading.keys):
            found = key.found if key.found is not None else "?"
            if key.wrong_type:
                found += f" (not {key.expected})"
            count = "-" if key.count is None else str(key.count)
            rows.append((f"{reading.section.value} {_shown(reading.key)}" if index == 0 else "", key.part, _shown(key.key), found, count))
        oldest = _oldest_words(reading)
        counts = {v: sum(1 for a in subject.alarms if a.verdict is v) for v in Verdict}
        summary = ", ".join(f"{n} {v.value}" for v, n in counts.items() if n) or "no alarms"
        notes.append(f"{reading.section.value} {reading.key}: depth {'-' if reading.depth is None else reading.depth}"
                     + (f"; oldest job: {oldest}" if oldest else "") + f"; alarms: {summary}")
        notes += [f"  {a.verdict.value.upper():<10}  {a.name}: {a.reason}" for a in subject.alarms if a.verdict is not Verdict.OK]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths)) + "  " + row[4] for row in rows]
    lines.append("")
    lines += notes
    blind, unverified, ok = (report.count(v) for v in (Verdict.BLIND, Verdict.UNVERIFIED, Verdict.OK))
    lines.append("")
    lines.append(f"{blind} blind, {unverified} unverified, {ok} ok" + (": the blind alarms can never fire as things are" if blind else ""))
    return "\n".join(line.rstrip() for line in lines) + "\n"


def report_json(report: Report) -> dict:
    return {
        "format_version": JSON_FORMAT_VERSION,
        "spec": report.spec,
        "environment": report.environment,
        "ok": report.exit_status is ExitStatus.SUCCESS,
        "counts": {v.value: report.count(v) for v in Verdict},
        "subjects": [
            {
                "section": s.reading.section.value,
                "name": s.reading.name,
                "key": s.reading.key,
                "keys": [{"part": k.part, "key": k.key, "expected": k.expected, "type": k.found, "count": k.count} for k in s.reading.keys],
                "depth": s.reading.depth,
                "enqueue_time": s.reading.enqueue_time,
                "oldest_age_seconds": s.reading.oldest_age_seconds,
                "alarms": [{"name": a.name, "kind": a.kind, "tier": a.tier, "verdict": a.verdict.value, "reason": a.reason} for a in s.alarms],
            }
            for s in report.subjects
        ],
    }


# ---------------------------------------------------------------- readings from the collector's readers


def _published(points: Iterable[Any]) -> frozenset[MetricRef]:
    return frozenset((p.metric.name, p.subject, p.group) for p in points)


# The metrics each part of a queue feeds (monitor.collect.collector.reading_points).
_PART_METRICS = {
    "waiting": (metrics.QUEUE_DEPTH.name, metrics.OLDEST_MESSAGE_AGE.name, metrics.MESSAGE_PARSE_ERRORS.name),
    "in_flight": (metrics.IN_FLIGHT_DEPTH.name,),
    "dead": (metrics.DEAD_LETTER_DEPTH.name,),
    "delayed": (metrics.DELAYED_TOTAL.name, metrics.DELAYED_OVERDUE.name),
}


def queue_subject(queue, reading, types: Mapping[str, str | None], counts: Mapping[str, Sequence[int | None]] | None = None) -> SubjectReading:
    """A queue's reading (monitor.collect.reader.QueueReading) as a subject: every key of every part.

    `counts` gives each key's own count (monitor.collect.reader.part_counts); without it a part of
    one key shows the part's count.
    """
    from monitor.collect.collector import reading_points
    from monitor.spec.sources import TimeKind

    source = reading.source
    parts = source.parts()
    totals = {"waiting": reading.depth, "in_flight": reading.in_flight, "dead": reading.dead_letter, "delayed": reading.delayed_total}
    keys = []
    for part, key_sources in zip(("waiting", "in_flight", "dead", "delayed"), parts[:4]):
        for index, key_source in enumerate(key_sources):
            count = counts[part][index] if counts is not None else totals[part] if len(key_sources) == 1 else None
            if key_source.key in reading.wrong_type_keys:
                count = None
            keys.append(KeyReading(part, key_source.key, key_source.type.value, types.get(key_source.key), count, _PART_METRICS[part]))
    if reading.depth is None:
        enqueue = "not read (a waiting key has another type)"
    elif parts.time.kind is TimeKind.NONE:
        enqueue = "none: this framework's jobs carry no enqueue time"
    elif reading.parse_error:
        enqueue = f"not found: {reading.parse_error}"
    elif reading.depth == 0:
        enqueue = "not checked (the queue is empty)"
    else:
        enqueue = "found"
    problems = (f"the oldest message: {reading.parse_error}",) if reading.parse_error else ()
    problems += tuple(f"{key} could not be read" for key in reading.unread_keys)
    return SubjectReading(
        Section.QUEUE, queue.name, queue.key, tuple(keys), reading.depth, _published(reading_points(reading)), enqueue, reading.oldest_age_seconds, problems
    )


def stream_subject(stream, reading, types: Mapping[str, str | None]) -> SubjectReading:
    """A stream's reading (monitor.collect.queue_types.StreamReading) as a subject."""
    from monitor.collect.queue_types import stream_points

    names = (metrics.STREAM_LENGTH.name, metrics.CONSUMER_GROUP_LAG.name, metrics.CONSUMER_GROUP_PENDING.name, metrics.OLDEST_PENDING_IDLE.name)
    key = KeyReading("stream", stream.key, "stream", types.get(stream.key), reading.length, names)
    problems = tuple(f"consumer group '{g}' does not exist" for g in reading.missing_groups)
    problems += tuple(f"Redis cannot compute the lag of group '{g.name}' (entries deleted, or Redis < 7)" for g in reading.groups if g.lag is None)
    if types.get(stream.key) == "none":
        problems = ("the stream does not exist, so neither do its groups",) + problems
    return SubjectReading(Section.STREAM, stream.name, stream.key, (key,), reading.length, _published(stream_points(reading)), problems=problems)


def delayed_subject(item, reading, types: Mapping[str, str | None]) -> SubjectReading:
    """A delayed set's reading (monitor.collect.queue_types.DelayedReading) as a subject."""
    from monitor.collect.queue_types import delayed_points

    key = KeyReading("delayed", item.key, "zset", types.get(item.key), reading.total, (metrics.DELAYED_TOTAL.name, metrics.DELAYED_OVERDUE.name))
    return SubjectReading(Section.DELAYED, item.name, item.key, (key,), reading.total, _published(delayed_points(reading)))


def _raise_first(failures) -> None:
    """A cluster read that left a node unread (monitor.collect.cluster.NodeFailure) fails the doctor's read."""
    from monitor.collect.connection import classify_failure

    if failures:
        failure = failures[0]
        raise RedisError(f"Redis cluster node {failure.node} could not be read ({classify_failure(failure.error)})")


def read_subjects(spec: Spec, env: Environment, *, environ: Mapping[str, str], secrets_factory: Callable[[], Any]) -> list[SubjectReading]:
    """Read every queue, stream and delayed set of the environment, target by target, as the collector does."""
    import redis

    from monitor.collect.cluster import read_cluster, read_typed_cluster
    from monitor.collect.connection import ConfigError, TokenProvider, classify_failure, open_client, resolve_settings, scrub
    from monitor.collect.queue_types import read_typed_queues
    from monitor.collect.reader import key_types, part_counts, read_queues

    subjects: list[SubjectReading] = []
    for target in env.targets:
        queues = [q for q in spec.queues if env.target_name(q.target) == target.name]
        streams = [s for s in spec.streams if env.target_name(s.target) == target.name]
        delayed = [d for d in spec.delayed if env.target_name(d.target) == target.name]
        if not (queues or streams or delayed):
            continue
        token, where, settings = None, target.name, None
        try:
            settings = resolve_settings(env, spec.collector, environ, target)
            where = f"{target.name} ({settings.host}:{settings.port})"
            provider = TokenProvider(settings.token, secrets_factory)
            token = provider.get()
            client = open_client(settings, token)
            try:
                now = time.time()
                keys = list(dict.fromkeys(k for q in queues for k in q.source.keys)) + [s.key for s in (*streams, *delayed)]
                types = key_types(client, keys)
                types = dict(zip(keys, types)) if types is not None else {}
                if settings.cluster:
                    result = read_cluster(client, [q.source for q in queues], now=now)
                    _raise_first(result.failures)
                    readings = result.readings
                else:
                    readings = read_queues(client, [q.source for q in queues], now=now).readings
                # Each key's own count is needed only where a part has several keys (a preset's
                # priority lists): a part of one key shows the reading's own count.
                several = [i for i, q in enumerate(queues) if any(len(part) > 1 for part in q.source.parts()[:4])]
                counts = dict(zip(several, part_counts(client, [queues[i].source for i in several], now=now)))
                subjects += [queue_subject(q, r, types, counts.get(i)) for i, (q, r) in enumerate(zip(queues, readings))]
                if streams or delayed:
                    stream_sources, delayed_sources = [s.source for s in streams], [d.source for d in delayed]
                    if settings.cluster:
                        typed, account = read_typed_cluster(client, stream_sources, delayed_sources, now=now)
                        _raise_first(account.failures)
                    else:
                        typed = read_typed_queues(client, stream_sources, delayed_sources, now=now)
                    subjects += [stream_subject(s, r, types) for s, r in zip(streams, typed.streams)]
                    subjects += [delayed_subject(d, r, types) for d, r in zip(delayed, typed.delayed)]
            finally:
                client.close()
        except (redis.RedisError, redis.exceptions.RedisClusterException, OSError, ConfigError) as exc:
            text = scrub(f"{type(exc).__name__}: {exc}", token)[:300]
            raise RedisError(f"cannot read Redis {where}: {classify_failure(exc, settings)}: {text}") from None
    return subjects


def run(spec: Spec, env: Environment, *, environ: Mapping[str, str], secrets_factory: Callable[[], Any], output: str = "table", stream: TextIO | None = None) -> ExitStatus:
    """Read Redis, print the report, and return CHECK_FAILED when any alarm would be blind."""
    stream = stream or sys.stdout
    subjects = read_subjects(spec, env, environ=environ, secrets_factory=secrets_factory)
    report = diagnose(spec.path, env.name, render_alarms(spec, env), subjects)
    if output == "json":
        stream.write(json.dumps(report_json(report), indent=2) + "\n")
    else:
        stream.write(render_table(report))
    return report.exit_status
