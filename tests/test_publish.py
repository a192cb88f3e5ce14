"""Metric payloads: batching within the PutMetricData limits, EMF shape, one timestamp per run."""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone

import boto3
import pytest
from moto import mock_aws

from monitor.collect.publish import (
    REQUEST_BYTES_BUDGET,
    Point,
    batches,
    datums,
    emf_lines,
    put_metric_data,
)
from monitor.spec import metrics

STAMP = datetime(2026, 11, 26, 7, 0, tzinfo=timezone.utc)


def queue_points(count: int) -> list[Point]:
    return [Point(metrics.QUEUE_DEPTH, f"tenant:{i}:jobs", i) for i in range(count)]


def test_datums_carry_names_dimensions_units_and_one_timestamp():
    data = datums(queue_points(3) + [Point(metrics.CONNECTION_FAILURE, "primary", 0)], environment="dev", timestamp=STAMP)
    assert {d["Timestamp"] for d in data} == {STAMP}
    assert data[0] == {
        "MetricName": "QueueDepth",
        "Dimensions": [{"Name": "Environment", "Value": "dev"}, {"Name": "Queue", "Value": "tenant:0:jobs"}],
        "Timestamp": STAMP,
        "Value": 0.0,
        "Unit": "Count",
        "StorageResolution": 60,
    }
    assert data[-1]["Dimensions"][1] == {"Name": "RedisTarget", "Value": "primary"}


def test_non_finite_values_are_dropped():
    data = datums([Point(metrics.OLDEST_MESSAGE_AGE, "q", math.nan), Point(metrics.QUEUE_DEPTH, "q", 1)], environment="e", timestamp=STAMP)
    assert [d["MetricName"] for d in data] == ["QueueDepth"]


@pytest.mark.parametrize("count, expected", [(1, [1]), (1000, [1000]), (1001, [1000, 1]), (2500, [1000, 1000, 500])])
def test_batches_hold_at_most_1000(count, expected):
    data = datums(queue_points(count), environment="e", timestamp=STAMP)
    assert [len(b) for b in batches(data)] == expected


def test_batches_stay_under_the_size_budget_with_long_dimension_values():
    long_points = [Point(metrics.QUEUE_DEPTH, f"{i}:" + "k" * 1000, i) for i in range(1200)]
    data = datums(long_points, environment="e", timestamp=STAMP)
    parts = list(batches(data))
    assert len(parts) > 2
    for part in parts:
        assert sum(len(json.dumps(d, default=str)) for d in part) <= REQUEST_BYTES_BUDGET
    assert sum(len(p) for p in parts) == 1200


@mock_aws
def test_put_metric_data_makes_ceil_points_over_1000_requests():
    client = boto3.client("cloudwatch", region_name="us-east-1")
    calls = []
    client.meta.events.register("before-call.cloudwatch.PutMetricData", lambda **kw: calls.append(1))
    data = datums(queue_points(2001), environment="e", timestamp=datetime.now(timezone.utc))
    report = put_metric_data(client, "Test/Q", data)
    assert (report.requests, report.published, report.failed, len(calls)) == (3, 2001, 0, 3)
    listed = client.list_metrics(Namespace="Test/Q", MetricName="QueueDepth")["Metrics"]
    assert len(listed) >= 500  # moto pages ListMetrics at 500


@mock_aws
def test_a_failed_batch_does_not_stop_the_others():
    client = boto3.client("cloudwatch", region_name="us-east-1")
    seen = []

    def fail_second(**kwargs):
        seen.append(1)
        if len(seen) == 2:
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "InternalServiceError", "Message": "boom"}}, "PutMetricData")

    client.meta.events.register("before-call.cloudwatch.PutMetricData", fail_second)
    data = datums(queue_points(2500), environment="e", timestamp=datetime.now(timezone.utc))
    report = put_metric_data(client, "Test/Q", data)
    assert report.requests == 3 and report.failed == 1000 and report.published == 1500
    assert report.errors == ["PutMetricData: InternalServiceError: boom"]


def test_emf_lines_follow_the_embedded_metric_format():
    points = [Point(metrics.QUEUE_DEPTH, "q:a", 5), Point(metrics.OLDEST_MESSAGE_AGE, "q:a", 12.5), Point(metrics.CONNECTION_FAILURE, "primary", 0)]
    lines = emf_lines(points, namespace="Test/Q", environment="dev", timestamp=STAMP)
    assert len(lines) == 2
    record = json.loads(lines[0])
    directive = record["_aws"]["CloudWatchMetrics"][0]
    assert record["_aws"]["Timestamp"] == int(STAMP.timestamp() * 1000)
    assert directive["Namespace"] == "Test/Q"
    assert directive["Dimensions"] == [["Environment", "Queue"]]
    assert [m["Name"] for m in directive["Metrics"]] == ["QueueDepth", "OldestMessageAgeSeconds"]
    assert (record["Environment"], record["Queue"], record["QueueDepth"], record["OldestMessageAgeSeconds"]) == ("dev", "q:a", 5, 12.5)
    assert json.loads(lines[1])["RedisTarget"] == "primary"


def test_emf_splits_directives_at_100_metrics():
    from monitor.spec.metrics import Metric, Scope, Unit

    many = [Point(Metric(f"M{i}", Unit.COUNT, Scope.QUEUE, ""), "q", i) for i in range(150)]
    lines = emf_lines(many, namespace="N", environment="e", timestamp=STAMP)
    assert [len(json.loads(l)["_aws"]["CloudWatchMetrics"][0]["Metrics"]) for l in lines] == [100, 50]
