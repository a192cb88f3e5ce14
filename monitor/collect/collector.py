"""One collection: read every queue from Redis, turn every failure into a signal, publish once.

Every run publishes ConnectionFailure (0 or 1) and CollectorHeartbeat, whatever happened, so an
outage raises the connection-failure alarm and a stopped collector raises the heartbeat alarm.
Publishing happens once, in a `finally`, with all points stamped with one collection time.

A Collector reads one Redis target: the queues, patterns, streams and delayed sets that name it (or
name none, for the environment's first target), on one node or on every primary of a cluster.
`collectors_for` gives the one that MONITOR_TARGET names, or one per target of the environment, so
a Lambda can be deployed per target or once for all of them.
Keys a pattern matches are all read, up to MAX_MATCHED_KEYS: the first max_keys (in key order,
so the same keys keep their metrics from run to run) get metrics of their own, and every pattern
publishes aggregates over all of them (PatternQueueCount, PatternDepthSum/Max, PatternOldestAgeMax).
"""

from __future__ import annotations

import itertools
import json
import operator
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, NamedTuple, Sequence

from monitor.collect.cluster import discover_cluster, read_cluster, read_typed_cluster
from monitor.collect.connection import (
    ConfigError,
    RedisSettings,
    TokenProvider,
    TokenSource,
    classify_failure,
    open_client,
    resolve_settings,
    scrub,
)
from monitor.collect.publish import DatumTexts, Point, PublishReport, Requests, iter_datums, iter_emf_lines, json_strings, put_metric_data, speaks_json
from monitor.collect.queue_types import read_typed_queues
from monitor.collect.reader import QueueReading, discover, read_queues
from monitor.spec import metrics
from monitor.spec.load import load_spec
from monitor.spec.model import Environment, Pattern, Spec

BUNDLED_SPEC = Path(__file__).resolve().parents[2] / "alarms.yaml"

# Wall-clock source for the collection time and message ages. Only the demo changes it, to replay
# a schedule of simulated minutes through the real handler.
clock: Callable[[], float] = time.time

# Hard bound on the keys one pattern's discovery keeps (and the run then reads) whatever max_keys
# says: 200k queues read at the measured 100k-600k lists/s stay within a few seconds of Lambda time.
MAX_MATCHED_KEYS = 200_000
MAX_FAILURE_TEXT = 500  # characters of an error kept in the log line


@dataclass
class RunSummary:
    """What one run did; logged as one JSON line."""

    environment: str
    target: str
    timestamp: str
    queues_read: int = 0
    streams_read: int = 0
    delayed_read: int = 0
    keys_discovered: int = 0
    points: int = 0
    published: int = 0
    put_requests: int = 0
    round_trips: int = 0
    connection_failure: int = 0
    failure_reason: str | None = None
    failure: str | None = None
    parse_errors: int = 0
    wrong_type_keys: int = 0
    moved_replies: int = 0  # cluster: commands answered MOVED (a resharding) and asked again of the new owner
    discovery_truncated: bool = False  # a pattern hit MAX_MATCHED_KEYS or the time budget
    keys_aggregated_only: int = 0  # matched keys beyond max_keys: in the pattern aggregates only
    failed_nodes: list[str] = field(default_factory=list)  # cluster: "host:port (reason)" per primary not read
    round_trips_by_node: dict[str, int] = field(default_factory=dict)  # cluster only
    publish_errors: list[str] = field(default_factory=list)
    duration_ms: int = 0

    def log_line(self) -> str:
        return json.dumps({"event": "queue_metrics_collection", **asdict(self)}, separators=(",", ":"))


def _age(reading: QueueReading) -> float | None:
    age = reading.oldest_age_seconds
    return None if age is None else round(age, 3)


# What one queue reading publishes, in order: each metric with its value (None: no point).
READING_METRICS: tuple[tuple[metrics.Metric, Callable[[QueueReading], float | None]], ...] = (
    (metrics.QUEUE_DEPTH, operator.attrgetter("depth")),
    (metrics.IN_FLIGHT_DEPTH, operator.attrgetter("in_flight")),
    (metrics.DEAD_LETTER_DEPTH, operator.attrgetter("dead_letter")),
    (metrics.DELAYED_TOTAL, operator.attrgetter("delayed_total")),
    (metrics.DELAYED_OVERDUE, operator.attrgetter("delayed_overdue")),
    (metrics.OLDEST_MESSAGE_AGE, _age),
    (metrics.MESSAGE_PARSE_ERRORS, lambda reading: 1 if reading.parse_error else 0),
    (metrics.QUEUE_READ_ERRORS, lambda reading: len(reading.wrong_type_keys) + len(reading.unread_keys)),
)
# Readings rendered together into datums (DatumTexts.column): a column per metric at a time.
READINGS_PER_COLUMN = 1000


def reading_points(reading: QueueReading) -> list[Point]:
    """The metric points of one queue reading (pure)."""
    key = reading.source.key
    return [Point(metric, key, value) for metric, get in READING_METRICS if (value := get(reading)) is not None]


class ReadingDatums:
    """The datums of queue readings, a column per metric and READINGS_PER_COLUMN readings at a time:
    what reading_points and DatumTexts.points make of them, in another order, at a third of the cost."""

    def __init__(self, texts: DatumTexts, readings: Sequence[QueueReading]):
        self.texts, self.readings = texts, readings
        self.points = 0  # the points they stand for (a 0 of an omit_zero metric is a point, not a datum)

    def __iter__(self) -> Iterator[str]:
        for start in range(0, len(self.readings), READINGS_PER_COLUMN):
            part = self.readings[start : start + READINGS_PER_COLUMN]
            subjects = json_strings([reading.source.key for reading in part])
            for metric, get in READING_METRICS:
                values = list(map(get, part))
                self.points += len(values) - values.count(None)
                yield from self.texts.column(metric, subjects, values)


def pattern_points(pattern: str, readings: list[QueueReading]) -> list[Point]:
    """The aggregate points of every queue a pattern matched (pure)."""
    depths = [r.depth for r in readings if r.depth is not None]
    ages = [r.oldest_age_seconds for r in readings if r.oldest_age_seconds is not None]
    points = [
        Point(metrics.PATTERN_QUEUE_COUNT, pattern, len(readings)),
        Point(metrics.PATTERN_DEPTH_SUM, pattern, sum(depths)),
        Point(metrics.PATTERN_DEPTH_MAX, pattern, max(depths, default=0)),
    ]
    if ages or not readings:
        points.append(Point(metrics.PATTERN_OLDEST_AGE_MAX, pattern, round(max(ages, default=0.0), 3)))
    return points


class Collector:
    """Collects one environment; keeps its token (and so its Secrets Manager call) across runs."""

    def __init__(
        self,
        spec: Spec,
        env: Environment,
        *,
        target: str | None = None,
        environ: Mapping[str, str] | None = None,
        cloudwatch: Any = None,
        secrets_factory: Callable[[], Any] | None = None,
        emit: Callable[[str], None] = print,
        dry_run: bool = False,
    ):
        self.spec = spec
        self.env = env
        self.target = env.target(target)
        mine = self.target.name
        self.queues = [q for q in spec.queues if env.target_name(q.target) == mine]
        self.patterns = [p for p in spec.patterns if env.target_name(p.target) == mine]
        self.streams = [s.source for s in spec.streams if env.target_name(s.target) == mine]
        self.delayed = [d.source for d in spec.delayed if env.target_name(d.target) == mine]
        self.environ = os.environ if environ is None else environ
        self.cloudwatch = cloudwatch
        self.secrets_factory = secrets_factory
        self.emit = emit
        self.dry_run = dry_run
        self._provider: TokenProvider | None = None
        self._provider_source: TokenSource | None = None
        self.last_datums: list[dict] = []
        self.last_readings: tuple[QueueReading, ...] = ()
        self.last_summary: RunSummary | None = None

    def _token_provider(self, settings: RedisSettings) -> TokenProvider:
        if self._provider is None or self._provider_source != settings.token:
            if settings.token.secret_arn and self.secrets_factory is None:
                raise ConfigError("the token comes from Secrets Manager but no Secrets Manager client is configured")
            self._provider = TokenProvider(settings.token, self.secrets_factory or (lambda: None))
            self._provider_source = settings.token
        return self._provider

    def _failure_text(self, text: str) -> str:
        """An error text for the log line: without the token, and short."""
        return scrub(text, self._provider.known if self._provider else None)[:MAX_FAILURE_TEXT]

    def run(self) -> RunSummary:
        """One collection; never raises for a Redis problem (that becomes ConnectionFailure=1)."""
        import redis

        started = time.monotonic()
        stamp = datetime.fromtimestamp(int(clock()), timezone.utc)
        summary = RunSummary(environment=self.env.name, target=self.target.name, timestamp=stamp.isoformat())
        cluster = self.target.cluster
        collected = _Collected()
        settings = None
        live = self._live(stamp)
        read = False
        try:
            settings = resolve_settings(self.env, self.spec.collector, self.environ, self.target)
            summary.target = settings.target
            cluster = settings.cluster
            collected = self._read(settings, self._token_provider(settings), summary, live)
            read = True
        except (redis.RedisError, redis.exceptions.RedisClusterException, OSError, ConfigError) as exc:
            summary.connection_failure = 1
            summary.failure_reason = classify_failure(exc, settings)
            summary.failure = self._failure_text(f"{type(exc).__name__}: {exc}")
            collected = _Collected()
        finally:
            if live is not None and not read:
                live.discard()  # a failed run publishes no queue metrics, as if none had been read
            summary.duration_ms = int((time.monotonic() - started) * 1000)
            target = summary.target
            target_points = [
                Point(metrics.CONNECTION_FAILURE, target, summary.connection_failure),
                Point(metrics.COLLECTOR_HEARTBEAT, target, 1),
                Point(metrics.COLLECTION_DURATION, target, summary.duration_ms),
            ]
            if self.patterns:
                target_points.append(Point(metrics.DISCOVERED_QUEUES, target, summary.keys_discovered))
            if cluster:
                target_points.append(Point(metrics.CLUSTER_NODE_FAILURES, target, len(summary.failed_nodes)))
            self._publish(collected.readings, itertools.chain(collected.points, target_points), stamp, summary, live)
            self.emit(summary.log_line())
            self.last_summary = summary
        return summary

    def _live(self, stamp: datetime) -> _Live | None:
        """Where this run writes its PutMetricData requests while it reads, when it sends them itself."""
        if self.spec.collector.publish != "put_metric_data" or self.dry_run or self.cloudwatch is None or not speaks_json(self.cloudwatch):
            return None
        return _Live(DatumTexts(self.env.name, stamp, self.spec.collector.storage_resolution), Requests(self.cloudwatch, self.spec.namespace))

    def _read(self, settings: RedisSettings, provider: TokenProvider, summary: RunSummary, live: _Live | None) -> _Collected:
        """Read everything (a failure raises here): the readings with metrics of their own (unless
        `live` has them already), and the other points (pattern aggregates, streams, delayed sets)."""
        import redis

        def attempt() -> _Collected:
            client = open_client(settings, provider.get())
            try:
                return self._read_cluster(client, summary) if settings.cluster else self._read_node(client, summary, live)
            finally:
                client.close()

        try:
            return attempt()
        except redis.AuthenticationError:
            # The token may have been rotated since this container cached it: fetch it once more.
            if not provider.refresh():
                raise
            if live is not None:
                live.discard()
            summary.round_trips = summary.keys_discovered = 0
            return attempt()

    def _read_node(self, client, summary: RunSummary, live: _Live | None) -> _Collected:
        def find(pattern: Pattern):
            discovery = self.spec.collector.discovery
            return discover(
                client,
                pattern.pattern,
                scan_count=discovery.scan_count,
                max_keys=MAX_MATCHED_KEYS,
                time_budget_seconds=discovery.time_budget_seconds,
            )

        sources, own, matches = self._sources(find, summary)
        hand = None
        if live is not None:  # the requests are written while Redis reads the next queues
            hand = live.readings if len(own) == len(sources) else (lambda readings: live.readings([r for r in readings if r.source.key in own]))
        result = read_queues(client, sources, now=clock(), on_readings=hand)
        summary.round_trips += result.round_trips
        typed_points: list[Point] = []
        if self.streams or self.delayed:
            typed_points = self._typed(read_typed_queues(client, self.streams, self.delayed, now=clock()), summary)
        return self._collected(result.readings, own, matches, summary, typed_points, handed=hand is not None)

    def _typed(self, typed, summary: RunSummary) -> list[Point]:
        summary.round_trips += typed.round_trips
        summary.streams_read, summary.delayed_read = len(typed.streams), len(typed.delayed)
        summary.wrong_type_keys += typed.wrong_type_keys
        return typed.points()

    def _read_cluster(self, client, summary: RunSummary) -> _Collected:
        """Every primary for its own keys; a failing node sets ConnectionFailure, the others still count."""
        failed: dict[str, BaseException] = {}
        trips: dict[str, int] = {}

        def find(pattern: Pattern):
            discovery = self.spec.collector.discovery
            found = discover_cluster(
                client,
                pattern.pattern,
                scan_count=discovery.scan_count,
                max_keys=MAX_MATCHED_KEYS,
                time_budget_seconds=discovery.time_budget_seconds,
                skip_nodes=failed,
            )
            failed.update((f.node, f.error) for f in found.failures)
            for node, count in found.round_trips_by_node.items():
                trips[node] = trips.get(node, 0) + count
            return found

        sources, own, matches = self._sources(find, summary)
        result = read_cluster(client, sources, now=clock(), skip_nodes=failed)
        accounts = [result]
        typed_points: list[Point] = []
        if self.streams or self.delayed:
            typed, account = read_typed_cluster(client, self.streams, self.delayed, now=clock(), skip_nodes=[*failed, *(f.node for f in result.failures)])
            accounts.append(account)
            typed_points = self._typed(typed, summary)
        for account in accounts:
            failed.update((f.node, f.error) for f in account.failures)
            for node, count in account.round_trips_by_node.items():
                trips[node] = trips.get(node, 0) + count
            summary.moved_replies += account.moved
        summary.round_trips += result.round_trips
        summary.round_trips_by_node = dict(sorted(trips.items()))
        if failed:
            node, error = next(iter(failed.items()))
            summary.connection_failure = 1
            summary.failure_reason = classify_failure(error)
            summary.failed_nodes = [f"{n} ({classify_failure(e)})" for n, e in failed.items()]
            summary.failure = self._failure_text(f"node {node}: {type(error).__name__}: {error}")
        return self._collected(result.readings, own, matches, summary, typed_points)

    def _sources(self, find: Callable[[Pattern], Any], summary: RunSummary):
        """What to read: the declared queues and every key the patterns match (each key once)."""
        sources = [queue.source for queue in self.queues]
        own = {s.key for s in sources}  # keys that get metrics of their own
        keyed = set(own)
        matches: list[tuple[Pattern, tuple[str, ...]]] = []
        for pattern in self.patterns:
            found = find(pattern)
            summary.round_trips += found.round_trips
            summary.keys_discovered += len(found.keys)
            summary.discovery_truncated |= found.truncated or found.timed_out
            matches.append((pattern, found.keys))
            for index, key in enumerate(found.keys):
                if key not in keyed:
                    keyed.add(key)
                    sources.append(pattern.source(key))
                if index < pattern.max_keys:
                    own.add(key)
        return sources, own, matches

    def _collected(self, readings, own: set[str], matches, summary: RunSummary, typed_points: list[Point], handed: bool = False) -> _Collected:
        """Counts the run's errors now; the points are made lazily, as they are sent (the readings'
        own ones already are when they were `handed` to the live requests)."""
        summary.queues_read = len(readings)
        for reading in readings:
            summary.parse_errors += 1 if reading.parse_error else 0
            summary.wrong_type_keys += len(reading.wrong_type_keys)
        summary.keys_aggregated_only = len({k for _, keys in matches for k in keys} - own)
        self.last_readings = readings
        # At 100,000 queues the whole set of points would not fit the memory budget: a generator.
        by_key = {r.source.key: r for r in readings} if matches else {}
        aggregates = (p for pattern, keys in matches for p in pattern_points(pattern.pattern, [by_key[k] for k in keys]))
        mine = () if handed else readings if len(own) == len(readings) else [r for r in readings if r.source.key in own]
        return _Collected(mine, itertools.chain(aggregates, typed_points))

    def _publish(self, readings: Sequence[QueueReading], points: Iterable[Point], stamp: datetime, summary: RunSummary, live: _Live | None) -> None:
        """Publish the readings' points, then the other points; once, at the end of the run."""
        resolution = self.spec.collector.storage_resolution
        if live is not None:
            live.readings(readings)
            report, summary.points = live.send(points)
            summary.published = report.published
            summary.put_requests = report.requests
            summary.publish_errors = report.errors
            return
        counted = _Counted(itertools.chain(itertools.chain.from_iterable(map(reading_points, readings)), points))
        if self.spec.collector.publish == "emf":
            for line in iter_emf_lines(counted, namespace=self.spec.namespace, environment=self.env.name, timestamp=stamp, storage_resolution=resolution):
                self.emit(line)
            summary.points = summary.published = counted.count
            return
        if self.dry_run or self.cloudwatch is None:
            # Kept only when nothing is sent: for printing and inspection.
            self.last_datums = list(iter_datums(counted, environment=self.env.name, timestamp=stamp, storage_resolution=resolution))
            summary.points = counted.count
            return
        # A client that speaks_json has a _Live; this one speaks another protocol: botocore serialises.
        data = iter_datums(counted, environment=self.env.name, timestamp=stamp, storage_resolution=resolution)
        report = put_metric_data(self.cloudwatch, self.spec.namespace, data)
        summary.points = counted.count
        summary.published = report.published
        summary.put_requests = report.requests
        summary.publish_errors = report.errors


class _Live:
    """A run's PutMetricData requests, written from its readings while Redis is still being read
    (up to what Requests may hold; the readings past that are written as the requests are sent)."""

    def __init__(self, texts: DatumTexts, requests: Requests):
        self.texts, self.requests = texts, requests
        self.discard()

    def readings(self, readings: Sequence[QueueReading]) -> None:
        if self.requests.full:
            self.later.extend(readings)
            return
        datums = ReadingDatums(self.texts, readings)
        self.requests.add(datums)
        self.points += datums.points

    def send(self, points: Iterable[Point]) -> tuple[PublishReport, int]:
        """Send the requests, then the later readings' and the points' datums; and how many points that was."""
        later, counted = ReadingDatums(self.texts, self.later), _Counted(points)
        report = self.requests.send(itertools.chain(later, self.texts.points(counted)))
        return report, self.points + later.points + counted.count

    def discard(self) -> None:
        self.requests.discard()
        self.points = 0  # the points of the readings written so far
        self.later: list[QueueReading] = []


class _Collected(NamedTuple):
    """What a run read: the readings with metrics of their own, and the other points."""

    readings: Sequence[QueueReading] = ()
    points: Iterable[Point] = ()


class _Counted:
    """An iterable that counts what passed through it (zip's own counting: no Python call per item)."""

    def __init__(self, items: Iterable):
        self._counter = itertools.count()
        self._items = items

    def __iter__(self):
        # zip takes from items first, so the counter stops at the number of items that came through.
        return map(operator.itemgetter(0), zip(self._items, self._counter))

    @property
    def count(self) -> int:
        counted = next(self._counter)
        self._counter = itertools.count(counted)
        return counted


def botocore_client(service: str, *, region: str | None = None, endpoint_url: str | None = None, profile: str | None = None):
    """A lean AWS client (botocore only: the Lambda's cold start does not pay for boto3)."""
    import botocore.session
    from botocore.config import Config

    session = botocore.session.Session(profile=profile)
    endpoint_url = endpoint_url or os.environ.get(f"AWS_ENDPOINT_URL_{service.upper()}") or os.environ.get("AWS_ENDPOINT_URL")
    config = Config(
        retries={"mode": "standard", "max_attempts": 5},
        connect_timeout=5,
        read_timeout=10,
        # The local emulator cannot read gzipped bodies; real AWS can.
        disable_request_compression=bool(endpoint_url) or os.environ.get("AWS_DISABLE_REQUEST_COMPRESSION", "").lower() == "true",
    )
    return session.create_client(service, region_name=region or session.get_config_variable("region"), endpoint_url=endpoint_url, config=config)


def collectors_for(spec: Spec, env: Environment, *, environ: Mapping[str, str] | None = None, **options) -> list[Collector]:
    """The collector of the target MONITOR_TARGET names, or one per target of the environment."""
    environ = os.environ if environ is None else environ
    chosen = environ.get("MONITOR_TARGET")
    names = [env.target(chosen).name] if chosen else [t.name for t in env.targets]
    return [Collector(spec, env, target=name, environ=environ, **options) for name in names]


def collectors_with_clients(
    spec: Spec, env: Environment, *, region: str | None, endpoint_url: str | None = None, profile: str | None = None, **options
) -> list[Collector]:
    """collectors_for, with the AWS clients the run needs: CloudWatch only when it will publish through it."""

    def client(service: str):
        return botocore_client(service, region=region, endpoint_url=endpoint_url, profile=profile)

    sends = spec.collector.publish == "put_metric_data" and not options.get("dry_run")
    return collectors_for(spec, env, cloudwatch=client("cloudwatch") if sends else None, secrets_factory=lambda: client("secretsmanager"), **options)


_LAMBDA_STATE: dict[str, list[Collector]] = {}


def lambda_handler(event: Any, context: Any, *, environ: Mapping[str, str] | None = None) -> dict:
    """The scheduled Lambda's work: one collection per invocation, state kept per container."""
    environ = os.environ if environ is None else environ
    spec_path = environ.get("MONITOR_SPEC") or str(BUNDLED_SPEC)
    env_name = environ.get("MONITOR_ENV")
    key = f"{spec_path}|{env_name}|{environ.get('MONITOR_TARGET', '')}"
    collectors = _LAMBDA_STATE.get(key)
    if collectors is None:
        spec = load_spec(spec_path, env=env_name, environ=environ)
        env = spec.environment(env_name)
        region = environ.get("AWS_REGION") or env.region
        collectors = collectors_with_clients(
            spec, env, region=region, environ=environ, emit=lambda line: print(line, file=sys.stdout, flush=True)
        )
        _LAMBDA_STATE[key] = collectors
    summaries = [collector.run() for collector in collectors]  # every target, even after one failed
    errors = [e for summary in summaries for e in summary.publish_errors]
    if errors:
        # Fail the invocation so the Lambda's own Errors metric (and its alarm) sees it.
        raise RuntimeError(f"{len(errors)} PutMetricData request(s) failed: {errors[0]}")
    return {
        "connection_failure": max(s.connection_failure for s in summaries),
        "queues_read": sum(s.queues_read for s in summaries),
        "points": sum(s.points for s in summaries),
        "targets": {s.target: {"connection_failure": s.connection_failure, "queues_read": s.queues_read} for s in summaries},
    }
