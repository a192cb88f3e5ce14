"""Metric payloads (pure) and their sending: PutMetricData in as few requests as allowed, or EMF lines."""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Iterator

from monitor.spec.metrics import Metric

MAX_DATUMS_PER_REQUEST = 1000  # PutMetricData: 1000 MetricData entries per request
MAX_REQUEST_BYTES = 1024 * 1024  # PutMetricData: 1 MB per request
# Our estimate of a datum's encoded size is its strings plus a fixed overhead for the field names,
# timestamp, value and unit as JSON would spell them; encodings differ, so leave a wide margin.
REQUEST_BYTES_BUDGET = MAX_REQUEST_BYTES // 2
DATUM_OVERHEAD_BYTES = 200
EMF_MAX_METRICS_PER_DIRECTIVE = 100  # Embedded Metric Format limit

Datum = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Point:
    """One value of one metric for one queue or target."""

    metric: Metric
    subject: str  # queue key or Redis target name
    value: float
    group: str | None = None  # the consumer group, for metrics of Scope.GROUP


def iter_datums(points: Iterable[Point], *, environment: str, timestamp: datetime, storage_resolution: int = 60) -> Iterator[Datum]:
    """PutMetricData MetricData entries, all stamped with the one collection time, made one at a time."""
    for point in points:
        if not math.isfinite(point.value):  # CloudWatch rejects NaN and infinity
            continue
        yield {
            "MetricName": point.metric.name,
            "Dimensions": point.metric.dimensions(environment, point.subject, point.group),
            "Timestamp": timestamp,
            "Value": float(point.value),
            "Unit": point.metric.unit.value,
            "StorageResolution": storage_resolution,
        }


def datums(points: Iterable[Point], *, environment: str, timestamp: datetime, storage_resolution: int = 60) -> list[Datum]:
    return list(iter_datums(points, environment=environment, timestamp=timestamp, storage_resolution=storage_resolution))


def _size(datum: Datum) -> int:
    """A generous estimate of a datum's encoded size (cheap: no serialising)."""
    return DATUM_OVERHEAD_BYTES + len(datum["MetricName"]) + sum(len(d["Name"]) + len(d["Value"]) for d in datum["Dimensions"])


def batches(data: Iterable[Datum]) -> Iterator[list[Datum]]:
    """Requests of at most 1000 entries and well under 1 MB each, made as they are consumed."""
    current: list[Datum] = []
    size = 0
    for datum in data:
        datum_size = _size(datum)
        if current and (len(current) >= MAX_DATUMS_PER_REQUEST or size + datum_size > REQUEST_BYTES_BUDGET):
            yield current
            current, size = [], 0
        current.append(datum)
        size += datum_size
    if current:
        yield current


@dataclass
class PublishReport:
    requests: int = 0
    published: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def put_metric_data(client, namespace: str, data: Iterable[Datum]) -> PublishReport:
    """Send every batch; a failed batch is recorded and does not stop the others."""
    from botocore.exceptions import BotoCoreError, ClientError

    report = PublishReport()
    for batch in batches(data):
        report.requests += 1
        try:
            client.put_metric_data(Namespace=namespace, MetricData=batch)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            report.failed += len(batch)
            report.errors.append(f"PutMetricData: {error.get('Code', 'error')}: {error.get('Message', '')}".strip())
        except BotoCoreError as exc:
            report.failed += len(batch)
            report.errors.append(f"PutMetricData: {type(exc).__name__}: {exc}")
        else:
            report.published += len(batch)
    return report


def iter_emf_lines(points: Iterable[Point], *, namespace: str, environment: str, timestamp: datetime, storage_resolution: int = 60) -> Iterator[str]:
    """Embedded Metric Format: one JSON log line per queue or target, no API call needed, made one at a time.

    Points of one subject arrive together (a queue's, then a target's), so consecutive points are
    grouped: memory stays one subject's worth whatever the number of queues.
    """
    epoch_ms = int(timestamp.timestamp() * 1000)
    finite = (p for p in points if math.isfinite(p.value))
    for (_, subject, consumer_group), run in itertools.groupby(finite, key=lambda p: (p.metric.scope, p.subject, p.group)):
        group = list(run)
        for start in range(0, len(group), EMF_MAX_METRICS_PER_DIRECTIVE):
            chunk = group[start : start + EMF_MAX_METRICS_PER_DIRECTIVE]
            dims = chunk[0].metric.dimensions(environment, subject, consumer_group)
            record: dict[str, Any] = {
                "_aws": {
                    "Timestamp": epoch_ms,
                    "CloudWatchMetrics": [
                        {
                            "Namespace": namespace,
                            "Dimensions": [[d["Name"] for d in dims]],
                            "Metrics": [
                                {"Name": p.metric.name, "Unit": p.metric.unit.value, **({"StorageResolution": 1} if storage_resolution == 1 else {})}
                                for p in chunk
                            ],
                        }
                    ],
                }
            }
            record.update({d["Name"]: d["Value"] for d in dims})
            record.update({p.metric.name: p.value for p in chunk})
            yield json.dumps(record, separators=(",", ":"))


def emf_lines(points: Iterable[Point], *, namespace: str, environment: str, timestamp: datetime, storage_resolution: int = 60) -> list[str]:
    return list(iter_emf_lines(points, namespace=namespace, environment=environment, timestamp=timestamp, storage_resolution=storage_resolution))
