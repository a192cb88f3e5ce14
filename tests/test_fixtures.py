"""The test infrastructure itself: each server kind is what it claims to be."""

from __future__ import annotations

import os
import time

import boto3
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from monitor.local.redis_server import RedisServer, RedisServerUnavailable, free_port


def test_plain_server_is_fresh_and_has_no_persistence(redis_plain):
    client = redis_plain.client()
    assert client.dbsize() == 0
    assert client.config_get("save")["save"] == ""
    assert client.config_get("appendonly")["appendonly"] == "no"
    client.lpush("left-over", "x")  # the next test that asks for redis_plain must not see it


def test_plain_server_was_flushed_after_the_previous_test(redis_plain):
    assert redis_plain.client().exists("left-over") == 0


def test_password_server_refuses_clients_without_the_password(redis_password):
    assert redis_password.password
    with pytest.raises(redis.AuthenticationError):
        redis_password.client(password="").ping()
    with pytest.raises(redis.AuthenticationError):
        redis_password.client(password="wrong-password-1234").ping()
    assert redis_password.client().ping()


def test_tls_server_speaks_only_tls_and_is_verified_with_the_test_ca(redis_tls):
    assert redis_tls.client().ping()  # verification on (ssl_cert_reqs=required, hostname checked)
    with pytest.raises(redis.ConnectionError):
        # Verified against the system CAs instead: our test CA is not among them.
        redis.Redis(host=redis_tls.host, port=redis_tls.port, ssl=True, retry=Retry(NoBackoff(), 0)).ping()
    with pytest.raises(redis.ConnectionError):
        redis.Redis(host=redis_tls.host, port=redis_tls.port, socket_timeout=2, retry=Retry(NoBackoff(), 0)).ping()


def test_a_stopped_server_refuses_connections_and_comes_back_on_the_same_port(redis_factory):
    server = redis_factory(password="a-password-of-16+")
    port = server.port
    server.client().lpush("q", "x")
    server.stop()
    assert not server.running
    with pytest.raises(redis.ConnectionError):
        server.client().llen("q")
    server.start()
    assert server.port == port
    assert server.client().llen("q") == 0  # no persistence: the outage lost the data


def test_config_file_keeps_the_password_off_the_command_line(redis_factory):
    server = redis_factory(password="secret-password-123")
    cmdline = open(f"/proc/{server._process.pid}/cmdline", "rb").read()
    assert b"secret-password-123" not in cmdline
    assert oct((server.directory / "redis.conf").stat().st_mode & 0o777) == "0o600"


def test_missing_redis_server_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RedisServerUnavailable, match="apt-get install redis-server.*brew install redis"):
        RedisServer(directory=tmp_path).start()


def test_busy_fixed_port_is_reported_with_the_server_log(redis_plain, tmp_path):
    with pytest.raises(RedisServerUnavailable, match="Address already in use"):
        RedisServer(directory=tmp_path, port=redis_plain.port).start()


def test_hung_server_makes_clients_time_out(hung_server):
    client = redis.Redis(host=hung_server.host, port=hung_server.port, socket_timeout=0.3, retry=Retry(NoBackoff(), 0))
    started = time.monotonic()
    with pytest.raises(redis.TimeoutError):
        client.llen("q")
    assert time.monotonic() - started < 3


def test_moto_server_takes_large_uncompressed_put_metric_data(moto_server):
    assert os.environ["AWS_ENDPOINT_URL"] == moto_server
    cloudwatch = boto3.client("cloudwatch")
    # ~1000 data points is well over botocore's 10 KiB compression threshold.
    data = [{"MetricName": f"M{i}", "Value": float(i), "Unit": "Count"} for i in range(1000)]
    cloudwatch.put_metric_data(Namespace="Test", MetricData=data)
    names = {m["MetricName"] for m in cloudwatch.list_metrics(Namespace="Test")["Metrics"]}
    assert len(names) >= 500  # moto pages list_metrics at 500


def test_moto_server_is_emptied_between_tests(moto_server):
    cloudwatch = boto3.client("cloudwatch")
    assert cloudwatch.list_metrics(Namespace="Test")["Metrics"] == []


def test_mock_aws_in_process_with_dummy_credentials(mock_aws):
    assert os.environ["AWS_DEFAULT_REGION"] == "us-east-1"
    assert "AWS_ENDPOINT_URL" not in os.environ
    cloudwatch = boto3.client("cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName="a", Namespace="N", MetricName="M", Statistic="Maximum", Period=60,
        EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    assert [a["AlarmName"] for a in cloudwatch.describe_alarms()["MetricAlarms"]] == ["a"]


def test_free_port_is_bindable():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", free_port()))
