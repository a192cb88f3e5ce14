"""One incident, one page: the spec's `incidents` section, its composites and anomaly detectors,
rendered (pure), planned (pure) and applied against the emulator with AWS's ordering rules."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from moto.cloudwatch.models import cloudwatch_backends

from monitor.cloudwatch.alarms import anomaly_detectors, composite_children, is_composite, render_alarms
from monitor.cloudwatch.plan import Action, Resource, plan
from monitor.commands.cli import main
from monitor.errors import ExitStatus, SpecError
from monitor.local import moto_cloudwatch
from monitor.spec import naming
from monitor.spec.load import load_spec
from monitor.truth.evaluator import NotSupported, parse_alarm

ACCOUNT, REGION = "123456789012", "us-east-1"
SNS = "arn:aws:sns:us-east-1:123456789012"

BASE = f"""\
version: 1
namespace: Test/Queues
name_prefix: t
target_alarms:
  connection_failure:
    critical: {{threshold: 1, evaluation_periods: 3, datapoints_to_alarm: 2}}
  collector_heartbeat:
    critical: {{threshold: 1, period: 300, treat_missing_data: breaching}}
environments:
  dev:
    redis: {{host: 127.0.0.1, tls: false}}
    notifications:
      critical: {{alarm: ["{SNS}:critical"], ok: ["{SNS}:critical"]}}
      warning: {{alarm: ["{SNS}:warning"]}}
queues:
  - key: jobs
    dead_letter: jobs:dlq
    alarms:
      queue_depth:
        critical: {{threshold: 100, evaluation_periods: 5, datapoints_to_alarm: 3}}
        warning: {{threshold: 50}}
      dead_letter_arrivals:
        critical: {{threshold: 1}}
  - key: mail
    alarms:
      queue_depth:
        critical: {{threshold: 10}}
"""
INCIDENTS = "incidents:\n  severities: [critical]\n"
ANOMALY = "      depth_anomaly:\n        warning: {threshold: 2, period: 300, evaluation_periods: 3}\n"
BASE_WITH_ANOMALY = BASE.replace("        warning: {threshold: 50}\n", "        warning: {threshold: 50}\n" + ANOMALY)  # the jobs queue also has an anomaly alarm


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "alarms.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def rendered(tmp_path: Path, text: str) -> dict[str, dict]:
    spec = load_spec(str(write(tmp_path, text)), environ={})
    return {a["AlarmName"]: a for a in render_alarms(spec, spec.environment("dev"))}


# ---------------------------------------------------------------- the spec and render (pure)


def test_without_incidents_there_are_no_composites(tmp_path):
    alarms = rendered(tmp_path, BASE)
    assert not any(is_composite(a) for a in alarms.values())
    assert alarms["t-dev-jobs-queue-depth-critical"]["AlarmActions"] == [f"{SNS}:critical"]


def test_each_queue_gets_an_unhealthy_composite_over_its_critical_tiers_which_alone_notifies(tmp_path):
    alarms = rendered(tmp_path, BASE + INCIDENTS)
    unhealthy = alarms["t-dev-jobs-unhealthy-critical"]
    assert unhealthy["AlarmRule"] == 'ALARM("t-dev-jobs-dead-letter-arrivals-critical") OR ALARM("t-dev-jobs-queue-depth-critical")'
    assert (unhealthy["AlarmActions"], unhealthy["OKActions"]) == ([f"{SNS}:critical"], [f"{SNS}:critical"])
    # The covered tiers lose their actions; the warning tier, not covered, keeps its own.
    assert alarms["t-dev-jobs-queue-depth-critical"]["AlarmActions"] == [] == alarms["t-dev-jobs-queue-depth-critical"]["OKActions"]
    assert alarms["t-dev-jobs-queue-depth-warning"]["AlarmActions"] == [f"{SNS}:warning"]
    # The target's composite sends nothing; it suppresses the queues' composites.
    down = alarms["t-dev-redis-primary-target-down"]
    assert down["AlarmRule"] == 'ALARM("t-dev-redis-primary-collector-heartbeat-critical") OR ALARM("t-dev-redis-primary-connection-failure-critical")'
    assert down["AlarmActions"] == down["OKActions"] == []
    assert alarms["t-dev-redis-primary-connection-failure-critical"]["AlarmActions"] == [f"{SNS}:critical"]  # the outage pages itself
    assert (unhealthy["ActionsSuppressor"], unhealthy["ActionsSuppressorWaitPeriod"], unhealthy["ActionsSuppressorExtensionPeriod"]) == (down["AlarmName"], 0, 300)
    tags = {t["Key"]: t["Value"] for t in unhealthy["Tags"]}
    assert (tags[naming.TAG_KIND], tags[naming.TAG_SEVERITY], tags[naming.TAG_TIER], tags[naming.TAG_SPEC]) == ("unhealthy", "critical", "critical", "t/dev")
    assert "t-dev-mail-unhealthy-critical" in alarms and "t-dev-mail-unhealthy-warning" not in alarms


def test_notify_both_keeps_the_tiers_actions_and_options_are_rendered(tmp_path):
    text = BASE + "incidents:\n  severities: [critical, warning]\n  notify: both\n  suppress_wait_seconds: 60\n  suppress_extension_seconds: 600\n"
    alarms = rendered(tmp_path, text)
    assert alarms["t-dev-jobs-queue-depth-critical"]["AlarmActions"] == [f"{SNS}:critical"]
    warning = alarms["t-dev-jobs-unhealthy-warning"]
    assert warning["AlarmRule"] == 'ALARM("t-dev-jobs-queue-depth-warning")' and warning["AlarmActions"] == [f"{SNS}:warning"]
    assert (warning["ActionsSuppressorWaitPeriod"], warning["ActionsSuppressorExtensionPeriod"]) == (60, 600)


def test_no_suppression_when_asked(tmp_path):
    alarms = rendered(tmp_path, BASE + INCIDENTS + "  suppress_while_target_down: false\n")
    assert "t-dev-redis-primary-target-down" not in alarms
    assert "ActionsSuppressor" not in alarms["t-dev-jobs-unhealthy-critical"]


def test_bad_incidents_are_reported_with_place_and_choices(tmp_path):
    text = BASE + "incidents:\n  severities: [urgent]\n  notify: children\n  suppress_wait_seconds: -1\n"
    with pytest.raises(SpecError) as caught:
        load_spec(str(write(tmp_path, text)), environ={})
    problems = "\n".join(str(p) for p in caught.value.problems)
    assert "incidents.severities[0]" in problems and "critical" in problems
    assert "incidents.notify" in problems and "composite" in problems and "both" in problems
    assert "incidents.suppress_wait_seconds" in problems


# ---------------------------------------------------------------- plan (pure)


def described(alarm: dict) -> dict:
    """What read_live returns for an alarm put with these parameters: the configuration, its ARN and its tags."""
    return {**alarm, "AlarmArn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{alarm['AlarmName']}"}


def test_plan_creates_composites_after_what_they_name_and_deletes_them_first(tmp_path):
    alarms = list(rendered(tmp_path, BASE + INCIDENTS).values())
    created = plan(alarms, [], None, None, owner="t/dev", prune=True)
    order = [c.name for c in created.changes]
    for alarm in alarms:
        for child in composite_children(alarm):
            assert order.index(child) < order.index(alarm["AlarmName"]), (child, alarm["AlarmName"])
    assert [c.resource for c in created.changes][-3:] == [Resource.COMPOSITE_ALARM.value] * 3
    live = [described(a) for a in alarms]
    assert plan(alarms, live, None, None, owner="t/dev", prune=True).converged
    deleted = plan([], live, None, None, owner="t/dev", prune=True)
    order = [c.name for c in deleted.changes]
    assert all(c.action is Action.DELETE for c in deleted.changes) and len(order) == len(alarms)
    for alarm in alarms:
        for child in composite_children(alarm):
            assert order.index(child) > order.index(alarm["AlarmName"]), (child, alarm["AlarmName"])


def test_a_changed_rule_is_an_update_and_a_suppressor_reported_as_an_arn_is_the_same(tmp_path):
    alarms = rendered(tmp_path, BASE + INCIDENTS)
    unhealthy = alarms["t-dev-jobs-unhealthy-critical"]
    live = {**described(unhealthy), "ActionsSuppressor": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{unhealthy['ActionsSuppressor']}"}
    assert plan([unhealthy], [live], None, None, owner="t/dev", prune=False).converged
    old = {**live, "AlarmRule": 'ALARM("t-dev-jobs-queue-depth-critical")'}
    (change,) = plan([unhealthy], [old], None, None, owner="t/dev", prune=False).changes
    assert (change.action, change.resource, [d.field for d in change.diffs]) == (Action.UPDATE, Resource.COMPOSITE_ALARM.value, ["AlarmRule"])
    assert change.lines()[0] == "~ composite alarm t-dev-jobs-unhealthy-critical"


def test_a_metric_alarm_where_a_composite_is_wanted_is_a_conflict(tmp_path):
    alarms = rendered(tmp_path, BASE + INCIDENTS)
    unhealthy = alarms["t-dev-jobs-unhealthy-critical"]
    squatter = {**described(alarms["t-dev-jobs-queue-depth-critical"]), "AlarmName": unhealthy["AlarmName"]}
    result = plan([unhealthy], [squatter], None, None, owner="t/dev", prune=False)
    assert result.changes == () and "exists as a alarm, not a composite alarm" in result.conflicts[0].reason.replace("an alarm", "a alarm")


# ---------------------------------------------------------------- anomaly bands


def test_an_anomaly_tier_renders_a_band_alarm_and_its_detector(tmp_path):
    alarms = rendered(tmp_path, BASE_WITH_ANOMALY)
    band = alarms["t-dev-jobs-depth-anomaly-warning"]
    assert band["ThresholdMetricId"] == "band" and "Threshold" not in band
    assert band["ComparisonOperator"] == "GreaterThanUpperThreshold"
    assert [q.get("Expression") for q in band["Metrics"]] == [None, "ANOMALY_DETECTION_BAND(observed, 2)"]
    assert [q["ReturnData"] for q in band["Metrics"]] == [True, True]
    (detector,) = anomaly_detectors(alarms.values())
    assert detector == {
        "Namespace": "Test/Queues",
        "MetricName": "QueueDepth",
        "Dimensions": [{"Name": "Environment", "Value": "dev"}, {"Name": "Queue", "Value": "jobs"}],
        "Stat": "Average",
    }
    with pytest.raises(NotSupported, match="anomaly detection .* is not modelled"):
        parse_alarm(band)


def test_an_anomaly_band_width_must_be_positive(tmp_path):
    text = BASE.replace("        warning: {threshold: 50}\n", "        warning: {threshold: 50}\n" + ANOMALY.replace("threshold: 2", "threshold: 0"))
    with pytest.raises(SpecError) as caught:
        load_spec(str(write(tmp_path, text)), environ={})
    assert "an anomaly band's width is a number of standard deviations above 0" in str(caught.value.problems[0])


# ---------------------------------------------------------------- apply, end to end against the emulator


def apply(path: Path, capsys, *extra: str) -> dict:
    status = main(["apply", "--spec", str(path), "--env", "dev", "--yes", "--write-rate", "0", "--output", "json", "--no-metric-check", *extra])
    out = capsys.readouterr()
    assert status == ExitStatus.SUCCESS, out.out + out.err
    return json.loads(out.out)


@pytest.fixture
def emulator(aws_env):
    with mock_aws():
        yield boto3.client("cloudwatch", region_name=REGION), cloudwatch_backends[ACCOUNT][REGION]


def test_apply_and_prune_put_and_delete_in_an_order_aws_accepts(tmp_path, capsys, emulator):
    cw, backend = emulator
    spec = write(tmp_path, BASE_WITH_ANOMALY + INCIDENTS)
    apply(spec, capsys)
    calls = moto_cloudwatch.calls(backend)
    names = [name for _, name in calls]
    detector = "Test/Queues/QueueDepth[Environment=dev,Queue=jobs]/Average"
    assert calls[0] == ("PutAnomalyDetector", detector)
    assert [op for op, _ in calls].count("PutCompositeAlarm") == 3
    assert names.index("t-dev-redis-primary-target-down") < names.index("t-dev-jobs-unhealthy-critical")
    assert names.index("t-dev-jobs-queue-depth-critical") < names.index("t-dev-jobs-unhealthy-critical")
    live = cw.describe_alarms(AlarmTypes=["CompositeAlarm"])["CompositeAlarms"]
    assert {a["AlarmName"] for a in live} == {"t-dev-jobs-unhealthy-critical", "t-dev-mail-unhealthy-critical", "t-dev-redis-primary-target-down"}
    assert [d["MetricName"] for d in cw.describe_anomaly_detectors(Namespace="Test/Queues")["AnomalyDetectors"]] == ["QueueDepth"]

    # A second apply has nothing to do: composites, their tags and the detector are all read back.
    again = apply(spec, capsys)
    assert again["plan"]["changes"] == [] and again["report"] == []

    # Without the jobs queue and the band: the composite goes first, in its own call, then its
    # children, then the detector no alarm uses any more.
    calls.clear()
    text = spec.read_text()
    spec.write_text(text[: text.index("  - key: jobs")] + text[text.index("  - key: mail") :])
    pruned = apply(spec, capsys, "--prune")
    assert pruned["plan"]["summary"]["delete"] == 6  # unhealthy, two queue_depth tiers, arrivals, the band, its detector
    deletes = [(op, name) for op, name in calls if op.startswith("Delete")]
    assert deletes[0] == ("DeleteAlarms", "t-dev-jobs-unhealthy-critical")
    assert deletes[-1] == ("DeleteAnomalyDetector", detector)
    assert cw.describe_anomaly_detectors(Namespace="Test/Queues")["AnomalyDetectors"] == []
    assert {a["AlarmName"] for a in cw.describe_alarms(AlarmTypes=["CompositeAlarm"])["CompositeAlarms"]} == {
        "t-dev-mail-unhealthy-critical",
        "t-dev-redis-primary-target-down",
    }


def test_without_prune_an_unused_detector_is_a_warning_not_a_delete(tmp_path, capsys, emulator):
    cw, _ = emulator
    spec = write(tmp_path, BASE_WITH_ANOMALY)
    apply(spec, capsys)
    spec.write_text(spec.read_text().replace(ANOMALY, ""))
    result = apply(spec, capsys)
    assert any("anomaly detector of this spec no longer used" in w for w in result["plan"]["warnings"])
    assert len(cw.describe_anomaly_detectors(Namespace="Test/Queues")["AnomalyDetectors"]) == 1


def test_the_emulator_refuses_what_aws_refuses(emulator):
    cw, _ = emulator
    cw.put_metric_alarm(AlarmName="a", Namespace="N", MetricName="M", Period=60, EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold", Statistic="Maximum")
    with pytest.raises(cw.exceptions.ClientError, match="do not exist"):
        cw.put_composite_alarm(AlarmName="c", AlarmRule='ALARM("a") OR ALARM("missing")')
    cw.put_composite_alarm(AlarmName="c", AlarmRule='ALARM("a")')
    with pytest.raises(cw.exceptions.ClientError, match="composite alarm c depends on them"):
        cw.delete_alarms(AlarmNames=["a"])
    assert cw.describe_alarms()["CompositeAlarms"] == []  # AWS's default: metric alarms only
    cw.delete_alarms(AlarmNames=["c", "a"])  # together: nothing left depends on them
    assert cw.describe_alarms(AlarmTypes=["MetricAlarm", "CompositeAlarm"])["MetricAlarms"] == []


# ---------------------------------------------------------------- pattern alarms

PATTERNS = """\
patterns:
  - pattern: "tenant:*:jobs"
    alarms:
      pattern_depth_max:
        critical: {threshold: 500, evaluation_periods: 5, datapoints_to_alarm: 3}
      pattern_queue_count:
        warning: {threshold: 100, period: 300}
"""


def test_pattern_alarms_watch_the_aggregates_by_pattern_and_join_the_incidents(tmp_path):
    alarms = rendered(tmp_path, BASE + INCIDENTS + PATTERNS)
    worst = alarms["t-dev-tenant-jobs-pattern-depth-max-critical"]
    assert (worst["MetricName"], worst["Dimensions"]) == ("PatternDepthMax", [{"Name": "Environment", "Value": "dev"}, {"Name": "Pattern", "Value": "tenant:*:jobs"}])
    assert alarms["t-dev-tenant-jobs-pattern-queue-count-warning"]["MetricName"] == "PatternQueueCount"
    assert alarms["t-dev-tenant-jobs-unhealthy-critical"]["AlarmRule"] == f'ALARM("{worst["AlarmName"]}")'


def test_a_pattern_named_like_a_queue_is_refused(tmp_path):
    text = BASE + PATTERNS.replace('  - pattern: "tenant:*:jobs"\n', '  - pattern: "tenant:*:jobs"\n    name: mail\n')
    with pytest.raises(SpecError) as caught:
        load_spec(str(write(tmp_path, text)), environ={})
    assert "name 'mail' (used in alarm names) is also the name at queues[1]; give the pattern a distinct 'name'" in str(caught.value.problems[0])
