"""plan/apply against the AWS emulator: in-process moto (mock_aws), a moto server for fault injection,
and botocore's Stubber for what moto cannot do (DescribeAlarms never pages there)."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from support_aws import aws_credentials, client_hooks, inject, no_backoff  # noqa: F401 (fixtures)

from monitor.cloudwatch import api as cloudwatch
from monitor.cloudwatch import clients as aws_module
from monitor.cloudwatch.plan import plan
from monitor.commands.cli import main
from monitor.errors import ExitStatus
from monitor.spec.naming import TAG_SPEC

ROOT = Path(__file__).resolve().parent.parent
OWNER = "hokusai-queues/development"
PREFIX = "hokusai-queues-development-"
DEPTH = "hokusai-queues-development-hokusai-model_ready_queue-queue-depth-critical"
HEARTBEAT = "hokusai-queues-development-redis-primary-collector-heartbeat-critical"
TARGET_DOWN = "hokusai-queues-development-redis-primary-target-down"
UNHEALTHY = [f"hokusai-queues-development-hokusai-{q}-unhealthy-critical" for q in ("mint_requests", "model_ready_queue")]
WRITES = {"PutMetricAlarm", "TagResource", "UntagResource", "DeleteAlarms", "PutDashboard", "DeleteDashboards", "PutCompositeAlarm", "PutAnomalyDetector", "DeleteAnomalyDetector"}


@pytest.fixture
def spec(tmp_path) -> Path:
    path = tmp_path / "alarms.yaml"
    shutil.copy(ROOT / "alarms.yaml", path)
    return path


@pytest.fixture
def moto(aws_credentials):  # noqa: F811
    with mock_aws():
        yield boto3.client("cloudwatch", region_name="us-east-1")


def run(capsys, command: str, spec: Path, *extra: str) -> tuple[int, dict]:
    args = [command, "--spec", str(spec), "--env", "development", "--output", "json", *extra]
    if command == "apply":
        args += ["--write-rate", "0"]
    status = main(args)
    out = capsys.readouterr()
    data = json.loads(out.out) if out.out.strip() else {}
    data["stderr"] = out.err
    return status, data


def writes(result: dict) -> dict:
    return {op: n for op, n in result["api_calls"].items() if op in WRITES}


def tags_of(cw, name: str) -> dict:
    arn = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["AlarmArn"]
    return {t["Key"]: t["Value"] for t in cw.list_tags_for_resource(ResourceARN=arn)["Tags"]}


def put_foreign(cw, name: str, tags=None, threshold=7.0) -> None:
    cw.put_metric_alarm(
        AlarmName=name,
        Namespace="Elsewhere",
        MetricName="Thing",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=threshold,
        ComparisonOperator="GreaterThanThreshold",
        **({"Tags": [{"Key": k, "Value": v} for k, v in tags.items()]} if tags else {}),
    )


# ---------------------------------------------------------------- in-process moto


def test_apply_creates_everything_from_empty(moto, spec, capsys):
    status, result = run(capsys, "apply", spec, "--yes")
    assert status == ExitStatus.SUCCESS
    assert result["plan"]["summary"] == {"create": 24, "update": 0, "delete": 0, "unchanged": 0, "conflicts": 0}
    assert all(o["ok"] for o in result["report"])
    assert writes(result) == {"PutMetricAlarm": 20, "PutCompositeAlarm": 3, "PutDashboard": 1}
    names = [a["AlarmName"] for a in moto.describe_alarms()["MetricAlarms"]]
    assert len(names) == 20 and DEPTH in names
    assert tags_of(moto, DEPTH)[TAG_SPEC] == OWNER
    assert json.loads(moto.get_dashboard(DashboardName="hokusai-queues-development")["DashboardBody"])["widgets"]


def test_no_op_reapply_makes_zero_writes_and_few_reads(moto, spec, capsys):
    run(capsys, "apply", spec, "--yes")
    status, result = run(capsys, "apply", spec, "--yes")
    assert status == ExitStatus.SUCCESS
    assert result["plan"]["summary"]["unchanged"] == 24 and result["report"] == []
    assert writes(result) == {}
    # One page of alarms, the owned tags (23 alarms x 6 or 7 tags: two pages, as GetResources also pages
    # at 100 tags), the dashboard, one ListMetrics page: no per-alarm tag reads.
    assert result["api_calls"] == {"DescribeAlarms": 1, "GetResources": 2, "GetDashboard": 1, "ListMetrics": 1}


def test_one_changed_threshold_is_exactly_one_put(moto, spec, capsys):
    run(capsys, "apply", spec, "--yes")
    spec.write_text(spec.read_text().replace("threshold: 1000", "threshold: 2000"))
    status, planned = run(capsys, "plan", spec, "--detailed-exitcode")
    assert status == ExitStatus.CHANGES_PENDING
    # The dashboard draws thresholds as lines, so it follows the alarm: one alarm write, one dashboard write.
    change, dashboard = sorted(planned["plan"]["changes"], key=lambda c: c["name"] != DEPTH)
    assert (change["action"], change["name"]) == ("update", DEPTH)
    assert dashboard["action"] == "update" and dashboard.get("resource", "dashboard") == "dashboard"
    assert change["diff"]["Threshold"] == {"old": 1000, "new": 2000}
    assert set(change["diff"]) == {"Threshold", "AlarmDescription"}  # the description states the threshold
    status, result = run(capsys, "apply", spec, "--yes")
    assert status == ExitStatus.SUCCESS
    assert writes(result) == {"PutMetricAlarm": 1, "PutDashboard": 1}
    assert moto.describe_alarms(AlarmNames=[DEPTH])["MetricAlarms"][0]["Threshold"] == 2000.0
    assert run(capsys, "plan", spec, "--detailed-exitcode")[0] == ExitStatus.SUCCESS


def test_renamed_and_moved_spec_plans_zero_changes(moto, spec, capsys, tmp_path):
    _, applied = run(capsys, "apply", spec, "--yes")
    moved = tmp_path / "elsewhere" / "queues-monitoring.yml"
    moved.parent.mkdir()
    spec.rename(moved)
    status, planned = run(capsys, "plan", moved, "--detailed-exitcode")
    assert status == ExitStatus.SUCCESS, planned["plan"]["changes"]
    assert planned["plan"]["summary"]["unchanged"] == applied["plan"]["summary"]["create"] > 1
    description = moto.describe_alarms(AlarmNames=[DEPTH])["MetricAlarms"][0]["AlarmDescription"]
    assert description.endswith(f"Managed by provision-alarms as {OWNER}; do not edit by hand.")
    assert "alarms.yaml" not in description


def test_tag_drift_fixed_with_tag_calls_only(moto, spec, capsys):
    run(capsys, "apply", spec, "--yes")
    arn = moto.describe_alarms(AlarmNames=[DEPTH])["MetricAlarms"][0]["AlarmArn"]
    moto.untag_resource(ResourceARN=arn, TagKeys=["team"])
    moto.tag_resource(ResourceARN=arn, Tags=[{"Key": "added-by-hand", "Value": "x"}])
    status, result = run(capsys, "apply", spec, "--yes")
    assert status == ExitStatus.SUCCESS
    (change,) = result["plan"]["changes"]
    assert change == {"action": "retag", "resource": "alarm", "name": DEPTH, "tags_to_set": {"team": "hokusai-data-pipeline"}, "tags_to_remove": ["added-by-hand"]}
    assert writes(result) == {"TagResource": 1, "UntagResource": 1}
    assert result["api_calls"]["ListTagsForResource"] == 1  # drift seen in the index is confirmed on the alarm itself
    assert tags_of(moto, DEPTH)["team"] == "hokusai-data-pipeline" and "added-by-hand" not in tags_of(moto, DEPTH)
    assert run(capsys, "plan", spec, "--detailed-exitcode")[0] == ExitStatus.SUCCESS


def test_prune_deletes_only_alarms_this_spec_owns(moto, spec, capsys):
    run(capsys, "apply", spec, "--yes")
    ours = {TAG_SPEC: OWNER, "managed-by": "provision-alarms"}
    put_foreign(moto, PREFIX + "hand-made")  # our prefix, no tags
    put_foreign(moto, PREFIX + "other-spec", tags={TAG_SPEC: "hokusai-queues/staging"})
    put_foreign(moto, "unrelated-alarm", tags={"team": "x"})
    put_foreign(moto, PREFIX + "old-queue-queue-depth-critical", tags=ours)  # a renamed queue's leftover
    put_foreign(moto, "legacy-name-queue-depth", tags=ours)  # ours by tag, outside the prefix

    status, planned = run(capsys, "plan", spec)
    assert planned["plan"]["changes"] == [] and "2 alarms of this spec no longer in it" in planned["plan"]["warnings"][0]

    status, result = run(capsys, "apply", spec, "--yes", "--prune")
    assert status == ExitStatus.SUCCESS
    deleted = sorted(c["name"] for c in result["plan"]["changes"] if c["action"] == "delete")
    assert deleted == ["hokusai-queues-development-old-queue-queue-depth-critical", "legacy-name-queue-depth"]
    assert writes(result) == {"DeleteAlarms": 1}
    left = {a["AlarmName"] for a in moto.describe_alarms()["MetricAlarms"]}
    assert {PREFIX + "hand-made", PREFIX + "other-spec", "unrelated-alarm", DEPTH} <= left
    assert not left & set(deleted)


def test_prune_deletes_in_chunks_of_100(moto, spec, capsys):
    run(capsys, "apply", spec, "--yes")
    for i in range(150):
        put_foreign(moto, f"{PREFIX}gone-{i:03d}", tags={TAG_SPEC: OWNER})
    status, result = run(capsys, "apply", spec, "--yes", "--prune")
    assert status == ExitStatus.SUCCESS and result["plan"]["summary"]["delete"] == 150
    assert writes(result) == {"DeleteAlarms": 2}
    assert len(moto.describe_alarms()["MetricAlarms"]) == 20


def test_foreign_alarm_with_our_name_is_left_alone(moto, spec, capsys):
    put_foreign(moto, DEPTH, threshold=7.0)
    status, result = run(capsys, "apply", spec, "--yes", "--prune")
    assert status == ExitStatus.AWS_FAILURE  # the desired state cannot be reached
    assert result["plan"]["conflicts"][0]["name"] == DEPTH
    assert result["plan"]["summary"]["create"] == 23  # everything else still happens
    live = moto.describe_alarms(AlarmNames=[DEPTH])["MetricAlarms"][0]
    assert (live["Namespace"], live["Threshold"]) == ("Elsewhere", 7.0)
    assert tags_of(moto, DEPTH) == {}


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_confirmation_no_writes_nothing_and_yes_applies(moto, spec, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", FakeTty("no\n"))
    status = main(["apply", "--spec", str(spec), "--env", "development", "--write-rate", "0"])
    out = capsys.readouterr()
    assert status == ExitStatus.CHANGES_PENDING
    assert "Only 'yes' is accepted" in out.err and "Apply cancelled: nothing was changed." in out.err
    assert moto.describe_alarms()["MetricAlarms"] == []
    monkeypatch.setattr("sys.stdin", FakeTty("yes\n"))
    assert main(["apply", "--spec", str(spec), "--env", "development", "--write-rate", "0"]) == ExitStatus.SUCCESS
    assert len(moto.describe_alarms()["MetricAlarms"]) == 20


def test_apply_without_yes_off_a_terminal_is_a_usage_error(moto, spec, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("yes\n"))
    status, result = run(capsys, "apply", spec)
    assert status == ExitStatus.INVALID and "--yes" in result["stderr"]
    assert moto.describe_alarms()["MetricAlarms"] == []


def test_invalid_spec_makes_no_aws_client(spec, capsys, monkeypatch):
    def refuse(**_):
        raise AssertionError("an AWS client was made for an invalid spec")

    monkeypatch.setattr(aws_module, "clients", refuse)
    spec.write_text(spec.read_text().replace("threshold: 1000", "threshold: -5"))
    for command, extra in (("plan", ()), ("apply", ("--yes",))):
        status, result = run(capsys, command, spec, *extra)
        assert status == ExitStatus.INVALID and "threshold" in result["stderr"]


def error_lines(stderr: str) -> list[str]:
    """stderr without the spec's warnings (the shipped spec warns that its runbooks are not linked yet)."""
    return [line for line in stderr.splitlines() if not line.startswith("warning: ")]


def test_missing_credentials_is_one_line_exit_3(spec, capsys, monkeypatch):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    status, result = run(capsys, "plan", spec, "--endpoint-url", "http://127.0.0.1:9")
    assert status == ExitStatus.AWS_FAILURE
    assert error_lines(result["stderr"]) == ["error: no AWS credentials found (use --profile, AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"]


# ---------------------------------------------------------------- moto server: injected faults


def server_run(capsys, endpoint: str, command: str, spec: Path, *extra: str) -> tuple[int, dict]:
    return run(capsys, command, spec, "--endpoint-url", endpoint, *extra)


def test_throttling_is_retried_by_botocore(moto_server, spec, capsys, client_hooks, no_backoff):  # noqa: F811
    seen: dict = {}

    def throttle_first_two(aws):
        counts: dict = {}

        def fail(request):
            counts[request.body] = counts.get(request.body, 0) + 1
            return counts[request.body] <= 2  # every alarm's first two attempts are throttled

        seen["failed"] = inject(aws.cloudwatch, "PutMetricAlarm", fail)

    client_hooks.append(throttle_first_two)
    status, result = server_run(capsys, moto_server, "apply", spec, "--yes")
    assert status == ExitStatus.SUCCESS
    assert len(seen["failed"]) == 40 and result["retries"] == 40
    assert result["api_calls"]["PutMetricAlarm"] == 20  # 20 calls, 60 attempts
    assert len(no_backoff) == 40 and all(0 <= s <= 20 for s in no_backoff)  # botocore backed off each time
    client_hooks.clear()
    assert server_run(capsys, moto_server, "plan", spec, "--detailed-exitcode")[0] == ExitStatus.SUCCESS


def test_partial_failure_is_reported_and_a_rerun_converges(moto_server, spec, capsys, client_hooks, no_backoff):  # noqa: F811
    client_hooks.append(lambda aws: inject(aws.cloudwatch, "PutMetricAlarm", lambda r: HEARTBEAT.encode() in r.body))
    status, result = server_run(capsys, moto_server, "apply", spec, "--yes")
    assert status == ExitStatus.AWS_FAILURE
    failed = [o for o in result["report"] if not o["ok"]]
    # The composites that name the heartbeat alarm (directly, or as their suppressor) cannot be
    # created without it: the emulator refuses them as AWS does, and they are retried with it.
    assert [o["name"] for o in failed] == [HEARTBEAT, TARGET_DOWN, *UNHEALTHY]
    assert failed[0]["error"] == "PutMetricAlarm: Throttling: Rate exceeded" and failed[0]["attempts"] == aws_module.MAX_ATTEMPTS
    assert "do not exist" in failed[1]["error"]
    assert sum(o["ok"] for o in result["report"]) == 20  # the other 19 alarms and the dashboard
    assert "4 of 24 changes failed; run apply again" in result["stderr"], result["stderr"]

    client_hooks.clear()
    status, planned = server_run(capsys, moto_server, "plan", spec, "--detailed-exitcode")
    assert status == ExitStatus.CHANGES_PENDING
    assert [(c["action"], c["name"]) for c in planned["plan"]["changes"]] == [("create", n) for n in (HEARTBEAT, TARGET_DOWN, *UNHEALTHY)]
    assert server_run(capsys, moto_server, "apply", spec, "--yes")[0] == ExitStatus.SUCCESS
    assert server_run(capsys, moto_server, "plan", spec, "--detailed-exitcode")[0] == ExitStatus.SUCCESS


def test_access_denied_is_one_line_exit_3(moto_server, spec, capsys, client_hooks):  # noqa: F811
    client_hooks.append(lambda aws: inject(aws.cloudwatch, "DescribeAlarms", lambda r: True, code="AccessDenied", message="not allowed"))
    status, result = server_run(capsys, moto_server, "plan", spec)
    assert status == ExitStatus.AWS_FAILURE
    assert error_lines(result["stderr"]) == ["error: DescribeAlarms: AccessDenied: not allowed"]


def test_without_tagging_api_tags_are_read_per_alarm(moto_server, spec, capsys, client_hooks):  # noqa: F811
    server_run(capsys, moto_server, "apply", spec, "--yes")
    client_hooks.append(lambda aws: inject(aws.tagging, "GetResources", lambda r: True, code="AccessDeniedException", message="no"))
    status, result = server_run(capsys, moto_server, "plan", spec, "--detailed-exitcode")
    assert status == ExitStatus.SUCCESS  # still converged: ownership read alarm by alarm
    assert result["api_calls"]["ListTagsForResource"] == 23
    assert "tag:GetResources is not allowed" in result["plan"]["warnings"][0]


# ---------------------------------------------------------------- paging (Stubber: moto never pages)


def _described(i: int) -> dict:
    name = f"{PREFIX}q{i:03d}-queue-depth-critical"
    return {
        "AlarmName": name,
        "AlarmArn": f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}",
        "Namespace": "Hokusai/RedisQueues",
        "MetricName": "QueueDepth",
        "Dimensions": [{"Name": "Queue", "Value": f"q{i}"}],
        "Period": 60,
        "Statistic": "Maximum",
        "EvaluationPeriods": 1,
        "Threshold": 10.0,
        "ComparisonOperator": "GreaterThanThreshold",
        "StateValue": "OK",
    }


def _desired(i: int) -> dict:
    alarm = {k: v for k, v in _described(i).items() if k not in ("AlarmArn", "StateValue")}
    alarm["Tags"] = [{"Key": TAG_SPEC, "Value": OWNER}]
    return alarm


def test_reads_page_100_at_a_time_beyond_100_alarms(aws_credentials):  # noqa: F811
    aws = aws_module.clients(region="us-east-1")
    cw, tagging = aws.cloudwatch, aws.tagging
    alarms = [_described(i) for i in range(250)]
    owned = [{"ResourceARN": a["AlarmArn"], "Tags": [{"Key": TAG_SPEC, "Value": OWNER}]} for a in alarms]
    with Stubber(cw) as cw_stub, Stubber(tagging) as tag_stub:
        for page, token in ((0, None), (1, "t1"), (2, "t2")):
            expected = {"MaxRecords": 100, "AlarmNamePrefix": PREFIX, "AlarmTypes": ["MetricAlarm", "CompositeAlarm"], **({"NextToken": token} if token else {})}
            response = {"MetricAlarms": alarms[page * 100 : page * 100 + 100], **({"NextToken": f"t{page + 1}"} if page < 2 else {})}
            cw_stub.add_response("describe_alarms", response, expected)
        for page, token in ((0, None), (1, "p1"), (2, "p2")):
            expected = {
                "TagFilters": [{"Key": TAG_SPEC, "Values": [OWNER]}],
                "ResourceTypeFilters": ["cloudwatch:alarm"],
                "ResourcesPerPage": 100,
                **({"PaginationToken": token} if token else {}),
            }
            response = {"ResourceTagMappingList": owned[page * 100 : page * 100 + 100], "PaginationToken": f"p{page + 1}" if page < 2 else ""}
            tag_stub.add_response("get_resources", response, expected)
        cw_stub.add_client_error("get_dashboard", "ResourceNotFound", expected_params={"DashboardName": "d"})
        # Any ListTagsForResource would fail here: the stubber has no response queued for it.
        live = cloudwatch.read_live(aws, [_desired(i) for i in range(250)], prefix=PREFIX, owner=OWNER, dashboard_name="d", confirm_owned=False)
        cw_stub.assert_no_pending_responses()
        tag_stub.assert_no_pending_responses()
    # The stubbers answered exactly 3 + 3 + 1 calls and would have refused any other.
    assert len(live.alarms) == 250 and live.dashboard is None
    assert plan([_desired(i) for i in range(250)], live.alarms, None, None, owner=OWNER, prune=True).converged


def test_pacer_keeps_to_the_rate():
    now = [0.0]
    slept = []

    def sleep(seconds):
        slept.append(round(seconds, 6))
        now[0] += seconds

    pacer = cloudwatch.Pacer(3, clock=lambda: now[0], sleep=sleep)
    for _ in range(4):
        pacer.wait()
    assert slept == [round(1 / 3, 6)] * 3
    unpaced = cloudwatch.Pacer(0, clock=lambda: 0.0, sleep=sleep)
    unpaced.wait()
    assert len(slept) == 3


def test_a_wall_clock_window_applied_to_the_emulator_is_not_planned_again(moto_server, spec, capsys):
    text = spec.read_text().replace(
        "      treat_missing_data: breaching\n",
        "      treat_missing_data: breaching\n      evaluation_window: wall_clock\n      timezone: Europe/Berlin\n",
    )
    spec.write_text(text)
    assert server_run(capsys, moto_server, "apply", spec, "--yes")[0] == ExitStatus.SUCCESS
    # the emulator accepted EvaluationWindow and forgot it: plan says so once, and plans nothing
    status, planned = server_run(capsys, moto_server, "plan", spec, "--detailed-exitcode")
    assert status == ExitStatus.SUCCESS, planned
    [warning] = [w for w in planned["plan"]["warnings"] if "evaluation window" in w]
    assert f"1 alarm with a wall-clock evaluation window (e.g. {HEARTBEAT}) not compared on it" in warning
