"""provision-alarms verify against a real redis-server and moto: every check passing, then each failing."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from monitor.cloudwatch.api import put_alarms
from monitor.cloudwatch.alarms import composite_children, render_alarms
from monitor.cloudwatch.clients import clients
from monitor.cloudwatch.dashboard import render_dashboard
from monitor.commands import verify
from monitor.commands.cli import main
from monitor.commands.verify import Status
from monitor.errors import ExitStatus
from monitor.spec import metrics
from monitor.spec.load import load_spec

ROOT = Path(__file__).resolve().parent.parent
SPEC = str(ROOT / "alarms.yaml")
REGION = "us-east-1"


class Deployment:
    """The demo environment as `apply` and a running collector would leave it, for one test to break."""

    def __init__(self, redis_server, *, secret_value: str | None = None):
        self.redis = redis_server
        self.password = redis_server.password
        self.secret_arn = boto3.client("secretsmanager").create_secret(
            Name="demo/redis/auth-token", SecretString=secret_value or self.password
        )["ARN"]
        self.environ = {"DEMO_REDIS_PORT": str(redis_server.port), "DEMO_REDIS_SECRET_ARN": self.secret_arn}
        self.spec = load_spec(SPEC, env="demo", environ=self.environ)
        self.env = self.spec.environment("demo")
        self.cloudwatch = boto3.client("cloudwatch")

    def apply(self) -> Deployment:
        put_alarms(self.cloudwatch, render_alarms(self.spec, self.env))
        name, body = render_dashboard(self.spec, self.env)
        self.cloudwatch.put_dashboard(DashboardName=name, DashboardBody=json.dumps(body))
        return self

    def collector_ran(self, *, connection_failure: int = 0) -> Deployment:
        now = datetime.now(timezone.utc)
        data = [
            {"MetricName": m.name, "Dimensions": m.dimensions("demo", "primary"), "Timestamp": now, "Value": value, "Unit": m.unit.value}
            for m, value in ((metrics.COLLECTOR_HEARTBEAT, 1), (metrics.CONNECTION_FAILURE, connection_failure))
        ]
        self.cloudwatch.put_metric_data(Namespace=self.spec.namespace, MetricData=data)
        return self

    def seed(self) -> Deployment:
        admin = self.redis.client()
        admin.lpush("hokusai:model_ready_queue", "a", "b")
        admin.lpush("hokusai:mint_requests", "c")
        return self

    def checks(self, **environ) -> list[verify.Check]:
        return verify.run_checks(self.spec, self.env, clients(region=REGION).client, environ={**self.environ, **environ})


def by_name(checks, name: str, subject: str | None = None) -> list[verify.Check]:
    return [c for c in checks if c.name == name and (subject is None or c.subject == subject)]


def failed(checks) -> list[tuple[str, str]]:
    return [(c.name, c.subject) for c in checks if c.status is Status.FAIL]


@pytest.fixture
def deployment(redis_password, mock_aws) -> Deployment:
    return Deployment(redis_password).apply().collector_ran().seed()


def test_a_complete_deployment_passes_every_check(deployment):
    checks = deployment.checks()
    assert failed(checks) == []
    assert verify.exit_status(checks) is ExitStatus.SUCCESS
    assert by_name(checks, "secret")[0].status is Status.PASS
    redis_check = by_name(checks, "redis")[0]
    assert redis_check.status is Status.PASS and "no TLS, AUTH with the token" in redis_check.detail
    assert by_name(checks, "queue key", "hokusai:model_ready_queue")[0].detail == "list, depth 2"
    assert by_name(checks, "processing key", "hokusai:model_ready_queue:processing")[0].detail == "empty (key absent)"
    assert len(by_name(checks, "alarm")) == len(render_alarms(deployment.spec, deployment.env))
    assert {c.status for c in by_name(checks, "alarm")} == {Status.PASS}
    assert by_name(checks, "collector running")[0].status is Status.PASS
    assert by_name(checks, "collector reaches redis")[0].status is Status.PASS
    assert by_name(checks, "dashboard")[0].status is Status.PASS
    elasticache = by_name(checks, "elasticache")[0]
    assert elasticache.status is Status.SKIPPED and "127.0.0.1" in elasticache.detail


def test_wrong_password_fails_redis_and_skips_the_keys(redis_password, mock_aws):
    wrong = "wrong-password-0123456789"
    deployment = Deployment(redis_password, secret_value=wrong).apply().collector_ran()
    checks = deployment.checks()
    redis_check = by_name(checks, "redis")[0]
    assert redis_check.status is Status.FAIL and redis_check.detail.startswith("auth:")
    assert by_name(checks, "queue keys")[0].status is Status.SKIPPED
    assert verify.exit_status(checks) is ExitStatus.CHECK_FAILED
    text = verify.render_table(checks, spec=deployment.spec, env=deployment.env)
    assert wrong not in text and redis_password.password not in text


def test_unreadable_secret_fails_and_skips_redis(deployment):
    missing = deployment.secret_arn.replace("auth-token", "no-such-token")
    checks = deployment.checks(REDIS_AUTH_TOKEN_SECRET_ARN=missing)
    assert failed(checks) == [("secret", missing)]
    assert "ResourceNotFoundException" in by_name(checks, "secret")[0].detail
    assert by_name(checks, "redis")[0].status is Status.SKIPPED


def test_a_key_of_the_wrong_type_fails(deployment):
    deployment.redis.client().set("hokusai:mint_requests:dlq", "not a list")
    checks = deployment.checks()
    assert failed(checks) == [("dead letter key", "hokusai:mint_requests:dlq")]
    assert by_name(checks, "dead letter key")[-1].detail.startswith("a string, not a list")


def test_a_missing_alarm_fails(deployment):
    alarms = render_alarms(deployment.spec, deployment.env)
    named = {child for alarm in alarms for child in composite_children(alarm)}  # AWS refuses to delete those
    victim = next(a["AlarmName"] for a in alarms if a["AlarmName"] not in named)
    deployment.cloudwatch.delete_alarms(AlarmNames=[victim])
    checks = deployment.checks()
    assert failed(checks) == [("alarm", victim)]
    assert "missing" in by_name(checks, "alarm", victim)[0].detail


def test_an_alarm_with_other_actions_or_actions_disabled_fails(deployment):
    first, second = render_alarms(deployment.spec, deployment.env)[:2]
    deployment.cloudwatch.put_metric_alarm(**{**first, "AlarmActions": ["arn:aws:sns:us-east-1:123456789012:somewhere-else"]})
    deployment.cloudwatch.put_metric_alarm(**{**second, "ActionsEnabled": False})
    checks = deployment.checks()
    assert failed(checks) == sorted([("alarm", first["AlarmName"]), ("alarm", second["AlarmName"])])
    assert "somewhere-else" in by_name(checks, "alarm", first["AlarmName"])[0].detail
    assert "actions disabled" in by_name(checks, "alarm", second["AlarmName"])[0].detail


def test_a_missing_dashboard_fails(deployment):
    name = by_name(deployment.checks(), "dashboard")[0].subject
    deployment.cloudwatch.delete_dashboards(DashboardNames=[name])
    checks = deployment.checks()
    assert failed(checks) == [("dashboard", name)]


def test_no_heartbeat_fails_collector_running(redis_password, mock_aws):
    deployment = Deployment(redis_password).apply().seed()  # the collector never ran
    checks = deployment.checks()
    assert [name for name, _ in failed(checks)] == ["collector running"]
    assert "CollectorHeartbeat" in by_name(checks, "collector running")[0].detail
    assert by_name(checks, "collector reaches redis")[0].status is Status.SKIPPED


def test_a_collector_that_cannot_reach_redis_fails(redis_password, mock_aws):
    deployment = Deployment(redis_password).apply().collector_ran(connection_failure=1).seed()
    checks = deployment.checks()
    assert [name for name, _ in failed(checks)] == ["collector reaches redis"]


def test_heartbeat_window_follows_the_schedule():
    assert verify.schedule_interval("rate(5 minutes)").total_seconds() == 300
    assert verify.schedule_interval("rate(1 hour)").total_seconds() == 3600
    assert verify.schedule_interval("cron(0/5 * * * ? *)") is None


# ---------------------------------------------------------------- ElastiCache


def _group(elasticache, name: str, **kwargs) -> str:
    group = elasticache.create_replication_group(
        ReplicationGroupId=name, ReplicationGroupDescription=name, Engine="redis", CacheNodeType="cache.t3.micro", **kwargs
    )["ReplicationGroup"]
    return group["NodeGroups"][0]["PrimaryEndpoint"]["Address"]


@pytest.mark.usefixtures("mock_aws")
def test_elasticache_encryption_and_auth_are_checked():
    elasticache = boto3.client("elasticache")
    secure = _group(elasticache, "secure", TransitEncryptionEnabled=True, AtRestEncryptionEnabled=True, AuthToken="a" * 32)
    plain = _group(elasticache, "plain")
    good = verify.check_elasticache(elasticache, secure)
    assert (good.status, good.subject) == (Status.PASS, "secure")
    bad = verify.check_elasticache(elasticache, plain.upper())  # DNS names compare case-insensitively
    assert bad.status is Status.FAIL
    assert bad.detail == "not enabled: in-transit encryption (TLS), at-rest encryption, AUTH (no auth token and no RBAC user group)"


def test_elasticache_without_permission_is_skipped():
    elasticache = boto3.client("elasticache", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(elasticache) as stub:
        stub.add_client_error("describe_replication_groups", service_error_code="AccessDenied", http_status_code=403)
        check = verify.check_elasticache(elasticache, "master.example.cache.amazonaws.com")
    assert check.status is Status.SKIPPED and "AccessDenied" in check.detail


# ---------------------------------------------------------------- the command


def _run_cli(deployment, monkeypatch, capsys, *extra) -> tuple[ExitStatus, str]:
    for name, value in deployment.environ.items():
        monkeypatch.setenv(name, value)
    status = main(["verify", "--spec", SPEC, "--env", "demo", "--region", REGION, *extra])
    out, err = capsys.readouterr()
    assert deployment.password not in out + err
    return status, out


def test_command_prints_a_table_and_exits_0(deployment, monkeypatch, capsys):
    status, out = _run_cli(deployment, monkeypatch, capsys)
    assert status is ExitStatus.SUCCESS
    lines = out.splitlines()
    assert lines[1].split() == ["CHECK", "SUBJECT", "RESULT", "DETAIL"]
    assert any(line.startswith("redis ") and " PASS " in line for line in lines)
    assert lines[-1].endswith("0 failed, 1 skipped")


def test_command_json_and_exit_6_on_a_failed_check(deployment, monkeypatch, capsys):
    deployment.redis.client().set("hokusai:model_ready_queue", "x")
    status, out = _run_cli(deployment, monkeypatch, capsys, "--output", "json")
    assert status is ExitStatus.CHECK_FAILED == 6
    report = json.loads(out)
    assert report["ok"] is False and report["counts"]["fail"] == 1
    assert {"check": "queue key", "subject": "hokusai:model_ready_queue", "status": "fail"}.items() <= next(
        c for c in report["checks"] if c["status"] == "fail"
    ).items()


def test_the_collectors_least_acl_user_passes_without_ping_or_type(redis_acl, mock_aws):
    reader = redis_acl.reader
    deployment = Deployment(redis_acl.server, secret_value=reader.password).apply().collector_ran()
    admin = redis_acl.admin()
    admin.lpush("hokusai:model_ready_queue", "a")
    admin.set("hokusai:mint_requests:dlq", "not a list")
    checks = deployment.checks(REDIS_USERNAME=reader.name)
    assert by_name(checks, "redis")[0].status is Status.PASS
    assert "may not PING" in by_name(checks, "redis")[0].detail
    assert by_name(checks, "queue key", "hokusai:model_ready_queue")[0].detail == "list, depth 1"
    assert by_name(checks, "queue key", "hokusai:mint_requests")[0].detail == "empty (key absent)"
    assert failed(checks) == [("dead letter key", "hokusai:mint_requests:dlq")]
    assert by_name(checks, "dead letter key", "hokusai:mint_requests:dlq")[0].detail.startswith("WRONGTYPE, not a list")


def test_preset_keys_are_checked_against_the_type_their_part_expects(tmp_path, redis_plain):
    from tests.test_spec import write
    from tests.test_spec_presets import SPEC as PRESETS

    spec = load_spec(write(tmp_path, PRESETS), environ={})
    client = redis_plain.client()
    client.rpush("rq:queue:default", "job-1")
    client.zadd("rq:failed:default", {"job-0": 1})
    client.rpush("rq:wip:default", "oops")  # RQ keeps a sorted set here
    checks = {(c.name, c.subject): c for c in verify.check_queue_keys(client, spec)}
    assert checks[("queue key", "rq:queue:default")].status is Status.PASS
    assert checks[("dead letter key", "rq:failed:default")].status is Status.PASS
    assert checks[("processing key", "rq:wip:default")].detail == "a list, not a zset: the collector cannot read it (QueueReadErrors)"
    assert checks[("delayed key", "rq:scheduled:default")].detail == "empty (key absent)"
    assert [k for (_, k), c in checks.items() if c.status is Status.FAIL] == ["rq:wip:default"]
