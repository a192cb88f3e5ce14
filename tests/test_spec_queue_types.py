"""Streams and delayed sets in the spec: a failing example per rule, rendering, explanations."""

from __future__ import annotations

import textwrap
from pathlib import Path

import botocore.session
import pytest
from botocore.validate import ParamValidator

from monitor.cloudwatch.alarms import render_alarms
from monitor.errors import SpecError
from monitor.spec.kinds import AlarmKind, Comparison, TreatMissingData
from monitor.spec.load import load_spec
from monitor.spec.sources import ScoreUnit
from monitor.truth.evaluator import explain

BASE = """\
version: 1
namespace: Test/Queues
name_prefix: t
runbooks:
  consumer_group_lag: https://example.com/rb#lag
  stuck_pending: https://example.com/rb#stuck
  delayed_overdue: https://example.com/rb#overdue
defaults:
  alarms:
    consumer_group_lag:
      critical: {threshold: 1000, evaluation_periods: 5, datapoints_to_alarm: 3}
environments:
  dev:
    redis: {host: 127.0.0.1, port: 6379, tls: false}
queues:
  - key: jobs:a
"""

STREAMS = """\
streams:
  - key: orders:stream
    groups: [billing, shipping]
    alarms:
      stuck_pending:
        warning: {threshold: 600}
  - key: audit:stream
delayed:
  - key: jobs:scheduled
    score_unit: milliseconds
    grace_seconds: 30
    alarms:
      delayed_overdue:
        critical: {threshold: 0, evaluation_periods: 3}
"""


def load(tmp_path: Path, text: str):
    path = tmp_path / "alarms.yaml"
    path.write_text(textwrap.dedent(text))
    return load_spec(str(path), environ={})


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        load(tmp_path, text)
    return [str(p) for p in info.value.problems]


def test_streams_and_delayed_sets_become_typed_objects(tmp_path):
    spec = load(tmp_path, BASE + STREAMS)
    orders, audit = spec.streams
    assert (orders.key, orders.name, orders.groups) == ("orders:stream", "orders-stream", ("billing", "shipping"))
    kinds = {(r.kind, r.tier): r for r in orders.alarms}
    lag = kinds[(AlarmKind.CONSUMER_GROUP_LAG, "critical")]  # from defaults.alarms
    assert (lag.threshold, lag.evaluation_periods, lag.datapoints_to_alarm, lag.comparison) == (1000, 5, 3, Comparison.GT)
    stuck = kinds[(AlarmKind.STUCK_PENDING, "warning")]
    assert (stuck.statistic, stuck.treat_missing_data, stuck.runbook) == ("Maximum", TreatMissingData.NOT_BREACHING, "https://example.com/rb#stuck")
    assert audit.groups == () and audit.alarms == ()
    (scheduled,) = spec.delayed
    assert scheduled.source.score_unit is ScoreUnit.MILLISECONDS and scheduled.source.grace_seconds == 30
    (overdue,) = scheduled.alarms
    assert (overdue.kind, overdue.statistic, overdue.threshold) == (AlarmKind.DELAYED_OVERDUE, "Minimum", 0)
    assert [str(w) for w in spec.warnings if "audit:stream" in str(w)]  # no groups: measured, not alarmed


def test_one_alarm_per_listed_group_and_tier(tmp_path):
    spec = load(tmp_path, BASE + STREAMS)
    alarms = {a["AlarmName"]: a for a in render_alarms(spec, spec.environment("dev"))}
    assert sorted(n for n in alarms if "stream" in n) == [
        "t-dev-orders-stream-billing-consumer-group-lag-critical",
        "t-dev-orders-stream-billing-stuck-pending-warning",
        "t-dev-orders-stream-shipping-consumer-group-lag-critical",
        "t-dev-orders-stream-shipping-stuck-pending-warning",
    ]
    lag = alarms["t-dev-orders-stream-shipping-consumer-group-lag-critical"]
    assert lag["MetricName"] == "ConsumerGroupLag" and lag["Statistic"] == "Maximum"
    assert lag["Dimensions"] == [
        {"Name": "Environment", "Value": "dev"},
        {"Name": "Queue", "Value": "orders:stream"},
        {"Name": "ConsumerGroup", "Value": "shipping"},
    ]
    assert lag["AlarmDescription"].startswith("[CRITICAL] orders:stream group shipping (dev): consumer group lag.")
    overdue = alarms["t-dev-jobs-scheduled-delayed-overdue-critical"]
    assert (overdue["MetricName"], overdue["Statistic"], overdue["Threshold"], overdue["EvaluationPeriods"]) == ("DelayedOverdue", "Minimum", 0, 3)
    assert overdue["Dimensions"][1:] == [{"Name": "Queue", "Value": "jobs:scheduled"}]
    shape = botocore.session.get_session().get_service_model("cloudwatch").operation_model("PutMetricAlarm").input_shape
    for alarm in alarms.values():
        report = ParamValidator().validate(alarm, shape)
        assert not report.has_errors(), report.generate_report()


def test_the_evaluator_explains_group_alarms(tmp_path):
    spec = load(tmp_path, BASE + STREAMS)
    alarms = {a["AlarmName"]: a for a in render_alarms(spec, spec.environment("dev"))}
    text = explain(alarms["t-dev-orders-stream-billing-stuck-pending-warning"])
    assert "OldestPendingIdleSeconds" in text and "ConsumerGroup=billing" in text and "Queue=orders:stream" in text
    assert "above 600" in text
    assert "minimum of DelayedOverdue" in explain(alarms["t-dev-jobs-scheduled-delayed-overdue-critical"])


@pytest.mark.parametrize(
    "addition, message",
    [
        (  # alarms need listed groups
            "streams:\n  - key: s\n    alarms:\n      stuck_pending:\n        warning: {threshold: 60}\n",
            "streams[0].alarms.stuck_pending: a stuck_pending alarm needs the queue's 'groups' list",
        ),
        ("streams:\n  - key: s\n    groups: [g, g]\n", "streams[0].groups[1]: consumer group 'g' is listed twice"),
        ("streams:\n  - key: jobs:a\n", "streams[0].key: key 'jobs:a' is also declared at queues[0]"),
        ("streams:\n  - key: s\n  - key: s\n", "streams[1].key: 's' is declared twice in streams"),
        ("delayed:\n  - key: d\n  - key: d\n", "delayed[1].key: 'd' is declared twice in delayed"),
        ("streams:\n  - key: s\ndelayed:\n  - key: s\n", "delayed[0].key: key 's' is also declared at streams[0]"),
        ("delayed:\n  - key: d\n    name: jobs-a\n", "delayed[0].name: name 'jobs-a' (used in alarm names) is also the name at queues[0]"),
        (
            "streams:\n  - key: s\n    groups: [a b, a-b]\n",
            "streams[0].groups: group 'a-b' gives alarm names ending 's-a-b-KIND-TIER'",
        ),
        (
            "streams:\n  - {key: s, name: s-x, groups: [y]}\n  - {key: t, name: s, groups: [x-y]}\n",
            "streams[1].groups: group 'x-y' gives alarm names ending 's-x-y-KIND-TIER', as group 'y' of streams[0] does",
        ),
        (
            "streams:\n  - key: s\n    groups: [g]\n    alarms:\n      consumer_group_lag:\n        critical: {comparison: '<'}\n",
            "a consumer_group_lag alarm fires when the value grows: use > or >=",
        ),
        (
            "streams:\n  - key: s\n    groups: [g]\n    alarms:\n      stuck_pending:\n        warning: {threshold: -5}\n",
            "a stuck_pending value is never negative, so the alarm would always fire",
        ),
        (
            "delayed:\n  - key: d\n    alarms:\n      delayed_overdue:\n        critical: {threshold: 0, comparison: '>='}\n",
            "found >= 0; a delayed_overdue value is never negative, so the alarm would always fire",
        ),
        ("delayed:\n  - key: d\n    alarms:\n      delayed_overdue:\n        critical: {period: 60}\n", "missing 'threshold' for the delayed_overdue alarm"),
        ("delayed:\n  - key: d\n    score_unit: ms\n", "delayed[0].score_unit: found 'ms'; expected one of: seconds, milliseconds"),
        ("delayed:\n  - key: d\n    grace_seconds: -1\n", "delayed[0].grace_seconds"),
        ("delayed:\n  - key: d\n    alarms:\n      queue_depth:\n        critical: {threshold: 1}\n", "delayed[0].alarms.queue_depth"),
        ("streams:\n  - key: s\n    groups: [g]\n    alarms:\n      delayed_overdue:\n        critical: {threshold: 1}\n", "streams[0].alarms.delayed_overdue"),
        ("streams:\n  - key: s\n    groups: g\n", "streams[0].groups: found 'g' (a string); expected a list"),
        (
            "streams:\n  - key: s\n    groups: [g]\n    alarms:\n      stuck_pending:\n        warning: {threshold: 60, period: 90}\n",
            "found 90; CloudWatch allows 10, 20, 30 or a multiple of 60 seconds",
        ),
    ],
    ids=[
        "alarms-without-groups",
        "group-twice",
        "key-also-a-list-queue",
        "stream-twice",
        "delayed-twice",
        "key-stream-and-delayed",
        "name-collides-with-a-queue",
        "groups-collide-after-slug",
        "group-subjects-collide-across-streams",
        "downward-comparison",
        "negative-threshold",
        "always-fires",
        "missing-threshold",
        "score-unit",
        "negative-grace",
        "list-kind-on-a-delayed-set",
        "delayed-kind-on-a-stream",
        "groups-not-a-list",
        "bad-period",
    ],
)
def test_rules_for_streams_and_delayed_sets(tmp_path, addition, message):
    found = problems(tmp_path, BASE + addition)
    assert any(message in p for p in found), found


def test_stream_kinds_may_have_defaults_and_list_queues_do_not_get_them(tmp_path):
    spec = load(tmp_path, BASE + "streams:\n  - key: s\n    groups: [g]\n")
    assert {r.kind for r in spec.queues[0].alarms} == set()  # jobs:a has no list kinds in defaults
    assert [r.kind for r in spec.streams[0].alarms] == [AlarmKind.CONSUMER_GROUP_LAG]


def test_overlong_group_alarm_names_are_refused(tmp_path):
    found = problems(tmp_path, BASE + f"streams:\n  - key: s\n    name: {'n' * 60}\n    groups: [{'g' * 200}]\n")
    assert any("streams[0]: alarm name" in p and "CloudWatch allows 255" in p for p in found), found


# ---------------------------------------------------------------- scenarios


def test_a_scenario_can_drive_a_delayed_set_alarm(tmp_path):
    from monitor.truth.scenarios import run_files

    spec = load(tmp_path, BASE + STREAMS)
    scenario = tmp_path / "overdue.yaml"
    # Overdue jobs in minutes 5-10; Minimum > 0 in each of 3 one-minute periods: ALARM at 8m, OK at 12m.
    scenario.write_text(
        "name: scheduler stuck\nseries:\n  jobs:scheduled:\n    DelayedOverdue: '0x5 2x6 0x5'\nexpect:\n"
        "  - {at: 7m, alarm: jobs:scheduled/delayed_overdue/critical, state: OK}\n"
        "  - {at: 8m, alarm: jobs:scheduled/delayed_overdue/critical, state: ALARM}\n"
        "  - {at: 12m, alarm: jobs:scheduled/delayed_overdue/critical, state: OK}\n"
    )
    (result,) = run_files([scenario], spec)
    assert result.passed, result


def test_scenarios_name_stream_groups_with_three_dimension_series(tmp_path):
    """A stream's key gives its StreamLength; KEY[GROUP] a consumer group's series (three dimensions), listed or not."""
    from monitor.truth.scenarios import run_files

    spec = load(tmp_path, BASE + STREAMS)
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("name: x\nseries:\n  jobs:scheduled:\n    QueueDepth: '0x3'\n  orders:stream:\n    ConsumerGroupLag: '0x3'\nexpect: [{none_in: ALARM}]\n")
    with pytest.raises(SpecError) as info:
        run_files([wrong], spec)
    text = "\n".join(str(p) for p in info.value.problems)
    assert "'QueueDepth' is a queue metric, not a delayed one (allowed for jobs:scheduled: DelayedTotal, DelayedOverdue)" in text
    assert "'ConsumerGroupLag' is a group metric, not a stream one (allowed for orders:stream: StreamLength)" in text
    # stuck_pending/warning of the billing group: OldestPendingIdleSeconds (Maximum) > 600, 1 of 1 minute.
    stuck = tmp_path / "stuck.yaml"
    stuck.write_text(
        "name: a consumer of billing hangs\n"
        "series:\n"
        "  orders:stream: {StreamLength: '10x8'}\n"
        "  orders:stream[billing]: {OldestPendingIdleSeconds: '0x3 700x5'}\n"
        "  orders:stream[shipping]: {OldestPendingIdleSeconds: '0x8'}\n"
        "  orders:stream[unlisted]: {ConsumerGroupLag: '5x8'}\n"
        "expect:\n"
        "  - {at: 3m, alarm: 'orders:stream[billing]/stuck_pending/warning', state: OK}\n"
        "  - {at: 4m, alarm: 'orders:stream[billing]/stuck_pending/warning', state: ALARM}\n"
        "  - {from: 1m, alarm: 'orders:stream[shipping]/stuck_pending/warning', state: OK}\n"
    )
    (result,) = run_files([stuck], spec)
    assert result.passed, result