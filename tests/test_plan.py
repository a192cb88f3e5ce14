"""plan(desired, actual) with literal data: no AWS, no spec file."""

from __future__ import annotations

import copy

from monitor.cloudwatch.plan import Action, FieldDiff, plan, silent_alarm_warnings
from monitor.spec.naming import TAG_SPEC

OWNER = "shop/prod"
OUR_TAGS = [{"Key": "managed-by", "Value": "provision-alarms"}, {"Key": TAG_SPEC, "Value": OWNER}, {"Key": "team", "Value": "jobs"}]
DASHBOARD = ("shop-prod", {"widgets": [{"type": "text", "x": 0, "y": 0, "width": 24, "height": 3, "properties": {"markdown": "# hi"}}]})


def desired_alarm(name="shop-prod-orders-queue-depth-critical", threshold=1000.0, **extra):
    """An alarm as render_alarms returns it (PutMetricAlarm keyword arguments)."""
    alarm = {
        "AlarmName": name,
        "AlarmDescription": "[CRITICAL] orders: queue depth.",
        "ActionsEnabled": True,
        "AlarmActions": ["arn:aws:sns:us-east-1:123456789012:a", "arn:aws:sns:us-east-1:123456789012:b"],
        "OKActions": ["arn:aws:sns:us-east-1:123456789012:a"],
        "InsufficientDataActions": [],
        "Namespace": "Shop/Queues",
        "MetricName": "QueueDepth",
        "Dimensions": [{"Name": "Environment", "Value": "prod"}, {"Name": "Queue", "Value": "orders"}],
        "Period": 60,
        "Statistic": "Maximum",
        "EvaluationPeriods": 5,
        "DatapointsToAlarm": 3,
        "Threshold": threshold,
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "notBreaching",
        "Tags": copy.deepcopy(OUR_TAGS),
    }
    alarm.update(extra)
    return alarm


def described(alarm, tags=None):
    """The same alarm as DescribeAlarms returns it (moto 5.2 shape), with the tags read separately."""
    live = {k: copy.deepcopy(v) for k, v in alarm.items() if k != "Tags"}
    live.update(
        {
            "AlarmArn": f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{alarm['AlarmName']}",
            "AlarmConfigurationUpdatedTimestamp": "2024-05-01T00:00:00Z",
            "StateValue": "OK",
            "StateReason": "Unchecked: Initial alarm creation",
            "StateReasonData": "{}",
            "StateUpdatedTimestamp": "2024-05-01T00:00:00Z",
            "Threshold": float(alarm["Threshold"]),
            "Metrics": live.get("Metrics", []),
            "Dimensions": live.get("Dimensions", []),
            "Tags": copy.deepcopy(alarm["Tags"] if tags is None else tags),
        }
    )
    return live


def test_create_from_empty():
    result = plan([desired_alarm("a"), desired_alarm("b")], [], DASHBOARD, None, owner=OWNER, prune=False)
    assert [(c.action, c.resource, c.name) for c in result.changes] == [
        (Action.CREATE, "alarm", "a"),
        (Action.CREATE, "alarm", "b"),
        (Action.CREATE, "dashboard", "shop-prod"),
    ]
    assert result.summary() == "Plan: 3 to create, 0 to update, 0 to delete, 0 unchanged."
    assert not result.converged


def test_no_op_when_live_matches():
    alarm = desired_alarm()
    result = plan([alarm], [described(alarm)], DASHBOARD, copy.deepcopy(DASHBOARD), owner=OWNER, prune=True)
    assert result.changes == () and result.converged
    assert result.summary() == "Plan: 0 to create, 0 to update, 0 to delete, 2 unchanged."


def test_one_threshold_change_is_one_update_with_a_field_diff():
    live = [described(desired_alarm("a")), described(desired_alarm("b"))]
    result = plan([desired_alarm("a"), desired_alarm("b", threshold=2000)], live, None, None, owner=OWNER, prune=False)
    assert len(result.changes) == 1
    change = result.changes[0]
    assert (change.action, change.name) == (Action.UPDATE, "b")
    assert change.diffs == (FieldDiff("Threshold", 1000, 2000),)
    assert change.lines() == ["~ alarm b", "    Threshold: 1000 -> 2000"]
    assert change.writes_config and not change.tags_to_set and not change.tags_to_remove
    assert result.unchanged == 1


def test_list_order_of_actions_and_dimensions_is_ignored():
    alarm = desired_alarm()
    live = described(alarm)
    live["AlarmActions"].reverse()
    live["Dimensions"].reverse()
    assert plan([alarm], [live], None, None, owner=OWNER, prune=False).converged


def test_read_only_fields_and_number_forms_are_ignored():
    alarm = desired_alarm(Period=60, EvaluationPeriods=5)
    live = described(alarm)
    live.update(
        StateValue="ALARM",
        StateReason="Threshold Crossed",
        StateUpdatedTimestamp="2025-01-01T00:00:00Z",
        StateTransitionedTimestamp="2025-01-01T00:00:00Z",
        AlarmConfigurationUpdatedTimestamp="2025-01-01T00:00:00Z",
        EvaluationState="PARTIAL_DATA",
        Period=60.0,
        Threshold=1000,
    )
    assert plan([alarm], [live], None, None, owner=OWNER, prune=False).converged


def test_defaults_aws_fills_in_compare_equal_and_real_differences_do_not():
    # Sent without DatapointsToAlarm/TreatMissingData; AWS (and moto) then leave them out.
    sent = desired_alarm(DatapointsToAlarm=5, TreatMissingData="missing")
    live = described(sent)
    del live["DatapointsToAlarm"], live["TreatMissingData"]
    assert plan([sent], [live], None, None, owner=OWNER, prune=False).converged
    # ... but M=3 of N=5 is not the default "all 5".
    three_of_five = desired_alarm(DatapointsToAlarm=3, TreatMissingData="missing")
    (change,) = plan([three_of_five], [live], None, None, owner=OWNER, prune=False).changes
    assert change.diffs == (FieldDiff("DatapointsToAlarm", 5, 3),)


def test_metric_math_alarm_matches_its_described_form():
    math = {
        k: v for k, v in desired_alarm().items() if k not in ("Namespace", "MetricName", "Dimensions", "Period", "Statistic")
    }
    math["Metrics"] = [
        {
            "Id": "dlq_depth",
            "MetricStat": {
                "Metric": {"Namespace": "Shop/Queues", "MetricName": "DeadLetterDepth", "Dimensions": [{"Name": "Queue", "Value": "orders"}]},
                "Period": 60,
                "Stat": "Maximum",
            },
            "ReturnData": False,
        },
        {"Id": "arrivals", "Expression": "DIFF(dlq_depth)", "Label": "Dead letters arrived", "ReturnData": True},
    ]
    live = described(math)  # moto adds "Dimensions": [] at the top and keeps Metrics
    assert live["Dimensions"] == []
    live["Metrics"].reverse()
    assert plan([math], [live], None, None, owner=OWNER, prune=False).converged
    live["Metrics"][0]["Expression"] = "RATE(dlq_depth)"
    (change,) = plan([math], [live], None, None, owner=OWNER, prune=False).changes
    assert [d.field for d in change.diffs] == ["Metrics"]


def test_tag_drift_only_is_a_retag_without_put_metric_alarm():
    alarm = desired_alarm()
    drifted = [t for t in OUR_TAGS if t["Key"] != "team"] + [{"Key": "owner", "Value": "bob"}, {"Key": "aws:cloudformation:stack-name", "Value": "x"}]
    (change,) = plan([alarm], [described(alarm, tags=drifted)], None, None, owner=OWNER, prune=False).changes
    assert change.action is Action.RETAG and not change.writes_config
    assert dict(change.tags_to_set) == {"team": "jobs"}
    assert change.tags_to_remove == ("owner",)  # aws:* tags cannot be removed and are left alone
    assert change.arn.endswith(":alarm:shop-prod-orders-queue-depth-critical")


def test_renamed_queue_creates_the_new_alarm_and_deletes_the_old_only_with_prune():
    old = desired_alarm("shop-prod-orders-queue-depth-critical")
    new = desired_alarm("shop-prod-purchases-queue-depth-critical")
    without = plan([new], [described(old)], None, None, owner=OWNER, prune=False)
    assert [(c.action, c.name) for c in without.changes] == [(Action.CREATE, new["AlarmName"])]
    assert "--prune deletes it" in without.warnings[0]
    pruned = plan([new], [described(old)], None, None, owner=OWNER, prune=True)
    assert [(c.action, c.name) for c in pruned.changes] == [(Action.CREATE, new["AlarmName"]), (Action.DELETE, old["AlarmName"])]
    assert pruned.summary() == "Plan: 1 to create, 0 to update, 1 to delete, 0 unchanged."


def test_foreign_alarm_with_our_name_is_a_conflict_and_not_overwritten():
    alarm = desired_alarm()
    untagged = described(desired_alarm(threshold=5), tags=[])
    result = plan([alarm], [untagged], None, None, owner=OWNER, prune=True)
    assert result.changes == ()
    (conflict,) = result.conflicts
    assert conflict.name == alarm["AlarmName"] and f"has no {TAG_SPEC} tag" in conflict.reason
    assert not result.converged
    other = described(alarm, tags=[{"Key": TAG_SPEC, "Value": "shop/staging"}])
    (conflict,) = plan([alarm], [other], None, None, owner=OWNER, prune=True).conflicts
    assert "belongs to spec 'shop/staging'" in conflict.reason
    assert conflict.line().startswith("! alarm shop-prod-orders-queue-depth-critical: exists and belongs")


def test_foreign_and_other_spec_alarms_are_never_pruned():
    ours = desired_alarm("shop-prod-orders-queue-depth-critical")
    foreign = described(desired_alarm("shop-prod-hand-made"), tags=[{"Key": "team", "Value": "jobs"}])
    untagged = described(desired_alarm("shop-prod-untagged"), tags=[])
    other_spec = described(desired_alarm("shop-prod-other"), tags=[{"Key": TAG_SPEC, "Value": "shop/prod-eu"}])
    stray = described(desired_alarm("named-some-other-way"))  # ours by tag, whatever its name
    result = plan([ours], [described(ours), foreign, untagged, other_spec, stray], None, None, owner=OWNER, prune=True)
    assert [(c.action, c.name) for c in result.changes] == [(Action.DELETE, "named-some-other-way")]


def test_dashboard_compared_as_parsed_json():
    same = ("shop-prod", {"widgets": [{"type": "text", "x": 0.0, "y": 0, "width": 24.0, "height": 3, "properties": {"markdown": "# hi"}}]})
    assert plan([], [], DASHBOARD, same, owner=OWNER, prune=False).converged
    changed = ("shop-prod", {"widgets": []})
    (change,) = plan([], [], DASHBOARD, changed, owner=OWNER, prune=False).changes
    assert (change.action, change.resource, change.body) == (Action.UPDATE, "dashboard", DASHBOARD[1])
    assert plan([], [], None, DASHBOARD, owner=OWNER, prune=False).changes == ()
    (delete,) = plan([], [], None, DASHBOARD, owner=OWNER, prune=True).changes
    assert (delete.action, delete.name) == (Action.DELETE, "shop-prod")


def test_silent_alarm_warnings():
    alarm = desired_alarm()
    published = {("Shop/Queues", "QueueDepth", (("Environment", "prod"), ("Queue", "orders")))}
    assert silent_alarm_warnings([alarm], published) == []
    misnamed = {("Shop/Queues", "QueueDepth", (("Environment", "prod"), ("Queue", "Orders")))}
    (warning,) = silent_alarm_warnings([alarm], misnamed)
    assert "watches QueueDepth (Environment=prod, Queue=orders), which has no data in the last two weeks" in warning
    (warning,) = silent_alarm_warnings([alarm, desired_alarm("b")], set())
    assert warning.startswith("no metric in namespace Shop/Queues has data yet") and "2 alarms" in warning


def test_an_alarm_on_a_metric_published_only_when_not_0_is_not_called_silent():
    published = {("Shop/Queues", "QueueDepth", (("Environment", "prod"), ("Queue", "orders")))}
    errors = desired_alarm("errors", MetricName="MessageParseErrors", TreatMissingData="notBreaching")
    assert silent_alarm_warnings([errors], published) == []  # no parse error in two weeks: nothing to publish
    blind = desired_alarm("blind", MetricName="MessageParseErrors", TreatMissingData="missing")
    (warning,) = silent_alarm_warnings([blind], published)
    assert "MessageParseErrors, which is published only when not 0" in warning and "use notBreaching" in warning
    assert "no data in the last two weeks" not in warning


def test_json_form():
    data = plan([desired_alarm("b", threshold=2)], [described(desired_alarm("b"))], None, None, owner=OWNER, prune=False).to_json()
    assert data["changes"] == [{"action": "update", "resource": "alarm", "name": "b", "diff": {"Threshold": {"old": 1000, "new": 2}}}]
    assert data["summary"] == {"create": 0, "update": 1, "delete": 0, "unchanged": 0, "conflicts": 0}


def test_long_text_diffs_print_around_the_difference():
    old = "[CRITICAL] orders: Fires when the maximum QueueDepth is above 1000 in 3 of 5 one-minute periods; Runbook: https://x"
    new = old.replace("1000", "2000")
    line = str(FieldDiff("AlarmDescription", old, new))
    assert line == 'AlarmDescription: ..."QueueDepth is above 1000 in 3 of 5 one-mi"... -> ..."QueueDepth is above 2000 in 3 of 5 one-mi"...'


# ---------------------------------------------------------------- EvaluationWindow

WALL = {"WallClockWindow": {"Timezone": "Europe/Berlin"}}


def test_sliding_window_spelled_out_or_left_out_is_the_same():
    alarm = desired_alarm()
    live = described(alarm)
    live["EvaluationWindow"] = {"SlidingWindow": {}}
    assert plan([alarm], [live], None, None, owner=OWNER, prune=False).converged
    utc = desired_alarm(EvaluationWindow={"WallClockWindow": {}})
    live_utc = described(desired_alarm(EvaluationWindow={"WallClockWindow": {"Timezone": "UTC"}}))
    assert plan([utc], [live_utc], None, None, owner=OWNER, prune=False).converged


def test_a_new_wall_clock_window_against_aws_is_an_update():
    # AWS reports EvaluationWindow back: a live alarm without it has the default sliding window
    result = plan([desired_alarm(EvaluationWindow=WALL)], [described(desired_alarm())], None, None, owner=OWNER, prune=False)
    [change] = result.changes
    assert change.action is Action.UPDATE
    assert change.diffs == (FieldDiff("EvaluationWindow", {"SlidingWindow": {}}, {"WallClockWindow": {"Timezone": "Europe/Berlin"}}),)
    back = described(desired_alarm(EvaluationWindow=WALL))
    assert plan([desired_alarm(EvaluationWindow=WALL)], [back], None, None, owner=OWNER, prune=False).converged
    moved = described(desired_alarm(EvaluationWindow={"WallClockWindow": {"Timezone": "Asia/Tokyo"}}))
    [change] = plan([desired_alarm(EvaluationWindow=WALL)], [moved], None, None, owner=OWNER, prune=False).changes
    assert [d.field for d in change.diffs] == ["EvaluationWindow"]


def test_an_endpoint_that_forgets_the_window_is_not_a_permanent_change_but_a_warning():
    forgotten = described(desired_alarm())  # what the emulator returns after a put with EvaluationWindow
    result = plan([desired_alarm(EvaluationWindow=WALL)], [forgotten], None, None, owner=OWNER, prune=False, window_reported=False)
    assert result.changes == () and result.unchanged == 1
    assert result.warnings == (
        "1 alarm with a wall-clock evaluation window (e.g. shop-prod-orders-queue-depth-critical) not compared on it: "
        "this endpoint does not report EvaluationWindow back (the local emulator accepts it and forgets it)",
    )
    # other fields are still compared, and a reported window still is
    [change] = plan([desired_alarm(threshold=5.0, EvaluationWindow=WALL)], [forgotten], None, None, owner=OWNER, prune=False, window_reported=False).changes
    assert [d.field for d in change.diffs] == ["Threshold"]
    reported = described(desired_alarm(EvaluationWindow={"WallClockWindow": {"Timezone": "Asia/Tokyo"}}))
    [change] = plan([desired_alarm(EvaluationWindow=WALL)], [reported], None, None, owner=OWNER, prune=False, window_reported=False).changes
    assert [d.field for d in change.diffs] == ["EvaluationWindow"]


def test_which_endpoints_report_the_window():
    from monitor.cloudwatch.plan import reports_evaluation_window

    assert reports_evaluation_window(None)
    assert reports_evaluation_window("https://monitoring.us-east-1.amazonaws.com")
    assert reports_evaluation_window("https://monitoring.cn-north-1.amazonaws.com.cn")
    assert not reports_evaluation_window("http://127.0.0.1:5000")
    assert not reports_evaluation_window("http://localhost:4566")
    assert not reports_evaluation_window("https://amazonaws.com.evil.example")
