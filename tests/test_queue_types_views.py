"""Streams and delayed sets on the dashboard and in `status` (status against moto in-process)."""

from __future__ import annotations

import json
import textwrap
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from moto import mock_aws

from monitor.cloudwatch.api import put_alarms
from monitor.cloudwatch import cost
from monitor.cloudwatch.alarms import render_alarms
from monitor.cloudwatch.dashboard import render_dashboard
from monitor.commands import status
from monitor.commands.status import State
from monitor.errors import ExitStatus
from monitor.spec import metrics
from monitor.spec.load import load_spec

SPEC = """\
version: 1
namespace: Test/Queues
name_prefix: tq
runbooks:
  stuck_pending: https://example.com/rb#stuck
environments:
  dev:
    redis: {host: 127.0.0.1, port: 6379, tls: false}
queues:
  - key: jobs
    alarms:
      queue_depth:
        critical: {threshold: 100}
streams:
  - key: orders
    groups: [billing, shipping]
    alarms:
      consumer_group_lag:
        critical: {threshold: 1000}
      stuck_pending:
        warning: {threshold: 600, evaluation_periods: 3}
  - key: audit
delayed:
  - key: scheduled
    alarms:
      delayed_overdue:
        critical: {threshold: 0, evaluation_periods: 5}
"""


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "alarms.yaml"
    path.write_text(textwrap.dedent(SPEC))
    spec = load_spec(str(path), environ={})
    return spec, spec.environment("dev")


def metric_widgets(body) -> dict[str, dict]:
    return {w["properties"]["title"]: w for w in body["widgets"] if w["type"] == "metric"}


# ---------------------------------------------------------------- dashboard


def test_a_row_per_stream_and_per_delayed_set(spec):
    spec, env = spec
    _, body = render_dashboard(spec, env)
    widgets = metric_widgets(body)
    row = [widgets[f"orders: {what}"] for what in ("length", "lag per group", "pending per group", "oldest pending idle")]
    assert len({w["y"] for w in row}) == 1 and [w["x"] for w in row] == [0, 6, 12, 18]
    lag = widgets["orders: lag per group"]["properties"]
    lines = lag["metrics"]
    assert [line[:9] for line in lines] == [
        ["Test/Queues", "ConsumerGroupLag", "Environment", "dev", "Queue", "orders", "ConsumerGroup", group, {"label": group, "stat": "Maximum", "period": 60}]
        for group in ("billing", "shipping")
    ]
    assert [a["value"] for a in lag["annotations"]["horizontal"]] == [1000]
    idle = widgets["orders: oldest pending idle"]["properties"]
    assert [a["value"] for a in idle["annotations"]["horizontal"]] == [600]
    assert "annotations" not in widgets["orders: pending per group"]["properties"]
    overdue = widgets["scheduled: overdue jobs"]["properties"]
    assert overdue["metrics"][0][:6] == ["Test/Queues", "DelayedOverdue", "Environment", "dev", "Queue", "scheduled"]
    assert overdue["stat"] == "Minimum" and [a["value"] for a in overdue["annotations"]["horizontal"]] == [0]
    assert widgets["scheduled: delayed jobs"]["properties"]["metrics"][0][1] == "DelayedTotal"
    legend = next(w for w in body["widgets"] if w["type"] == "text" and "What the alarms mean" in w["properties"]["markdown"])
    text = legend["properties"]["markdown"]
    assert "| consumer_group_lag | ConsumerGroupLag |" in text and "| delayed_overdue | DelayedOverdue |" in text
    assert "https://example.com/rb#stuck" in text


def test_a_stream_without_listed_groups_shows_every_group_by_search(spec):
    spec, env = spec
    _, body = render_dashboard(spec, env)
    (line,) = metric_widgets(body)["audit: lag per group"]["properties"]["metrics"]
    expression = line[0]["expression"]
    assert expression == (
        'SEARCH(\'{"Test/Queues",Environment,Queue,ConsumerGroup} MetricName="ConsumerGroupLag" Environment="dev" Queue="audit"\', \'Maximum\', 60)'
    )


def test_every_dashboard_metric_is_published_with_those_dimensions(spec):
    spec, env = spec
    _, body = render_dashboard(spec, env)
    for widget in body["widgets"]:
        for line in widget["properties"].get("metrics", []) if widget["type"] == "metric" else []:
            if isinstance(line[0], dict) or line[0] == "AWS/Lambda":
                continue
            metric = metrics.BY_NAME[line[1]]
            dims = dict(zip(line[2:-1:2], line[3:-1:2]))
            group = dims.get(metrics.CONSUMER_GROUP)
            assert [d["Name"] for d in metric.dimensions("dev", "x", group)] == list(dims)


def test_the_alarm_widget_lists_the_group_and_delayed_alarms(spec):
    spec, env = spec
    _, body = render_dashboard(spec, env)
    arns = [arn for w in body["widgets"] if w["type"] == "alarm" for arn in w["properties"]["alarms"]]
    names = {a["AlarmName"] for a in render_alarms(spec, env)}
    assert {arn.rsplit(":", 1)[1] for arn in arns} == names
    assert "tq-dev-orders-shipping-stuck-pending-warning" in names and "tq-dev-scheduled-delayed-overdue-critical" in names


def test_cost_counts_the_stream_and_delayed_metrics(spec):
    spec, env = spec
    # jobs: QueueDepth, OldestMessageAgeSeconds, MessageParseErrors, QueueReadErrors = 4
    # orders: StreamLength + QueueReadErrors + 3 per listed group (2) = 8; audit: 2 (its groups are not known)
    # scheduled: DelayedTotal, DelayedOverdue, QueueReadErrors = 3; target: ConnectionFailure, CollectorHeartbeat, CollectionDuration = 3
    assert cost.custom_metric_count(spec) == 4 + 8 + 2 + 3 + 3


# ---------------------------------------------------------------- status


@pytest.fixture
def cloudwatch(spec):
    spec, env = spec
    with mock_aws():
        client = boto3.client("cloudwatch", region_name="us-east-1")
        put_alarms(client, render_alarms(spec, env))
        at = datetime.now(timezone.utc) - timedelta(minutes=3)
        points = [
            (metrics.STREAM_LENGTH, "orders", None, 250),
            (metrics.CONSUMER_GROUP_LAG, "orders", "billing", 1500),
            (metrics.CONSUMER_GROUP_PENDING, "orders", "billing", 7),
            (metrics.OLDEST_PENDING_IDLE, "orders", "billing", 903),
            (metrics.CONSUMER_GROUP_LAG, "orders", "shipping", 0),
            (metrics.CONSUMER_GROUP_PENDING, "orders", "shipping", 0),
            (metrics.OLDEST_PENDING_IDLE, "orders", "shipping", 0),
            (metrics.STREAM_LENGTH, "audit", None, 3),
            (metrics.DELAYED_TOTAL, "scheduled", None, 40),
            (metrics.DELAYED_OVERDUE, "scheduled", None, 2),
            (metrics.QUEUE_DEPTH, "jobs", None, 5),
        ]
        data = [
            {"MetricName": m.name, "Dimensions": m.dimensions(env.name, subject, group), "Value": value, "Unit": m.unit.value, "Timestamp": at}
            for m, subject, group, value in points
        ]
        client.put_metric_data(Namespace=spec.namespace, MetricData=data)
        client.set_alarm_state(AlarmName="tq-dev-orders-billing-consumer-group-lag-critical", StateValue="ALARM", StateReason="test")
        yield client


def test_status_has_rows_for_streams_groups_and_delayed_sets(cloudwatch, spec):
    spec, env = spec
    report = status.collect_status(spec, env, cloudwatch)
    assert report.exit_status is ExitStatus.CHECK_FAILED  # a group alarm in ALARM fails the check
    assert report.count(State.ALARM) == 1 and len(report.alarms) == len(render_alarms(spec, env))
    orders = next(s for s in report.streams if s.stream.key == "orders")
    assert report.streams[0] is orders  # worst first
    assert [g.name for g in orders.groups] == ["billing", "shipping"]
    billing = orders.groups[0]
    assert billing.state is State.ALARM and {a.label for a in billing.alarms} == {"lag/critical", "stuck/warning"}
    assert (billing.values["lag"].value, billing.values["pending"].value, billing.values["oldest_pending_idle_seconds"].value) == (1500, 7, 903)
    (scheduled,) = report.delayed
    assert (scheduled.values["total"].value, scheduled.values["overdue"].value) == (40, 2)

    table = status.render_table(report)
    lines = table.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("STREAM / GROUP"))
    assert lines[header + 1].split() == ["orders", "250"]
    assert lines[header + 2].split()[:6] == ["billing", "1500", "7", "15m", "3s", "ALARM"]
    assert "no groups listed: no alarms" in table  # audit
    delayed_header = next(i for i, line in enumerate(lines) if line.startswith("DELAYED"))
    assert lines[delayed_header + 1].split()[:4] == ["scheduled", "40", "2", "OK"]
    assert all(len(line) <= 60 for line in status.render_table(report, width=60).splitlines())

    data = status.report_json(report)
    json.dumps(data)
    (orders_json,) = [s for s in data["streams"] if s["stream"] == "orders"]
    assert orders_json["state"] == "ALARM" and orders_json["length"] == 250
    assert orders_json["groups"][0] == {
        "group": "billing",
        "state": "ALARM",
        "lag": 1500,
        "pending": 7,
        "oldest_pending_idle_seconds": 903,
        "alarms": orders_json["groups"][0]["alarms"],
    }
    assert data["delayed"] == [
        {"queue": "scheduled", "name": "scheduled", "state": "OK", "total": 40, "overdue": 2, "alarms": data["delayed"][0]["alarms"]}
    ]
    assert data["summary"]["ALARM"] == 1


def test_queries_ask_for_the_listed_groups_with_three_dimensions(spec):
    spec, env = spec
    queries = [q for q in status.metric_queries(spec, env) if q.group]
    assert {(q.subject, q.group, q.metric.name) for q in queries} == {
        ("orders", g, m) for g in ("billing", "shipping") for m in ("ConsumerGroupLag", "ConsumerGroupPending", "OldestPendingIdleSeconds")
    }
    request = queries[0].request(spec, env)
    assert [d["Name"] for d in request["MetricStat"]["Metric"]["Dimensions"]] == ["Environment", "Queue", "ConsumerGroup"]
