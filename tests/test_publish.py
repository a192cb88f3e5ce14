"""Metric payloads: batching within the PutMetricData limits, EMF shape, one timestamp per run."""

from __future__ import annotations

import json
import math
import os
from datetime import datetime, timezone

import boto3
import pytest
from moto import mock_aws

from monitor.collect.collector import botocore_client
from monitor.collect.publish import (
    BODY_BYTES_LIMIT,
    REQUEST_BYTES_BUDGET,
    Point,
    batches,
    datums,
    emf_lines,
    put_metric_data,
    request_bodies,
    send_points,
    speaks_json,
)
from monitor.spec import metrics
from monitor.spec.kinds import KIND_INFO, TreatMissingData
from tests.support.offline_cloudwatch import offline_client

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


# ---------------------------------------------------------------- zeros of error counters

def test_zero_error_counts_are_not_published_and_everything_else_is():
    points = [
        Point(metrics.MESSAGE_PARSE_ERRORS, "a", 0),
        Point(metrics.QUEUE_READ_ERRORS, "a", 0),
        Point(metrics.QUEUE_DEPTH, "a", 0),
        Point(metrics.MESSAGE_PARSE_ERRORS, "b", 1),
        Point(metrics.QUEUE_READ_ERRORS, "b", 2),
    ]
    sent = [(d["MetricName"], d["Dimensions"][1]["Value"], d["Value"]) for d in datums(points, environment="e", timestamp=STAMP)]
    assert sent == [("QueueDepth", "a", 0.0), ("MessageParseErrors", "b", 1.0), ("QueueReadErrors", "b", 2.0)]
    lines = [json.loads(line) for line in emf_lines(points, namespace="N", environment="e", timestamp=STAMP)]
    assert [sorted(k for k in line if k in metrics.BY_NAME) for line in lines] == [["QueueDepth"], ["MessageParseErrors", "QueueReadErrors"]]


def test_every_alarm_on_a_metric_published_only_when_non_zero_treats_missing_as_not_breaching():
    omitted = {m for m in metrics.ALL_METRICS if m.omit_zero}
    assert omitted == {metrics.MESSAGE_PARSE_ERRORS, metrics.QUEUE_READ_ERRORS}
    for kind, info in KIND_INFO.items():
        if info.metric in omitted:
            assert info.treat_missing_data is TreatMissingData.NOT_BREACHING, kind


def test_no_shipped_alarm_reads_a_metric_published_only_when_not_0_as_a_gap():
    """A plain alarm on it treats missing as not breaching; metric math FILLs it with 0."""
    from pathlib import Path

    from monitor.cloudwatch.alarms import metric_alarms, render_alarms
    from monitor.spec.load import load_spec

    spec = load_spec(str(Path(__file__).resolve().parents[1] / "alarms.yaml"), env="demo", environ={})
    readers = 0
    for alarm in metric_alarms(render_alarms(spec, spec.environment("demo"))):  # composites read no metric
        if "Metrics" in alarm:
            expression = next(m["Expression"] for m in alarm["Metrics"] if m.get("ReturnData"))
            for query in alarm["Metrics"]:
                if "MetricStat" in query and metrics.BY_NAME[query["MetricStat"]["Metric"]["MetricName"]].omit_zero:
                    readers += 1
                    assert f"FILL({query['Id']}, 0)" in expression, alarm["AlarmName"]
        elif metrics.BY_NAME[alarm["MetricName"]].omit_zero:
            readers += 1
            assert alarm["TreatMissingData"] == "notBreaching", alarm["AlarmName"]
    assert readers >= 1  # the read-errors alarms add MessageParseErrors to QueueReadErrors


# ---------------------------------------------------------------- bodies written here, sent by botocore

def _mixed_points(count: int) -> list[Point]:
    points = []
    for i in range(count):
        key = f"tenant:{i}:jöbs \"quoted\" \u2603 " + "k" * (i % 7 * 150)
        points += [
            Point(metrics.QUEUE_DEPTH, key, i),
            Point(metrics.OLDEST_MESSAGE_AGE, key, i / 3),
            Point(metrics.MESSAGE_PARSE_ERRORS, key, i % 2),
            Point(metrics.CONSUMER_GROUP_LAG, key, 1e-7 * i, group=f"group-{i}"),
            Point(metrics.PATTERN_DEPTH_SUM, "tenant:*:jobs", 10**15 + i),
        ]
    return points + [Point(metrics.CONNECTION_FAILURE, "primary", 0), Point(metrics.OLDEST_MESSAGE_AGE, "nan", math.nan)]


@pytest.mark.parametrize("stamp", [STAMP, datetime(2026, 11, 26, 7, 0, 1, 250_000, tzinfo=timezone.utc)])
def test_request_bodies_equal_botocores_own_serialisation_byte_for_byte(aws_env, stamp):
    """The same points through botocore's validator and serialiser, and through request_bodies."""
    points = _mixed_points(900)
    ours = list(request_bodies(points, namespace="Test/Q", environment="dév", timestamp=stamp))
    data = datums(points, environment="dév", timestamp=stamp)
    theirs = []
    client = botocore_client("cloudwatch", region="us-east-1")
    client.meta.events.register("before-call.cloudwatch.PutMetricData", lambda params, **_: theirs.append(params["body"]) or (_Accepted(), {}))
    start = 0
    for count, _ in ours:  # the same datums in each request, validated and serialised by botocore
        client.put_metric_data(Namespace="Test/Q", MetricData=data[start : start + count])
        start += count
    assert speaks_json(client) and start == len(data) and len(ours) >= 5 and max(n for n, _ in ours) == 1000
    assert [body for _, body in ours] == theirs
    assert [json.loads(body) for _, body in ours] == [json.loads(body) for body in theirs]


class _Accepted:
    status_code = 200


def test_request_bodies_hold_at_most_1000_datums_and_at_most_the_byte_limit():
    short = [Point(metrics.QUEUE_DEPTH, f"q{i}", i) for i in range(2001)]
    assert [n for n, _ in request_bodies(short, namespace="N", environment="e", timestamp=STAMP)] == [1000, 1000, 1]
    long = [Point(metrics.QUEUE_DEPTH, f"{i}:" + "k" * 1020, i) for i in range(2000)]
    parts = list(request_bodies(long, namespace="N", environment="e", timestamp=STAMP))
    assert all(len(body) <= BODY_BYTES_LIMIT for _, body in parts) and max(len(body) for _, body in parts) > BODY_BYTES_LIMIT - 2000
    assert [len(json.loads(body)["MetricData"]) for _, body in parts] == [n for n, _ in parts] and sum(n for n, _ in parts) == 2000


def test_send_points_gzips_and_signs_each_body_for_real_aws(aws_env, monkeypatch):
    import gzip

    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_DISABLE_REQUEST_COMPRESSION", raising=False)
    client, sent = offline_client()
    points = [Point(metrics.QUEUE_DEPTH, f"q{i}", i) for i in range(2500)]
    report = send_points(client, "Test/Q", points, environment="e", timestamp=STAMP)
    assert (report.requests, report.published, report.failed) == (3, 2500, 0)
    expected = [body for _, body in request_bodies(points, namespace="Test/Q", environment="e", timestamp=STAMP)]
    assert [gzip.decompress(r.body) for r in sent] == expected
    for request in sent:
        headers = {k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
        assert headers["Content-Encoding"] == "gzip" and headers["Authorization"].startswith("AWS4-HMAC-SHA256 ")
        assert headers["X-Amz-Target"] == "GraniteServiceVersion20100801.PutMetricData"
        assert headers["Content-Type"] == "application/x-amz-json-1.0"
        assert _signature(request, headers) in headers["Authorization"]  # signed over the gzipped body that is sent


def _signature(request, headers: dict) -> str:
    """SigV4 of the request as sent, computed anew: it matches only if botocore signed this very body."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    signed = headers["Authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
    kept = {k: v for k, v in headers.items() if k.lower() in signed}
    copy = AWSRequest(method=request.method, url=request.url, headers=kept, data=request.body)
    copy.context["timestamp"] = headers["X-Amz-Date"]
    credentials = Credentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"], os.environ.get("AWS_SESSION_TOKEN"))
    auth = SigV4Auth(credentials, "monitoring", "us-east-1")
    return auth.signature(auth.string_to_sign(copy, auth.canonical_request(copy)), copy)


def test_send_points_reaches_the_emulator_over_http(moto_server):
    client = botocore_client("cloudwatch", region="us-east-1")
    now = datetime.now(timezone.utc).replace(microsecond=0)
    points = [Point(metrics.QUEUE_DEPTH, f"q{i}", i) for i in range(1500)] + [Point(metrics.CONSUMER_GROUP_LAG, "orders", 7, group="billing")]
    report = send_points(client, "Test/Q", points, environment="e", timestamp=now)
    assert (report.requests, report.published, report.errors) == (2, 1501, [])
    stats = client.get_metric_statistics(
        Namespace="Test/Q",
        MetricName="QueueDepth",
        Dimensions=[{"Name": "Environment", "Value": "e"}, {"Name": "Queue", "Value": "q1234"}],
        StartTime=now.timestamp() - 60,
        EndTime=now.timestamp() + 60,
        Period=60,
        Statistics=["Maximum"],
    )["Datapoints"]
    assert [d["Maximum"] for d in stats] == [1234.0]
    lag = client.list_metrics(Namespace="Test/Q", MetricName="ConsumerGroupLag")["Metrics"]
    assert [sorted((d["Name"], d["Value"]) for d in m["Dimensions"]) for m in lag] == [[("ConsumerGroup", "billing"), ("Environment", "e"), ("Queue", "orders")]]


def _fail_second_request(client):
    from botocore.exceptions import ClientError

    calls = []

    def fail_second(**_):
        calls.append(1)
        if len(calls) == 2:
            raise ClientError({"Error": {"Code": "InternalServiceError", "Message": "boom"}}, "PutMetricData")

    client.meta.events.register("before-call.cloudwatch.PutMetricData", fail_second)


@pytest.mark.parametrize("sender", ["send_points", "put_metric_data"])
def test_a_failed_request_is_recorded_and_the_others_are_sent(aws_env, sender):
    client, sent = offline_client()
    _fail_second_request(client)
    points = queue_points(2500)
    if sender == "send_points":
        report = send_points(client, "Test/Q", points, environment="e", timestamp=STAMP)
    else:
        report = put_metric_data(client, "Test/Q", datums(points, environment="e", timestamp=STAMP))
    assert (report.requests, report.published, report.failed, len(sent)) == (3, 1500, 1000, 2)
    assert report.errors == ["PutMetricData: InternalServiceError: boom"]
