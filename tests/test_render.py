"""Rendering the spec into PutMetricAlarm parameters (pure, offline)."""

from __future__ import annotations

from pathlib import Path

import botocore.session
import pytest

from monitor.cloudwatch.alarms import alarm_metric, composite_children, is_composite, metric_alarms, render_alarms
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
    for alarm in metric_alarms(alarms):
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
    # incidents.notify: composite: the queue's unhealthy composite notifies for its critical tiers.
    assert alarm["AlarmActions"] == []
    composite = next(a for a in alarms if a["AlarmName"].endswith("model_ready_queue-unhealthy-critical"))
    assert composite["AlarmActions"] == ["arn:aws:sns:us-east-1:932100697590:hokusai-development-alerts-critical"]
    assert f'ALARM("{alarm["AlarmName"]}")' in composite["AlarmRule"]
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

    for alarm in alarms:
        shape = model.operation_model("PutCompositeAlarm" if is_composite(alarm) else "PutMetricAlarm").input_shape
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


def _by_name(alarms, suffix):
    return next(a for a in alarms if a["AlarmName"].endswith(suffix))


def _stats(alarm):
    return {q["Id"]: (q["MetricStat"]["Metric"]["MetricName"], dict((d["Name"], d["Value"]) for d in q["MetricStat"]["Metric"]["Dimensions"]), q["MetricStat"]["Stat"]) for q in alarm["Metrics"] if "MetricStat" in q}


def test_unsettled_mints_count_waiting_processing_and_retry(rendered):
    _, alarms = rendered
    alarm = _by_name(alarms, "hokusai-mint_requests-queue-depth-unsettled")
    assert "MetricName" not in alarm and "Period" not in alarm
    assert _stats(alarm) == {
        "waiting": ("QueueDepth", {"Environment": "development", "Queue": "hokusai:mint_requests"}, "Maximum"),
        "in_flight": ("InFlightDepth", {"Environment": "development", "Queue": "hokusai:mint_requests"}, "Maximum"),
        "retry": ("DelayedTotal", {"Environment": "development", "Queue": "hokusai:mint_requests:retry"}, "Maximum"),
    }
    (result,) = [q for q in alarm["Metrics"] if q["ReturnData"]]
    assert result["Expression"] == "waiting + FILL(in_flight, 0) + FILL(retry, 0)"
    assert (alarm["Threshold"], alarm["ComparisonOperator"], alarm["EvaluationPeriods"]) == (1, "GreaterThanOrEqualToThreshold", 3)
    assert {q["MetricStat"]["Period"] for q in alarm["Metrics"] if "MetricStat" in q} == {300}
    # The critical tier stays on QueueDepth alone, as the mint queue's own alarm was.
    assert _by_name(alarms, "hokusai-mint_requests-queue-depth-critical")["MetricName"] == "QueueDepth"


def test_read_errors_sum_both_error_metrics(rendered):
    _, alarms = rendered
    alarm = _by_name(alarms, "hokusai-model_ready_queue-read-errors-warning")
    assert {name for name, _, _ in _stats(alarm).values()} == {"QueueReadErrors", "MessageParseErrors"}
    assert [q["Expression"] for q in alarm["Metrics"] if q["ReturnData"]] == ["FILL(queue_read_errors, 0) + FILL(message_parse_errors, 0)"]  # both published only when not 0
    assert alarm["AlarmActions"] == ["arn:aws:sns:us-east-1:932100697590:hokusai-development-alerts-warning"]
    assert "blind" in alarm["AlarmDescription"] and "runbooks.md#read-errors" in alarm["AlarmDescription"]


@pytest.mark.parametrize(
    "published, fires",
    [
        ({}, False),  # a run without errors publishes neither counter
        ({"MessageParseErrors": 1}, True),
        ({"QueueReadErrors": 2}, True),
        ({"MessageParseErrors": 1, "QueueReadErrors": 1}, True),
    ],
)
def test_read_errors_fire_on_either_counter_alone_and_not_on_their_absence(rendered, published, fires):
    """Both counters are published only when not 0: the alarm's sum must FILL both (an unfilled term
    that is absent would make the sum absent, and a lone parse error would never page)."""
    from monitor.truth.evaluator import MetricKey, State, evaluate, state_at

    _, alarms = rendered
    alarm = _by_name(alarms, "hokusai-model_ready_queue-read-errors-warning")
    start = 1_700_000_400
    queries = {name: MetricKey.of(metric["Namespace"], name, metric["Dimensions"]) for name, metric in ((q["MetricStat"]["Metric"]["MetricName"], q["MetricStat"]["Metric"]) for q in alarm["Metrics"] if "MetricStat" in q)}
    data = {queries[name]: [(start + minute * 60 + 5, value) for minute in range(30)] for name, value in published.items()}
    timeline = evaluate(alarm, data, start, start + 30 * 60)
    assert state_at(timeline, start + 30 * 60) is (State.ALARM if fires else State.OK)


def test_stuck_processing_counts_only_idle_periods(rendered):
    _, alarms = rendered
    for queue in ("hokusai-model_ready_queue", "hokusai-mint_requests"):
        alarm = _by_name(alarms, f"{queue}-in-flight-depth-warning")
        assert {i: (name, stat) for i, (name, _, stat) in _stats(alarm).items()} == {"in_flight": ("InFlightDepth", "Minimum"), "waiting": ("QueueDepth", "Maximum")}
        assert [q["Expression"] for q in alarm["Metrics"] if q["ReturnData"]] == ["IF(FILL(waiting, 0) == 0, in_flight, 0)"]
        assert (alarm["Threshold"], alarm["ComparisonOperator"], alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (0, "GreaterThanThreshold", 6, 6)


def test_one_dead_letter_pages_once(rendered):
    _, alarms = rendered
    critical = "arn:aws:sns:us-east-1:932100697590:hokusai-development-alerts-critical"
    for queue in ("hokusai-model_ready_queue", "hokusai-mint_requests"):
        # The critical tiers notify through the queue's unhealthy composite (incidents): one page
        # while any of them is in ALARM; of the dead-letter alarms only arrivals is critical.
        paging = [a["AlarmName"] for a in alarms if queue + "-dead-letter" in a["AlarmName"] and critical in a["AlarmActions"]]
        assert paging == []
        composite = next(a for a in alarms if a["AlarmName"] == f"hokusai-queues-development-{queue}-unhealthy-critical")
        assert critical in composite["AlarmActions"]
        children = [c for c in composite_children(composite) if "-dead-letter" in c]
        assert children == [f"hokusai-queues-development-{queue}-dead-letter-arrivals-critical"]


def test_a_wall_clock_tier_renders_an_evaluation_window_and_the_default_renders_none(tmp_path):
    text = (ROOT / "alarms.yaml").read_text().replace(
        "      period: 300\n      evaluation_periods: 1\n      treat_missing_data: breaching\n",
        "      period: 300\n      evaluation_periods: 1\n      treat_missing_data: breaching\n"
        "      evaluation_window: wall_clock\n      timezone: America/New_York\n",
    )
    path = tmp_path / "alarms.yaml"
    path.write_text(text)
    spec = load_spec(str(path), environ={})
    alarms = {a["AlarmName"]: a for a in render_alarms(spec, spec.environment("development"))}
    heartbeat = alarms["hokusai-queues-development-redis-primary-collector-heartbeat-critical"]
    assert heartbeat["EvaluationWindow"] == {"WallClockWindow": {"Timezone": "America/New_York"}}
    assert "(wall-clock periods, America/New_York)" in heartbeat["AlarmDescription"]
    assert [name for name, a in alarms.items() if "EvaluationWindow" in a] == [heartbeat["AlarmName"]]
    model = botocore.session.get_session().get_service_model("cloudwatch")
    from botocore.validate import ParamValidator

    report = ParamValidator().validate(heartbeat, model.operation_model("PutMetricAlarm").input_shape)
    assert not report.has_errors(), report.generate_report()
    from monitor.truth.evaluator import explain

    assert "whole periods on the clock in America/New_York" in explain(heartbeat)
