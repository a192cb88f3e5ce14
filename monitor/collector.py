"""One collection: read every queue from Redis, turn every failure into a signal, publish once.

Every run publishes ConnectionFailure (0 or 1) and CollectorHeartbeat, whatever happened, so an
outage raises the connection-failure alarm and a stopped collector raises the heartbeat alarm.
Publishing happens once, in a `finally`, with all points stamped with one collection time.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from monitor import metrics
from monitor.connection import (
    ConfigError,
    RedisSettings,
    TokenProvider,
    TokenSource,
    classify_failure,
    open_client,
    resolve_settings,
    scrub,
)
from monitor.publish import Point, emf_lines, iter_datums, put_metric_data
from monitor.reader import QueueReading, QueueSource, ReadResult, discover, read_queues
from monitor.spec import Environment, Spec, load_spec

BUNDLED_SPEC = Path(__file__).resolve().parent.parent / "alarms.yaml"

# Wall-clock source for the collection time and message ages. Only the demo changes it, to replay
# a schedule of simulated minutes through the real handler.
clock: Callable[[], float] = time.time


@dataclass
class RunSummary:
    """What one run did; logged as one JSON line."""

    environment: str
    target: str
    timestamp: str
    queues_read: int = 0
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
    discovery_truncated: bool = False
    publish_errors: list[str] = field(default_factory=list)
    duration_ms: int = 0

    def log_line(self) -> str:
        return json.dumps({"event": "queue_metrics_collection", **asdict(self)}, separators=(",", ":"))


def reading_points(reading: QueueReading) -> list[Point]:
    """The metric points of one queue reading (pure)."""
    key = reading.source.key
    points = []
    if reading.depth is not None:
        points.append(Point(metrics.QUEUE_DEPTH, key, reading.depth))
    if reading.source.processing_key and reading.in_flight is not None:
        points.append(Point(metrics.IN_FLIGHT_DEPTH, key, reading.in_flight))
    if reading.source.dead_letter_key and reading.dead_letter is not None:
        points.append(Point(metrics.DEAD_LETTER_DEPTH, key, reading.dead_letter))
    if reading.oldest_age_seconds is not None:
        points.append(Point(metrics.OLDEST_MESSAGE_AGE, key, round(reading.oldest_age_seconds, 3)))
    points.append(Point(metrics.MESSAGE_PARSE_ERRORS, key, 1 if reading.parse_error else 0))
    points.append(Point(metrics.QUEUE_READ_ERRORS, key, len(reading.wrong_type_keys)))
    return points


class Collector:
    """Collects one environment; keeps its token (and so its Secrets Manager call) across runs."""

    def __init__(
        self,
        spec: Spec,
        env: Environment,
        *,
        environ: Mapping[str, str] | None = None,
        cloudwatch: Any = None,
        secrets_factory: Callable[[], Any] | None = None,
        emit: Callable[[str], None] = print,
        dry_run: bool = False,
    ):
        self.spec = spec
        self.env = env
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

    def run(self) -> RunSummary:
        """One collection; never raises for a Redis problem (that becomes ConnectionFailure=1)."""
        import redis

        started = time.monotonic()
        stamp = datetime.fromtimestamp(int(clock()), timezone.utc)
        summary = RunSummary(environment=self.env.name, target=self.env.redis.name, timestamp=stamp.isoformat())
        readings: tuple[QueueReading, ...] = ()
        provider: TokenProvider | None = None
        try:
            settings = resolve_settings(self.env, self.spec.collector, self.environ)
            summary.target = settings.target
            provider = self._token_provider(settings)
            readings = self._read(settings, provider, summary)
        except (redis.RedisError, OSError, ConfigError) as exc:
            summary.connection_failure = 1
            summary.failure_reason = classify_failure(exc)
            token = provider.get() if provider is not None and provider._cached is not None else None
            summary.failure = scrub(f"{type(exc).__name__}: {exc}", token)[:500]
        finally:
            summary.duration_ms = int((time.monotonic() - started) * 1000)
            target = summary.target
            target_points = [
                Point(metrics.CONNECTION_FAILURE, target, summary.connection_failure),
                Point(metrics.COLLECTOR_HEARTBEAT, target, 1),
                Point(metrics.COLLECTION_DURATION, target, summary.duration_ms),
            ]
            if self.spec.patterns:
                target_points.append(Point(metrics.DISCOVERED_QUEUES, target, summary.keys_discovered))
            self.last_readings = readings
            # Points are made as they are sent: at 100,000 queues the whole set would not fit the budget.
            points = itertools.chain((p for r in readings for p in reading_points(r)), target_points)
            self._publish(points, stamp, summary)
            self.emit(summary.log_line())
            self.last_summary = summary
        return summary

    def _read(self, settings: RedisSettings, provider: TokenProvider, summary: RunSummary) -> tuple[QueueReading, ...]:
        import redis

        def attempt() -> ReadResult:
            client = open_client(settings, provider.get())
            try:
                return read_queues(client, self._sources(client, summary), now=clock())
            finally:
                client.close()

        try:
            result = attempt()
        except redis.AuthenticationError:
            # The token may have been rotated since this container cached it: fetch it once more.
            if not provider.refresh():
                raise
            result = attempt()
        summary.round_trips += result.round_trips
        summary.queues_read = len(result.readings)
        for reading in result.readings:
            summary.parse_errors += 1 if reading.parse_error else 0
            summary.wrong_type_keys += len(reading.wrong_type_keys)
        return result.readings

    def _sources(self, client, summary: RunSummary) -> list[QueueSource]:
        sources = [queue.source for queue in self.spec.queues]
        declared = {s.key for s in sources}
        discovery = self.spec.collector.discovery
        for pattern in self.spec.patterns:
            found = discover(
                client,
                pattern.pattern,
                scan_count=discovery.scan_count,
                max_keys=pattern.max_keys,
                time_budget_seconds=discovery.time_budget_seconds,
            )
            summary.round_trips += found.round_trips
            summary.keys_discovered += len(found.keys)
            summary.discovery_truncated |= found.truncated or found.timed_out
            for key in found.keys:
                if key not in declared:
                    declared.add(key)
                    sources.append(pattern.source(key))
        return sources

    def _publish(self, points: Iterable[Point], stamp: datetime, summary: RunSummary) -> None:
        resolution = self.spec.collector.storage_resolution
        counted = _Counted(points)
        if self.spec.collector.publish == "emf":
            for line in emf_lines(counted, namespace=self.spec.namespace, environment=self.env.name, timestamp=stamp, storage_resolution=resolution):
                self.emit(line)
            summary.points = summary.published = counted.count
            return
        data = iter_datums(counted, environment=self.env.name, timestamp=stamp, storage_resolution=resolution)
        if self.dry_run or self.cloudwatch is None:
            self.last_datums = list(data)  # kept only when nothing is sent: for printing and inspection
            summary.points = counted.count
            return
        report = put_metric_data(self.cloudwatch, self.spec.namespace, data)
        summary.points = counted.count
        summary.published = report.published
        summary.put_requests = report.requests
        summary.publish_errors = report.errors


class _Counted:
    """An iterable that counts what passed through it."""

    def __init__(self, items: Iterable):
        self._items = items
        self.count = 0

    def __iter__(self):
        for item in self._items:
            self.count += 1
            yield item


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


_LAMBDA_STATE: dict[str, Collector] = {}


def lambda_handler(event: Any, context: Any, *, environ: Mapping[str, str] | None = None) -> dict:
    """The scheduled Lambda's work: one collection per invocation, state kept per container."""
    environ = os.environ if environ is None else environ
    spec_path = environ.get("MONITOR_SPEC") or str(BUNDLED_SPEC)
    env_name = environ.get("MONITOR_ENV")
    key = f"{spec_path}|{env_name}"
    collector = _LAMBDA_STATE.get(key)
    if collector is None:
        spec = load_spec(spec_path, env=env_name, environ=environ)
        env = spec.environment(env_name)
        region = environ.get("AWS_REGION") or env.region
        collector = Collector(
            spec,
            env,
            environ=environ,
            cloudwatch=botocore_client("cloudwatch", region=region) if spec.collector.publish == "put_metric_data" else None,
            secrets_factory=lambda: botocore_client("secretsmanager", region=region),
            emit=lambda line: print(line, file=sys.stdout, flush=True),
        )
        _LAMBDA_STATE[key] = collector
    summary = collector.run()
    if summary.publish_errors:
        # Fail the invocation so the Lambda's own Errors metric (and its alarm) sees it.
        raise RuntimeError(f"{len(summary.publish_errors)} PutMetricData request(s) failed: {summary.publish_errors[0]}")
    return {"connection_failure": summary.connection_failure, "queues_read": summary.queues_read, "points": summary.points}
