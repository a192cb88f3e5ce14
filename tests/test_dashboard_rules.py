"""Every dashboard body the tool renders follows AWS's dashboard body syntax (tests/support/dashboard_rules.py),
and that checker fails on literal bodies that break each rule."""

from __future__ import annotations

import copy
import json
import textwrap
from pathlib import Path

import pytest

from monitor.cloudwatch.alarms import render_alarms
from monitor.cloudwatch.dashboard import render_dashboard
from monitor.spec import metrics, naming
from monitor.spec.kinds import AlarmKind
from monitor.spec.load import load_spec
from tests.support.dashboard_rules import parse_search, problems

ROOT = Path(__file__).resolve().parent.parent

# ---------------------------------------------------------------- the checker, on literal bodies

# The first example body of AWS's page, plus an expression, an annotation, an alarm widget.
VALID = {
    "start": "-PT6H",
    "periodOverride": "inherit",
    "widgets": [
        {
            "type": "metric",
            "x": 0,
            "y": 0,
            "width": 12,
            "height": 6,
            "properties": {
                "metrics": [
                    ["AWS/EC2", "DiskReadBytes", "InstanceId", "i-123", {"id": "m1", "visible": False}],
                    [{"expression": "DIFF(m1)", "label": "growth", "id": "e1"}],
                    [{"expression": "SEARCH('{AWS/EC2,InstanceId} MetricName=\"CPUUtilization\"', 'Average', 300)", "id": "e2"}],
                ],
                "period": 300,
                "stat": "Average",
                "region": "us-east-1",
                "title": "EC2 Instance CPU",
                "liveData": False,
                "legend": {"position": "right"},
                "view": "timeSeries",
                "yAxis": {"left": {"min": 0, "label": "bytes", "showUnits": False}},
                "annotations": {"horizontal": [{"value": 20, "label": "high", "color": "#9467bd", "fill": "above"}]},
            },
        },
        {"type": "text", "x": 12, "y": 0, "width": 12, "height": 3, "properties": {"markdown": "Hello world"}},
        {
            "type": "alarm",
            "x": 12,
            "y": 3,
            "width": 12,
            "height": 3,
            "properties": {"alarms": ["arn:aws:cloudwatch:us-east-1:012345678901:alarm:EC2FrontendCPU"], "sortBy": "stateUpdatedTimestamp", "title": "alarms"},
        },
    ],
}


def test_the_valid_literal_body_passes():
    assert problems(VALID) == []


def broken(path: str, value=None, *, delete: bool = False) -> dict:
    """VALID with one field changed (or deleted); path like 'widgets.0.properties.period'."""
    body = copy.deepcopy(VALID)
    *parents, last = path.split(".")
    node = body
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    key = int(last) if isinstance(node, list) else last
    if delete:
        del node[key]
    else:
        node[key] = value
    return body


LINES = "widgets.0.properties.metrics"


@pytest.mark.parametrize(
    "body, expected",
    [
        (broken("widgets", [VALID["widgets"][1]] * 501), "501 widgets; at most 500"),
        (broken("widgets", delete=True), "a widgets array is required"),
        (broken("dashboard", 1), "unknown field 'dashboard'"),
        (broken("widgets.0.type", "graph"), "type 'graph'"),
        (broken("widgets.0.x", 24), "x 24 must be 0-23"),
        (broken("widgets.0.x", 13), "x 13 + width 12 runs past the 24 columns"),
        (broken("widgets.0.y", delete=True), "x and y come together"),
        (broken("widgets.0.width", 25), "width 25 must be 1-24"),
        (broken("widgets.0.height", 1001), "height 1001 must be 1-1000"),
        (broken("widgets.1.x", 6), "overlaps widgets[0]"),
        (broken("widgets.0.properties.region", delete=True), "region is required"),
        (broken("widgets.0.properties.metrics", delete=True), "metrics is required"),
        (broken("widgets.0.properties.stat", "Mean"), "stat 'Mean'"),
        (broken("widgets.0.properties.period", 30), "period 30: must be a multiple of 60"),
        (broken("widgets.0.properties.period", 90), "period 90: must be a multiple of 60"),
        (broken("widgets.0.properties.view", "line"), "view 'line'"),
        (broken("widgets.0.properties.legend", {"position": "top"}), "legend is"),
        (broken("widgets.0.properties.yAxis", {"left": {"min": "0"}}), "yAxis.left.min: must be a number"),
        (broken("widgets.0.properties.yAxis", {"up": {}}), "unknown field 'up'"),
        (broken("widgets.0.properties.view", "gauge"), "a gauge needs yAxis.left min and max"),
        (broken("widgets.0.properties.colour", "#ffffff"), "unknown field 'colour'"),
        (broken(f"{LINES}.0", ["AWS/EC2", "DiskReadBytes", "InstanceId"]), "has 3 strings"),
        (broken(f"{LINES}.0", ["AWS/EC2", "DiskReadBytes", "InstanceId", "i-1", {"id": "M1"}]), "id 'M1' must start with a lowercase letter"),
        (broken(f"{LINES}.0", ["AWS/EC2", "DiskReadBytes", "InstanceId", "i-1", {"id": "1m"}]), "id '1m' must start with a lowercase letter"),
        (broken(f"{LINES}.0", ["AWS/EC2", "DiskReadBytes", {"id": "m1"}, "x"]), "namespace, metric name and dimensions are strings"),
        (broken(f"{LINES}.0", ["AWS/EC2", "DiskReadBytes", "InstanceId", "i" * 1025, {"id": "m1"}]), "dimension value of 1025 characters"),
        (broken(f"{LINES}.0", ["AWS/EC2", "DiskReadBytes", "InstanceId", "i-1", {"id": "m1", "period": 10}]), "period 10: must be a multiple of 60"),
        (broken(f"{LINES}.0", ["AWS/EC2", "DiskReadBytes", "InstanceId", "i-1", {"id": "m1", "color": "red"}]), "color 'red'"),
        (broken(f"{LINES}.0", ["AWS/EC2", "DiskReadBytes", "InstanceId", "i-1", {"id": "m1", "yAxis": "top"}]), "yAxis 'top'"),
        (broken(f"{LINES}.0", ["AWS/EC2", "DiskReadBytes", "InstanceId", "i-1", {"id": "m2"}]), "refers to id 'm1', which no metric has"),
        (broken(f"{LINES}.0", [".", "DiskReadBytes", "InstanceId", "i-1", {"id": "m1"}]), "'.' repeats the previous metric's part"),
        (broken(f"{LINES}.1", [{"expression": "DIFF(m1)", "id": "m1"}]), "metric ids repeat: ['m1']"),
        (broken(f"{LINES}.1", [{"label": "x", "id": "e1"}]), "needs a non-empty expression"),
        (broken(f"{LINES}.2", [{"expression": "SEARCH('{AWS/EC2,InstanceId} Queue=\"a(b)\"', 'Average', 300)", "id": "e2"}]), "unescaped '('"),
        (broken(f"{LINES}.2", [{"expression": "SEARCH('{AWS/EC2,InstanceId} Queue=\"a\\'b\"', 'Average', 300)", "id": "e2"}]), "not SEARCH("),
        (broken(f"{LINES}.2", [{"expression": "SEARCH('{AWS/EC2,InstanceId} Queue=\"a\\xb\"', 'Average', 300)", "id": "e2"}]), "backslash before 'x'"),
        (broken(f"{LINES}.2", [{"expression": "SEARCH('{AWS/EC2,InstanceId} Queue=\"ab', 'Average', 300)", "id": "e2"}]), "not closed"),
        (broken(f"{LINES}.2", [{"expression": "SEARCH('{AWS/EC2} Queue=\"" + "a" * 1010 + "\"', 'Average', 300)", "id": "e2"}]), "at most 1024"),
        (broken(f"{LINES}.2", [{"expression": "SEARCH('{AWS/EC2} Queue=\"a\"', 'Average', 30)", "id": "e2"}]), "SEARCH period 30"),
        (broken("widgets.0.properties.annotations", {"horizontal": [{"value": "20"}]}), "value '20' must be a number"),
        (broken("widgets.0.properties.annotations", {"horizontal": [{"value": 20, "fill": "left"}]}), "fill 'left'"),
        (broken("widgets.0.properties.annotations", {"horizontal": [[{"value": 1}]]}), "a band annotation is two objects"),
        (broken("widgets.0.properties.annotations", {"vertical": [{"value": 5}]}), "must be an ISO 8601 time"),
        (broken("widgets.0.properties.annotations", {"alarms": ["arn:a"]}), "cannot also have a metrics array"),
        (broken("widgets.0.properties.annotations", {"diagonal": []}), "unknown field 'diagonal'"),
        (broken("widgets.1.properties", {"text": "hi"}), "markdown is required"),
        (broken("widgets.1.properties.background", "blue"), "background 'blue'"),
        (broken("widgets.2.properties.alarms", []), "alarms is 1-100 alarm ARNs (got 0)"),
        (broken("widgets.2.properties.alarms", [f"arn:aws:cloudwatch:us-east-1:012345678901:alarm:a{i}" for i in range(101)]), "(got 101)"),
        (broken("widgets.2.properties.alarms", ["EC2FrontendCPU"]), "is not an alarm ARN"),
        (broken("widgets.2.properties.sortBy", "name"), "sortBy 'name'"),
        (broken("widgets.2.properties.states", ["FIRING"]), "states is a list of"),
        (broken("widgets.0.properties.metrics.0.4.visible", float("nan")), "not JSON"),
    ],
)
def test_the_checker_fails_on_each_broken_rule(body, expected):
    found = problems(body)
    assert any(expected in p for p in found), found


# ---------------------------------------------------------------- every body the tool renders

SPEC = """\
version: 1
namespace: Test/Queues
name_prefix: rules
collector:
  storage_resolution: {resolution}
target_alarms:
  connection_failure:
    critical: {{threshold: 1, period: {period}, evaluation_periods: 3, datapoints_to_alarm: 2}}
  collector_heartbeat:
    critical: {{threshold: 1, period: 300, evaluation_periods: 1, treat_missing_data: breaching}}
defaults:
  alarms:
    queue_depth:
      critical: {{threshold: 100, period: {period}}}
    processing_lag:
      warning: {{threshold: 60, period: {period}}}
      critical: {{threshold: 600}}
    dead_letter_arrivals:
      critical: {{threshold: 1}}
environments:
  dev:
    region: eu-west-1
    redis_targets:
      - {{name: jobs, host: 127.0.0.1, tls: false}}
      - {{name: cache-eu, host: 127.0.0.1, tls: false, cluster: true}}
queues:
{queues}
streams:
  - key: orders
    groups: [billing, "ship (eu)"]
    alarms:
      consumer_group_lag:
        critical: {{threshold: 1000, period: {period}}}
  - key: 'audit:(eu) "west"'
  - key: 'back\\slash'
delayed:
  - key: scheduled
    alarms:
      delayed_overdue:
        critical: {{threshold: 0, evaluation_periods: 5}}
patterns:
  - pattern: 'tenant:*:jobs'
    target: jobs
  - pattern: 'odd:(*)'
    target: cache-eu
"""


def write_spec(tmp_path: Path, *, queues: int = 3, high_resolution: bool = False) -> Path:
    lines = "\n".join(f"  - key: 'jobs:{i:03d}'\n    processing: 'jobs:{i:03d}:processing'\n    dead_letter: 'jobs:{i:03d}:dlq'" for i in range(queues))
    text = SPEC.format(queues=lines, resolution=1 if high_resolution else 60, period=10 if high_resolution else 60)
    path = tmp_path / f"spec-{queues}-{high_resolution}.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def rendered(path: Path, environment: str):
    spec = load_spec(str(path), environ={})
    env = spec.environment(environment)
    return spec, env, render_dashboard(spec, env)[1]


@pytest.mark.parametrize("environment", ["development", "demo"])
def test_the_shipped_spec_renders_a_valid_body(environment):
    _, _, body = rendered(ROOT / "alarms.yaml", environment)
    assert problems(body) == []


@pytest.mark.parametrize(
    "queues, high_resolution",
    [(3, False), (3, True), (160, False), (160, True)],
    ids=["streams-delayed-patterns-targets", "high-resolution", "160-queues", "160-queues-high-resolution"],
)
def test_specs_with_every_kind_of_subject_render_valid_bodies(tmp_path, queues, high_resolution):
    spec, env, body = rendered(write_spec(tmp_path, queues=queues, high_resolution=high_resolution), "dev")
    assert problems(body) == []
    assert len(body["widgets"]) <= 500
    alarm_arns = [arn for w in body["widgets"] if w["type"] == "alarm" for arn in w["properties"]["alarms"]]
    assert len(alarm_arns) == len(render_alarms(spec, env))  # split across widgets, none lost
    if queues > 100:
        assert sum(w["type"] == "alarm" for w in body["widgets"]) > 1


def test_every_redis_target_has_its_collector_health_graphs(tmp_path):
    spec, env, body = rendered(write_spec(tmp_path), "dev")
    titles = [w["properties"].get("title") for w in body["widgets"]]
    for target in env.targets:
        assert f"Redis {target.name}: connection failures" in titles
        assert f"Redis {target.name}: collector heartbeat" in titles
    assert [t.name for t in env.targets if t.cluster] == ["cache-eu"]
    assert titles.count("Redis cache-eu: cluster primaries not read") == 1 and "Redis jobs: cluster primaries not read" not in titles
    subjects = {
        line[line.index(metrics.TARGET) + 1]
        for w in body["widgets"]
        if w["type"] == "metric"
        for line in w["properties"]["metrics"]
        if metrics.TARGET in line
    }
    assert subjects == {"jobs", "cache-eu"}


def test_patterns_are_graphed_from_their_aggregates(tmp_path):
    _, _, body = rendered(write_spec(tmp_path), "dev")
    depth = next(w for w in body["widgets"] if w["properties"].get("title") == "odd:(*): depth")
    names = [line[1] for line in depth["properties"]["metrics"]]
    assert names == [metrics.PATTERN_DEPTH_SUM.name, metrics.PATTERN_DEPTH_MAX.name]
    assert all(line[line.index(metrics.PATTERN) + 1] == "odd:(*)" for line in depth["properties"]["metrics"])


def test_unlisted_groups_are_searched_by_their_exact_key(tmp_path):
    spec, env, body = rendered(write_spec(tmp_path), "dev")
    searches = {
        w["properties"]["title"]: line[0]["expression"]
        for w in json.loads(json.dumps(body))["widgets"]  # as PutDashboard receives it
        if w["type"] == "metric"
        for line in w["properties"]["metrics"]
        if isinstance(line[0], dict) and "SEARCH(" in line[0]["expression"]
    }
    assert len(searches) == 2 * 3  # two streams without groups, three group graphs each
    for key in ('audit:(eu) "west"', "back\\slash"):
        schema, terms, stat, period = parse_search(searches[f"{key}: lag per group"])
        assert schema == [spec.namespace, metrics.ENVIRONMENT, metrics.QUEUE, metrics.CONSUMER_GROUP]
        assert terms == {"MetricName": metrics.CONSUMER_GROUP_LAG.name, metrics.ENVIRONMENT: env.name, metrics.QUEUE: key}
        assert (stat, period) == ("Maximum", 60)


def test_a_key_no_search_can_express_gets_a_note_instead_of_a_wrong_graph(tmp_path):
    path = write_spec(tmp_path)
    path.write_text(path.read_text().replace("key: 'back\\slash'", "key: \"o'brien\"").replace("key: 'audit:(eu) \"west\"'", f"key: '{'k' * 1000}'"))
    _, _, body = rendered(path, "dev")
    assert problems(body) == []
    notes = [w["properties"]["markdown"] for w in body["widgets"] if w["type"] == "text" and "No graph:" in w["properties"]["markdown"]]
    assert len(notes) == 2 * 3
    assert sum("AWS allows 1024" in n for n in notes) == 3 and sum("has no escape for" in n for n in notes) == 3


def _graphs_with_threshold(body: dict) -> list[tuple[dict, float]]:
    return [
        (w["properties"], a["value"])
        for w in body["widgets"]
        if w["type"] == "metric"
        for a in w["properties"].get("annotations", {}).get("horizontal", [])
    ]


def test_a_metric_math_threshold_sits_on_a_graph_of_the_alarms_own_expression():
    spec, env, body = rendered(ROOT / "alarms.yaml", "development")
    assert problems(body) == []
    math_alarms = {a["AlarmName"]: a for a in render_alarms(spec, env) if "Metrics" in a and "DIFF(" not in str(a["Metrics"])}
    checked = set()
    for queue in spec.queues:
        for rule in (r for r in queue.alarms if r.kind in (AlarmKind.QUEUE_DEPTH, AlarmKind.IN_FLIGHT_DEPTH)):  # the graphed kinds
            name = naming.alarm_name(spec.name_prefix, env.name, queue.name, rule.kind, rule.tier)
            alarm = math_alarms.get(name)
            if alarm is None:
                continue
            result = next(q for q in alarm["Metrics"] if q["ReturnData"])
            graphs = [p for p, value in _graphs_with_threshold(body) if p["title"] == f"{queue.key}: {rule.tier} ({result['Label']})"]
            assert len(graphs) == 1, name
            lines = graphs[0]["metrics"]
            drawn = [line[0] for line in lines if isinstance(line[0], dict)]
            assert drawn == [{"expression": result["Expression"], "label": result["Label"], "id": result["Id"]}]
            inputs = {line[-1]["id"]: (line[1], line[-1]["stat"], line[-1].get("visible")) for line in lines if isinstance(line[0], str)}
            assert inputs == {q["Id"]: (q["MetricStat"]["Metric"]["MetricName"], q["MetricStat"]["Stat"], False) for q in alarm["Metrics"] if "MetricStat" in q}
            assert [a["value"] for a in graphs[0]["annotations"]["horizontal"]] == [rule.threshold]
            checked.add((queue.key, rule.tier))
    assert ("hokusai:mint_requests", "unsettled") in checked  # QueueDepth + FILL(InFlightDepth) + FILL(DelayedTotal)
    assert ("hokusai:model_ready_queue", "warning") in checked  # in_flight_depth only_when_idle
    # No single-metric graph carries a threshold of an alarm that is not on that metric alone.
    for props, value in _graphs_with_threshold(body):
        if props["title"].endswith((": depth", ": in flight")):
            key = props["title"].rsplit(": ", 1)[0]
            queue = next(q for q in spec.queues if q.key == key)
            kind = "queue_depth" if props["title"].endswith("depth") else "in_flight_depth"
            plain = [r.threshold for r in queue.alarms if r.kind.value == kind and not r.parts and not r.only_when_idle]
            assert value in plain, (props["title"], value)
