"""The on-call dashboard body: layout, limits, metric and alarm references, and moto accepting it."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import boto3
import pytest
import yaml
from moto import mock_aws

from monitor.cloudwatch import dashboard
from monitor.cloudwatch.alarms import drain_expression, render_alarms
from monitor.cloudwatch.dashboard import (
    GRID_COLUMNS,
    MAX_ALARMS_PER_WIDGET,
    MAX_WIDGETS,
    render_dashboard,
)
from monitor.commands.cli import render_document
from monitor.spec import metrics, naming
from monitor.spec.kinds import AlarmKind
from monitor.spec.load import load_spec

ROOT = Path(__file__).resolve().parent.parent
ARN_PREFIX = "arn:aws:cloudwatch:"


@pytest.fixture(scope="module")
def shipped():
    spec = load_spec(str(ROOT / "alarms.yaml"), environ={})
    env = spec.environment("development")
    return spec, env, render_dashboard(spec, env)


def write_big_spec(path: Path, count: int) -> Path:
    """A spec with `count` queues, each with processing and dead-letter lists (5 alarms each)."""
    queues = [{"key": f"jobs:{i:03d}", "processing": f"jobs:{i:03d}:processing", "dead_letter": f"jobs:{i:03d}:dlq"} for i in range(count)]
    # One queue, late in the file, with an extra critical tier: worst first puts it on top.
    queues[200]["alarms"] = {"in_flight_depth": {"critical": {"threshold": 5}}}
    document = {
        "version": 1,
        "namespace": "Test/Queues",
        "name_prefix": "big",
        "defaults": {
            "alarms": {
                "queue_depth": {"critical": {"threshold": 100}},
                "processing_lag": {"warning": {"threshold": 60}, "critical": {"threshold": 600}},
                "dead_letter_depth": {"warning": {"threshold": 1, "period": 300}},
                "dead_letter_arrivals": {"critical": {"threshold": 1}},
            }
        },
        "target_alarms": {"connection_failure": {"critical": {"threshold": 1}}, "collector_heartbeat": {"critical": {"threshold": 1, "period": 300}}},
        "environments": {"prod": {"region": "eu-west-1", "redis": {"host": "redis.internal"}}},
        "queues": queues,
    }
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    spec = load_spec(str(write_big_spec(tmp_path_factory.mktemp("big") / "big.yaml", 250)), environ={})
    env = spec.environment("prod")
    return spec, env, render_dashboard(spec, env)


def metric_lines(body: dict):
    """(widget, namespace, metric name, dimensions dict, options) for every metric line."""
    for widget in body["widgets"]:
        if widget["type"] != "metric":
            continue
        for line in widget["properties"]["metrics"]:
            options = line[-1] if isinstance(line[-1], dict) else {}
            parts = [p for p in line if not isinstance(p, dict)]
            if not parts:  # a metric-math expression
                continue
            namespace, name, *dims = parts
            yield widget, namespace, name, dict(zip(dims[::2], dims[1::2])), options


def assert_valid_layout(body: dict) -> None:
    widgets = body["widgets"]
    assert 0 < len(widgets) <= MAX_WIDGETS
    cells = set()
    for w in widgets:
        assert w["x"] >= 0 and w["y"] >= 0 and w["width"] >= 1 and w["height"] >= 1
        assert w["x"] + w["width"] <= GRID_COLUMNS, w
        own = {(x, y) for x in range(w["x"], w["x"] + w["width"]) for y in range(w["y"], w["y"] + w["height"])}
        assert not cells & own, f"overlap at {sorted(cells & own)[:3]}"
        cells |= own
        if w["type"] == "alarm":
            assert 1 <= len(w["properties"]["alarms"]) <= MAX_ALARMS_PER_WIDGET


def listed_alarm_names(body: dict) -> list[str]:
    names = []
    for w in body["widgets"]:
        if w["type"] == "alarm":
            for arn in w["properties"]["alarms"]:
                assert arn.startswith(ARN_PREFIX) and ":alarm:" in arn
                names.append(arn.split(":alarm:", 1)[1])
    return names


def test_name_and_layout(shipped):
    spec, env, (name, body) = shipped
    assert name == naming.dashboard_name(spec.name_prefix, env.name) == "hokusai-queues-development"
    assert_valid_layout(body)
    json.dumps(body)  # serialisable as is


def test_every_metric_is_one_the_collector_publishes(shipped):
    spec, env, (_, body) = shipped
    seen_subjects = set()
    for widget, namespace, name, dims, options in metric_lines(body):
        assert widget["properties"]["region"] == "us-east-1"
        if namespace == dashboard.LAMBDA_NAMESPACE:
            assert name in dashboard.LAMBDA_STATISTICS and dims == {"FunctionName": spec.collector.function_name}
            continue
        assert namespace == spec.namespace
        metric = metrics.BY_NAME[name]
        second = metrics.TARGET if metric.scope is metrics.Scope.TARGET else metrics.QUEUE  # delayed sets: Queue too
        assert list(dims) == [metrics.ENVIRONMENT, second]
        assert dims[metrics.ENVIRONMENT] == env.name
        seen_subjects.add(dims[second])
        assert options["stat"] and options["period"]
    assert seen_subjects == {q.key for q in spec.queues} | {d.key for d in spec.delayed} | {env.redis.name}
    lambda_names = {name for _, ns, name, _, _ in metric_lines(body) if ns == dashboard.LAMBDA_NAMESPACE}
    assert lambda_names == {"Invocations", "Errors", "Duration", "Throttles"}


def test_alarm_widgets_list_exactly_the_rendered_alarms(shipped):
    spec, env, (_, body) = shipped
    names = listed_alarm_names(body)
    assert sorted(names) == [a["AlarmName"] for a in render_alarms(spec, env)]
    assert all(arn.startswith("arn:aws:cloudwatch:us-east-1:123456789012:alarm:") for w in body["widgets"] if w["type"] == "alarm" for arn in w["properties"]["alarms"])


def test_thresholds_are_drawn_with_the_rule_period_and_statistic(shipped):
    spec, env, (_, body) = shipped
    mint = next(q for q in spec.queues if q.key == "hokusai:mint_requests")
    widget = next(w for w in body["widgets"] if w["properties"].get("title") == "hokusai:mint_requests: depth")
    lines = {(v["value"], v["color"]) for v in widget["properties"]["annotations"]["horizontal"]}
    rules = [r for r in mint.alarms if r.kind is AlarmKind.QUEUE_DEPTH and not r.parts]
    assert {r.threshold for r in rules} == {value for value, _ in lines} == {50}  # "unsettled" has a graph of its own
    # The time to drain: the alarm's own metric math (depth hidden, RATE hidden, the estimate drawn) and its threshold.
    drain = next(w for w in body["widgets"] if w["properties"].get("title") == "hokusai:mint_requests: time to drain (warning)")
    drawn = [line[0] for line in drain["properties"]["metrics"] if isinstance(line[0], dict)]
    assert drawn == [
        {"expression": "RATE(depth)", "label": "QueueDepth change per second", "id": "rate", "visible": False},
        {"expression": drain_expression(1000), "label": "Seconds until empty", "id": "time_to_drain"},
    ]
    assert [(a["value"], a["label"]) for a in drain["properties"]["annotations"]["horizontal"]] == [(1800, "warning > 1800 (3/5 x 60s)")]
    assert widget["properties"]["period"] == 300 and widget["properties"]["stat"] == "Maximum"
    age = next(w for w in body["widgets"] if w["properties"].get("title") == "hokusai:model_ready_queue: oldest message age")
    assert sorted(a["value"] for a in age["properties"]["annotations"]["horizontal"]) == [300, 900]
    assert age["properties"]["period"] == 60


def test_dead_letter_widget_uses_diff_of_a_hidden_metric(shipped):
    _, _, (_, body) = shipped
    widget = next(w for w in body["widgets"] if w["properties"].get("title") == "hokusai:model_ready_queue: dead letters")
    lines = widget["properties"]["metrics"]
    expressions = [line[0] for line in lines if isinstance(line[0], dict)]
    assert expressions == [{"expression": "DIFF(m1)", "label": "dead letters arrived", "id": "e1"}]
    hidden = [line for line in lines if isinstance(line[-1], dict) and line[-1].get("id") == "m1"]
    assert len(hidden) == 1 and hidden[0][-1]["visible"] is False and hidden[0][1] == metrics.DEAD_LETTER_DEPTH.name


def test_in_flight_widget_only_with_a_processing_list(shipped):
    spec, env, _ = shipped
    titles = {w["properties"].get("title") for w in dashboard.render_dashboard(spec, env)[1]["widgets"]}
    assert "hokusai:model_ready_queue: in flight" in titles and "hokusai:mint_requests: in flight" in titles
    without = replace(spec, queues=tuple(replace(q, source=replace(q.source, processing_key=None)) if q.key == "hokusai:mint_requests" else q for q in spec.queues))
    titles = {w["properties"].get("title") for w in dashboard.render_dashboard(without, env)[1]["widgets"]}
    assert "hokusai:model_ready_queue: in flight" in titles and "hokusai:mint_requests: in flight" not in titles


def test_worst_queue_first_and_legend_with_runbooks(shipped):
    spec, _, (_, body) = shipped
    depth_titles = [w["properties"]["title"] for w in sorted(body["widgets"], key=lambda w: (w["y"], w["x"])) if w["properties"].get("title", "").endswith(": depth")]
    # The mint queue has four critical tiers, the model queue three.
    assert depth_titles == ["hokusai:mint_requests: depth", "hokusai:model_ready_queue: depth"]
    legend = body["widgets"][-1]["properties"]["markdown"]
    used = {r.kind for item in (*spec.queues, *spec.streams, *spec.delayed) for r in item.alarms} | {r.kind for r in spec.target_alarms}
    for kind in AlarmKind:
        assert (kind.value in legend and kind.info.meaning in legend) == (kind in used)
    assert "runbooks.md#dead-letter-queue" in legend and "runbooks.md#collector-stopped" in legend


def test_region_account_and_partition_parameters(shipped):
    spec, env, _ = shipped
    _, body = render_dashboard(spec, env, region="eu-central-1", account_id="210987654321", partition="aws-cn")
    arns = [arn for w in body["widgets"] if w["type"] == "alarm" for arn in w["properties"]["alarms"]]
    assert arns and all(a.startswith("arn:aws-cn:cloudwatch:eu-central-1:210987654321:alarm:") for a in arns)
    assert {w["properties"]["region"] for w in body["widgets"] if w["type"] == "metric"} == {"eu-central-1"}


def test_many_queues_split_alarm_widgets_and_stay_within_limits(big):
    spec, env, (_, body) = big
    assert_valid_layout(body)
    alarms = render_alarms(spec, env)
    assert len(alarms) == 250 * 5 + 1 + 2
    alarm_widgets = [w for w in body["widgets"] if w["type"] == "alarm"]
    assert len(alarm_widgets) == -(-len(alarms) // MAX_ALARMS_PER_WIDGET)
    assert sorted(listed_alarm_names(body)) == sorted(a["AlarmName"] for a in alarms)
    # Critical alarms fill the first widgets.
    first = alarm_widgets[0]["properties"]["alarms"]
    assert all(not arn.endswith("-warning") for arn in first)
    shown = {dims[metrics.QUEUE] for _, _, _, dims, _ in metric_lines(body) if metrics.QUEUE in dims}
    assert 0 < len(shown) < 250
    assert len(body["widgets"]) > MAX_WIDGETS - 4  # the budget is used, not wasted
    header = body["widgets"][0]["properties"]["markdown"]
    assert f"Showing {len(shown)} of 250 queues" in header
    # Worst first: the queue with the extra critical tier is shown, and first.
    assert "jobs:200" in shown
    first_queue_widget = min((w for w in body["widgets"] if w["properties"].get("title", "").endswith(": depth")), key=lambda w: w["y"])
    assert first_queue_widget["properties"]["title"] == "jobs:200: depth"
    assert {w["properties"]["region"] for w in body["widgets"] if w["type"] == "metric"} == {"eu-west-1"}


def test_small_spec_says_nothing_about_a_cap(shipped):
    _, _, (_, body) = shipped
    assert "Showing" not in body["widgets"][0]["properties"]["markdown"]


def test_render_document_includes_the_dashboard(shipped):
    spec, env, (name, body) = shipped
    document = render_document(spec, "development")
    assert document["dashboard"] == {"name": name, "body": body}


@mock_aws
@pytest.mark.parametrize("which", ["shipped", "big"])
def test_moto_accepts_the_body(which, request):
    spec, env, (name, body) = request.getfixturevalue(which)
    client = boto3.client("cloudwatch", region_name="us-east-1")
    client.put_dashboard(DashboardName=name, DashboardBody=json.dumps(body))
    got = client.get_dashboard(DashboardName=name)
    assert json.loads(got["DashboardBody"]) == body
    assert [d["DashboardName"] for d in client.list_dashboards()["DashboardEntries"]] == [name]


def test_schedule_seconds():
    assert dashboard.schedule_seconds("rate(1 minute)") == 60
    assert dashboard.schedule_seconds("rate(5 minutes)") == 300
    assert dashboard.schedule_seconds("rate(2 hours)") == 7200
    assert dashboard.schedule_seconds("cron(0/5 * * * ? *)") == 60


def test_a_patterns_row_draws_its_alarms_thresholds():
    spec = load_spec(str(ROOT / "examples" / "tenants" / "alarms.yaml"), environ={})
    _, body = dashboard.render_dashboard(spec, spec.environment("production"))
    widget = next(w for w in body["widgets"] if w["properties"].get("title") == "tenant:*:jobs: depth")
    labels = sorted((a["value"], a["label"]) for a in widget["properties"]["annotations"]["horizontal"])
    assert labels == [(500, "PatternDepthMax critical > 500 (3/5 x 60s)"), (5000, "PatternDepthSum warning > 5000 (3/5 x 60s)")]
    alarm_widget = next(w for w in body["widgets"] if w["type"] == "alarm")
    assert any(arn.endswith(":alarm:tenants-production-tenant-jobs-unhealthy-critical") for arn in alarm_widget["properties"]["alarms"])
