"""The status command's core against moto in-process: rows, ordering, JSON, exit status, widths."""

from __future__ import annotations

import io
import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import pytest
import yaml
from botocore.stub import Stubber
from moto import mock_aws

from monitor.cloudwatch.api import put_alarms
from monitor.cloudwatch.alarms import metric_alarms, render_alarms
from monitor.commands import status
from monitor.commands.status import State, format_age
from monitor.errors import AwsError, ExitStatus
from monitor.spec import metrics
from monitor.spec.load import load_spec

ROOT = Path(__file__).resolve().parent.parent
ANSI = re.compile(r"\x1b\[[0-9;]*m")
MINT = "hokusai:mint_requests"
MODEL = "hokusai:model_ready_queue"


def alarm_name(env: str, subject: str, rest: str) -> str:
    """The rendered name of one shipped alarm, looked up (never rebuilt) from render_alarms."""
    spec = load_spec(str(ROOT / "alarms.yaml"), environ={})
    names = [a["AlarmName"] for a in render_alarms(spec, spec.environment(env)) if a["AlarmName"].endswith(f"-{subject}-{rest}")]
    assert len(names) == 1, names
    return names[0]


@pytest.mark.parametrize(
    "seconds, text",
    [
        (None, "-"),
        (-3, "0s"),
        (0, "0s"),
        (45, "45s"),
        (59.9, "59s"),
        (60, "1m"),
        (903, "15m 3s"),
        (3599, "59m 59s"),
        (3600, "1h"),
        (7500, "2h 5m"),
        (7201, "2h"),
        (86400, "1d"),
        (90061, "1d 1h"),
        (40 * 86400 + 7200, "40d 2h"),
    ],
)
def test_format_age(seconds, text):
    assert format_age(seconds) == text


@pytest.fixture(scope="module")
def shipped():
    spec = load_spec(str(ROOT / "alarms.yaml"), environ={})
    return spec, spec.environment("development")


def put_queue_metrics(cloudwatch, spec, env, now, values: dict) -> None:
    """values: {subject: {metric: value}} for queues (by key) and the Redis target (by name)."""
    data = []
    for subject, by_metric in values.items():
        for metric, value in by_metric.items():
            data.append({"MetricName": metric.name, "Dimensions": metric.dimensions(env.name, subject), "Value": value, "Unit": metric.unit.value, "Timestamp": now - timedelta(minutes=3)})
    cloudwatch.put_metric_data(Namespace=spec.namespace, MetricData=data)


SAMPLE_VALUES = {
    MINT: {metrics.QUEUE_DEPTH: 57, metrics.OLDEST_MESSAGE_AGE: 903, metrics.IN_FLIGHT_DEPTH: 1, metrics.DEAD_LETTER_DEPTH: 2},
    MODEL: {metrics.QUEUE_DEPTH: 3, metrics.OLDEST_MESSAGE_AGE: 7500, metrics.IN_FLIGHT_DEPTH: 1, metrics.DEAD_LETTER_DEPTH: 0},
    "primary": {metrics.CONNECTION_FAILURE: 0, metrics.COLLECTOR_HEARTBEAT: 1},
}


@pytest.fixture
def cloudwatch(shipped):
    spec, env = shipped
    with mock_aws():
        client = boto3.client("cloudwatch", region_name="us-east-1")
        put_alarms(client, render_alarms(spec, env))
        put_queue_metrics(client, spec, env, datetime.now(timezone.utc), SAMPLE_VALUES)
        yield client


def set_state(client, name: str, state: str) -> None:
    client.set_alarm_state(AlarmName=name, StateValue=state, StateReason=f"test set {state}")


def test_all_ok_exits_zero_with_values(cloudwatch, shipped):
    spec, env = shipped
    report = status.collect_status(spec, env, cloudwatch)
    assert report.exit_status is ExitStatus.SUCCESS
    assert report.count(State.OK) == len(metric_alarms(render_alarms(spec, env)))
    mint = next(q for q in report.queues if q.queue.key == MINT)
    assert mint.values["depth"].value == 57 and mint.values["oldest_age_seconds"].value == 903
    assert mint.values["in_flight"].value == 1  # the consumer's processing list
    assert report.targets[0].connection == "OK"
    text = status.render_table(report)
    row = next(line for line in text.splitlines() if line.startswith(MINT))
    # One point so far: its sparkline is one bar at the window's end, and no change yet.
    assert re.split(r"\s{2,}", row)[1:7] == ["57", "#", "15m 3s", "#", "1", "2"]
    model_row = next(line for line in text.splitlines() if line.startswith(MODEL))
    assert "2h 5m" in model_row
    assert "redis primary: connection OK; last heartbeat 3m" in text


def test_alarm_rows_come_first_and_exit_six(cloudwatch, shipped):
    spec, env = shipped
    set_state(cloudwatch, alarm_name("development", "hokusai-model_ready_queue", "processing-lag-warning"), "ALARM")
    report = status.collect_status(spec, env, cloudwatch)
    assert report.exit_status is ExitStatus.CHECK_FAILED
    # Without alarms the mint queue (more critical tiers) leads; an alarm puts the model queue first.
    assert [q.queue.key for q in report.queues] == [MODEL, MINT]
    text = status.render_table(report)
    lines = text.splitlines()
    assert lines[0].startswith("development: 1 ALARM, 19 OK")
    assert re.split(r"\s{2,}", lines[1]) == ["QUEUE", "DEPTH", "DEPTH 30m", "OLDEST", "OLDEST 30m", "IN-FLIGHT", "DLQ", "DRAIN", "ALARMS"]
    assert lines[2].startswith(MODEL) and "ALARM lag/warning  OK " in lines[2]


def test_worst_first_by_state_then_severity(cloudwatch, shipped):
    spec, env = shipped
    # Mint: a warning tier in ALARM. Model: a critical tier in ALARM. Critical wins.
    set_state(cloudwatch, alarm_name("development", "hokusai-mint_requests", "queue-depth-unsettled"), "ALARM")
    set_state(cloudwatch, alarm_name("development", "hokusai-model_ready_queue", "queue-depth-critical"), "ALARM")
    report = status.collect_status(spec, env, cloudwatch)
    assert [q.queue.key for q in report.queues] == [MODEL, MINT]
    # INSUFFICIENT_DATA ranks below ALARM, above OK.
    set_state(cloudwatch, alarm_name("development", "hokusai-model_ready_queue", "queue-depth-critical"), "OK")
    set_state(cloudwatch, alarm_name("development", "hokusai-mint_requests", "queue-depth-unsettled"), "OK")
    set_state(cloudwatch, alarm_name("development", "hokusai-model_ready_queue", "dead-letter-depth-warning"), "INSUFFICIENT_DATA")
    report = status.collect_status(spec, env, cloudwatch)
    assert [q.queue.key for q in report.queues] == [MODEL, MINT]
    assert report.exit_status is ExitStatus.SUCCESS
    model = report.queues[0]
    assert model.state is State.INSUFFICIENT_DATA and model.alarms[0].label == "dlq/warning"


def test_target_alarm_in_alarm_fails_the_check(cloudwatch, shipped):
    spec, env = shipped
    set_state(cloudwatch, alarm_name("development", "redis-primary", "connection-failure-critical"), "ALARM")
    report = status.collect_status(spec, env, cloudwatch)
    assert report.exit_status is ExitStatus.CHECK_FAILED
    target_line = status.render_table(report).splitlines()[-1]
    assert target_line.startswith("redis primary: connection OK;") and "ALARM connection/critical" in target_line


def test_connection_failing_and_no_heartbeat(shipped):
    spec, env = shipped
    with mock_aws():
        client = boto3.client("cloudwatch", region_name="us-east-1")
        put_queue_metrics(client, spec, env, datetime.now(timezone.utc), {"primary": {metrics.CONNECTION_FAILURE: 1}})
        report = status.collect_status(spec, env, client)
    assert report.targets[0].connection == "FAILING"
    line = status.render_table(report).splitlines()[-1]
    assert "connection FAILING; no heartbeat in the last 15m;" in line
    # Nothing was applied: every alarm is ABSENT, which is not a failed check.
    assert report.count(State.ABSENT) == len(metric_alarms(render_alarms(spec, env))) and report.exit_status is ExitStatus.SUCCESS
    assert "ABSENT depth/critical" in status.render_table(report)


def test_json_structure(cloudwatch, shipped):
    spec, env = shipped
    set_state(cloudwatch, alarm_name("development", "hokusai-mint_requests", "queue-depth-critical"), "ALARM")
    document = status.report_json(status.collect_status(spec, env, cloudwatch))
    json.dumps(document)
    assert list(document) == ["version", "spec", "environment", "region", "namespace", "generated_at", "summary", "queues", "targets", "trend", "delayed"]
    assert document["trend"] == {"since_seconds": 1800, "period_seconds": 60}
    assert document["version"] == status.JSON_FORMAT_VERSION and document["region"] == "us-east-1"
    assert document["summary"] == {"ALARM": 1, "INSUFFICIENT_DATA": 0, "ABSENT": 0, "OK": 19}
    first = document["queues"][0]
    assert list(first) == ["queue", "name", "state", "depth", "oldest_age_seconds", "in_flight", "dead_letter", "sampled_at", "alarms", "series", "change", "drain"]
    assert first["series"]["depth"] == [[first["sampled_at"], 57.0]] and first["change"]["depth"] is None
    assert (first["queue"], first["state"], first["depth"], first["oldest_age_seconds"], first["in_flight"], first["dead_letter"]) == (MINT, "ALARM", 57, 903, 1, 2)
    assert first["alarms"][0] == {
        "name": alarm_name("development", "hokusai-mint_requests", "queue-depth-critical"),
        "kind": "queue_depth",
        "tier": "critical",
        "severity": "critical",
        "state": "ALARM",
        "reason": "test set ALARM",
    }
    assert {a["name"] for section in ("queues", "targets", "delayed") for row in document[section] for a in row["alarms"]} == {
        a["AlarmName"] for a in metric_alarms(render_alarms(spec, env))
    }
    target = document["targets"][0]
    assert target["target"] == "primary" and target["connection"] == "OK" and 0 < target["heartbeat_age_seconds"] < 600
    assert target["last_heartbeat"].endswith("Z")


@pytest.mark.parametrize("width", [200, 100, 80, 60, 40, 30])
def test_table_fits_the_width_and_colours_only_when_asked(cloudwatch, shipped, width):
    spec, env = shipped
    set_state(cloudwatch, alarm_name("development", "hokusai-mint_requests", "queue-depth-critical"), "ALARM")
    report = status.collect_status(spec, env, cloudwatch)
    plain = status.render_table(report, width=width)
    assert "\x1b[" not in plain
    assert all(len(line) <= width for line in plain.splitlines()), plain
    coloured = status.render_table(report, width=width, colour=True)
    assert "\x1b[" in coloured
    assert ANSI.sub("", coloured) == plain
    if width >= 80:  # the trend of the depth stays on an 80-column terminal; the DLQ count needs more
        assert all(f" {column} " in plain.splitlines()[1] + " " for column in ("DEPTH", "DEPTH 30m", "OLDEST"))
    if width >= 100:
        assert " DLQ " in plain.splitlines()[1]
    if width == 200:
        assert "…" not in plain  # room for everything


def test_aws_error_is_one_line(shipped):
    spec, env = shipped
    client = boto3.client("cloudwatch", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        stub.add_client_error("describe_alarms", "AccessDenied", "User: arn:aws:iam::1:user/x is not authorized\nto perform cloudwatch:DescribeAlarms")
        with pytest.raises(AwsError) as caught:
            status.collect_status(spec, env, client)
    message = str(caught.value)
    assert message.startswith("DescribeAlarms: AccessDenied: User:") and "\n" not in message
    assert caught.value.exit_status is ExitStatus.AWS_FAILURE


def test_calls_are_chunked_for_many_queues(tmp_path):
    queues = [{"key": f"jobs:{i:03d}", "processing": f"jobs:{i:03d}:p", "dead_letter": f"jobs:{i:03d}:d"} for i in range(250)]
    document = {
        "version": 1,
        "namespace": "Test/Queues",
        "name_prefix": "big",
        "defaults": {"alarms": {"queue_depth": {"critical": {"threshold": 100}}, "processing_lag": {"warning": {"threshold": 60}}}},
        "environments": {"prod": {"region": "eu-west-1", "redis": {"host": "redis.internal"}}},
        "queues": queues,
    }
    (tmp_path / "big.yaml").write_text(yaml.safe_dump(document))
    spec = load_spec(str(tmp_path / "big.yaml"), environ={})
    env = spec.environment("prod")
    calls = {"DescribeAlarms": [], "GetMetricData": []}
    with mock_aws():
        client = boto3.client("cloudwatch", region_name="eu-west-1")
        put_alarms(client, render_alarms(spec, env)[:150])
        client.meta.events.register("provide-client-params.cloudwatch.DescribeAlarms", lambda params, **_: calls["DescribeAlarms"].append(len(params["AlarmNames"])))
        client.meta.events.register("provide-client-params.cloudwatch.GetMetricData", lambda params, **_: calls["GetMetricData"].append(len(params["MetricDataQueries"])))
        report = status.collect_status(spec, env, client)
    assert calls["DescribeAlarms"] == [100] * 5  # 500 alarms
    assert calls["GetMetricData"] == [500, 500, 2]  # 250 x 4 queue metrics + 2 target metrics
    assert report.count(State.OK) == 150 and report.count(State.ABSENT) == 350
    assert report.region == "eu-west-1"


def test_watch_refreshes_until_interrupted(cloudwatch, shipped):
    spec, env = shipped
    out = io.StringIO()
    naps = []

    def sleep(seconds):
        naps.append(seconds)
        if len(naps) == 2:
            set_state(cloudwatch, alarm_name("development", "hokusai-mint_requests", "queue-depth-critical"), "ALARM")
        if len(naps) == 3:
            raise KeyboardInterrupt

    result = status.run(spec, env, cloudwatch, output="json", watch=5, stream=out, sleep=sleep)
    documents = [json.loads(line) for line in out.getvalue().splitlines()]
    assert naps == [5, 5, 5] and len(documents) == 3
    assert [d["summary"]["ALARM"] for d in documents] == [0, 0, 1]
    assert result is ExitStatus.CHECK_FAILED  # the last refresh's status
