"""Rendering the spec into PutMetricAlarm parameters (pure, offline)."""

from __future__ import annotations

from pathlib import Path

import botocore.session
import pytest

from monitor.cloudwatch.alarms import alarm_metric, render_alarms
from monitor.spec import metrics, naming
from monitor.spec.load import load_spec

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def rendered():
    spec = load_spec(str(ROOT / "alarms.yaml"), environ={})
    return spec, render_alarms(spec, spec.environment("development"))


def test_both_queues_get_all_four_kinds_plus_target_alarms(rendered):
    spec, alarms = rendered
    kinds = {}
    for alarm in alarms:
        tags = {t["Key"]: t["Value"] for t in alarm["Tags"]}
        _, _, dims = alarm_metric(alarm)
        subject = dict(dims).get(metrics.QUEUE) or dict(dims)[metrics.TARGET]
        kinds.setdefault(subject, set()).add(tags[naming.TAG_KIND])
    assert kinds["hokusai:model_ready_queue"] >= {"queue_depth", "processing_lag", "dead_letter_arrivals", "dead_letter_depth"}
    assert kinds["hokusai:mint_requests"] >= {"queue_depth", "processing_lag", "dead_letter_arrivals", "dead_letter_depth"}
    assert kinds["primary"] == {"connection_failure", "collector_heartbeat"}


def test_names_are_sanitised_deterministic_and_unique(rendered):
    _, alarms = rendered
    names = [a["AlarmName"] for a in alarms]
    assert names == sorted(names) and len(set(names)) == len(names)
    assert "hokusai-queues-development-hokusai-model_ready_queue-queue-depth-critical" in names
    assert all(":" not in n and len(n) <= 255 for n in names)


def test_depth_alarm_parameters(rendered):
    _, alarms = rendered
    alarm = next(a for a in alarms if a["AlarmName"].endswith("model_ready_queue-queue-depth-critical"))
    assert alarm["MetricName"] == metrics.QUEUE_DEPTH.name
    assert alarm["Dimensions"] == [{"Name": "Environment", "Value": "development"}, {"Name": "Queue", "Value": "hokusai:model_ready_queue"}]
    assert (alarm["Threshold"], alarm["ComparisonOperator"], alarm["Statistic"]) == (1000, "GreaterThanThreshold", "Maximum")
    assert (alarm["Period"], alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (60, 5, 3)
    assert alarm["AlarmActions"] == ["arn:aws:sns:us-east-1:932100697590:hokusai-development-alerts-critical"]
    assert "Runbook: docs/runbooks.md#queue-depth in the redis-queue-monitor package." in alarm["AlarmDescription"]
    assert len(alarm["AlarmDescription"]) <= 1024
    assert "above 1000 in 3 of 5 one-minute periods" in alarm["AlarmDescription"]


def test_dead_letter_arrivals_use_metric_math(rendered):
    _, alarms = rendered
    alarm = next(a for a in alarms if a["AlarmName"].endswith("model_ready_queue-dead-letter-arrivals-critical"))
    assert "MetricName" not in alarm and "Period" not in alarm
    expression = [m for m in alarm["Metrics"] if m.get("ReturnData")]
    assert len(expression) == 1 and expression[0]["Expression"].startswith("DIFF(")
    assert alarm_metric(alarm)[1] == metrics.DEAD_LETTER_DEPTH.name


def test_heartbeat_treats_missing_data_as_breaching(rendered):
    _, alarms = rendered
    alarm = next(a for a in alarms if a["AlarmName"].endswith("collector-heartbeat-critical"))
    assert alarm["TreatMissingData"] == "breaching"
    assert alarm["ComparisonOperator"] == "LessThanThreshold"
    assert alarm["Dimensions"][1] == {"Name": metrics.TARGET, "Value": "primary"}


def test_ownership_tags(rendered):
    _, alarms = rendered
    for alarm in alarms:
        tags = {t["Key"]: t["Value"] for t in alarm["Tags"]}
        assert tags[naming.TAG_MANAGED_BY] == "provision-alarms"
        assert tags[naming.TAG_SPEC] == "hokusai-queues/development"
        assert tags["team"] == "hokusai-data-pipeline"


def test_every_alarm_is_valid_input_for_botocore(rendered):
    """botocore's own model accepts every rendered alarm (shapes, enums, required members)."""
    _, alarms = rendered
    model = botocore.session.get_session().get_service_model("cloudwatch")
    from botocore.validate import ParamValidator

    shape = model.operation_model("PutMetricAlarm").input_shape
    for alarm in alarms:
        report = ParamValidator().validate(alarm, shape)
        assert not report.has_errors(), report.generate_report()


def test_collector_doc_documents_every_metric():
    doc = (ROOT / "docs" / "collector.md").read_text()
    for metric in metrics.ALL_METRICS:
        assert f"| `{metric.name}` | {metric.unit.value} |" in doc, metric.name


def test_rendering_does_not_depend_on_how_the_spec_path_is_spelled(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    relative = load_spec("alarms.yaml", environ={})
    absolute = load_spec(str(ROOT / "alarms.yaml"), environ={})
    dotted = load_spec("./alarms.yaml", environ={})
    rendered = [render_alarms(s, s.environment("development")) for s in (relative, absolute, dotted)]
    assert rendered[0] == rendered[1] == rendered[2]
