"""The collector against real redis-servers and the AWS emulator: metrics, failures as signals, no leaks."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import boto3

from monitor.collect.collector import Collector, lambda_handler
from monitor.collect.connection import open_client, resolve_settings
from monitor.errors import ExitStatus
from monitor.local import samples
from monitor.local.redis_server import free_port
from monitor.spec.load import load_spec

ROOT = Path(__file__).resolve().parent.parent
TOKEN_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def demo_spec(**environ):
    return load_spec(str(ROOT / "alarms.yaml"), env="demo", environ=environ)


def values(datums) -> dict[tuple[str, str], float]:
    return {(d["MetricName"], d["Dimensions"][1]["Value"]): d["Value"] for d in datums}


def make_collector(server, *, environ=None, cloudwatch=None, secrets=None, lines=None):
    environ = {"REDIS_HOST": server.host, "REDIS_PORT": str(server.port), "REDIS_TLS_ENABLED": "false", **(environ or {})}
    if "REDIS_AUTH_TOKEN_SECRET_ARN" not in environ and "REDIS_AUTH_TOKEN" not in environ:
        environ["REDIS_AUTH_TOKEN"] = server.password or ""
    spec = demo_spec()
    return Collector(
        spec,
        spec.environment("demo"),
        environ=environ,
        cloudwatch=cloudwatch,
        secrets_factory=(lambda: secrets) if secrets else None,
        emit=(lines.append if lines is not None else (lambda line: None)),
    )


def test_reads_the_hokusai_queues_and_publishes_their_metrics(redis_password, mock_aws):
    now = time.time()
    samples.seed_hokusai(redis_password.client(), now, backlog=1500, oldest_age=900, in_flight=2, dead_letters=3, mint=4)
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    lines: list[str] = []
    summary = make_collector(redis_password, cloudwatch=cloudwatch, lines=lines).run()
    assert summary.connection_failure == 0 and summary.failure is None
    assert summary.queues_read == 2 and summary.put_requests == 1
    published = {(m["MetricName"], m["Dimensions"][-1]["Value"]) for m in cloudwatch.list_metrics(Namespace="Hokusai/RedisQueues")["Metrics"]}
    assert ("QueueDepth", samples.MODEL_READY) in published and ("ConnectionFailure", "primary") in published
    log = json.loads(lines[-1])
    assert log["event"] == "queue_metrics_collection" and log["queues_read"] == 2 and log["connection_failure"] == 0


def test_metric_values_for_every_queue(redis_password):
    now = time.time()
    samples.seed_hokusai(redis_password.client(), now, backlog=1500, oldest_age=900, in_flight=2, dead_letters=3, mint=4, mint_in_flight=1, mint_retrying=2)
    collector = make_collector(redis_password)
    collector.run()
    got = values(collector.last_datums)
    assert got[("QueueDepth", samples.MODEL_READY)] == 1500
    assert got[("InFlightDepth", samples.MODEL_READY)] == 2
    assert got[("DeadLetterDepth", samples.MODEL_READY)] == 3
    assert 895 <= got[("OldestMessageAgeSeconds", samples.MODEL_READY)] <= 905
    assert ("MessageParseErrors", samples.MODEL_READY) not in got  # 0: published only when not 0
    assert ("QueueReadErrors", samples.MODEL_READY) not in got  # 0: published only when not 0
    assert got[("QueueDepth", samples.MINT)] == 4
    assert got[("DeadLetterDepth", samples.MINT)] == 0
    assert 15 <= got[("OldestMessageAgeSeconds", samples.MINT)] <= 25
    assert got[("InFlightDepth", samples.MINT)] == 1  # the consumer's processing list
    assert got[("DelayedTotal", samples.MINT_RETRY)] == 2  # its retry set, none due yet
    assert got[("DelayedOverdue", samples.MINT_RETRY)] == 0
    assert got[("ConnectionFailure", "primary")] == 0 and got[("CollectorHeartbeat", "primary")] == 1
    stamps = {d["Timestamp"] for d in collector.last_datums}
    assert len(stamps) == 1  # one collection time for every point


def test_empty_queue_has_age_zero_and_wrong_type_is_an_error_metric(redis_password):
    client = redis_password.client()
    client.set(samples.MINT, "not a list")
    collector = make_collector(redis_password)
    summary = collector.run()
    got = values(collector.last_datums)
    assert got[("QueueDepth", samples.MODEL_READY)] == 0 and got[("OldestMessageAgeSeconds", samples.MODEL_READY)] == 0
    assert ("QueueDepth", samples.MINT) not in got  # not silently 0
    assert got[("QueueReadErrors", samples.MINT)] == 1 and summary.wrong_type_keys == 1
    assert summary.connection_failure == 0


def test_unparseable_message_gives_no_age_and_a_parse_error(redis_password):
    redis_password.client().lpush(samples.MODEL_READY, "this is not json")
    collector = make_collector(redis_password)
    collector.run()
    got = values(collector.last_datums)
    assert ("OldestMessageAgeSeconds", samples.MODEL_READY) not in got
    assert got[("MessageParseErrors", samples.MODEL_READY)] == 1 and got[("QueueDepth", samples.MODEL_READY)] == 1


def test_tls_with_the_test_ca(redis_tls):
    redis_tls.client().lpush(samples.MINT, samples.mint_request(time.time() - 60, 1))
    collector = make_collector(redis_tls, environ={"REDIS_TLS_ENABLED": "true", "REDIS_CA_BUNDLE": str(redis_tls.ca_path), "REDIS_HOST": "127.0.0.1"})
    summary = collector.run()
    assert summary.connection_failure == 0, summary.failure
    assert values(collector.last_datums)[("QueueDepth", samples.MINT)] == 1


def test_tls_without_the_ca_is_a_tls_failure(redis_tls):
    summary = make_collector(redis_tls, environ={"REDIS_TLS_ENABLED": "true"}).run()
    assert (summary.connection_failure, summary.failure_reason) == (1, "tls")


def test_bare_host_redis_url_as_hokusai_config_reads_it(redis_password, redis_tls):
    """REDIS_URL without a scheme: the host; TLS from REDIS_TLS_ENABLED, port from REDIS_PORT, token from REDIS_AUTH_TOKEN."""
    redis_password.client().lpush(samples.MINT, samples.mint_request(time.time() - 60, 1))
    environ = {"REDIS_URL": "127.0.0.1", "REDIS_HOST": "", "REDIS_PORT": str(redis_password.port), "REDIS_TLS_ENABLED": "false"}
    collector = make_collector(redis_password, environ={**environ, "REDIS_AUTH_TOKEN": redis_password.password})
    summary = collector.run()
    assert summary.connection_failure == 0, summary.failure
    assert values(collector.last_datums)[("QueueDepth", samples.MINT)] == 1
    # The same value with TLS on reaches the TLS-only server (its certificate names localhost).
    redis_tls.client().lpush(samples.MINT, samples.mint_request(time.time() - 60, 2))
    tls_env = {"REDIS_URL": "localhost", "REDIS_PORT": str(redis_tls.port), "REDIS_TLS_ENABLED": "true", "REDIS_CA_BUNDLE": str(redis_tls.ca_path)}
    collector = make_collector(redis_tls, environ=tls_env)
    summary = collector.run()
    assert summary.connection_failure == 0, summary.failure
    assert values(collector.last_datums)[("QueueDepth", samples.MINT)] == 1


def test_tls_client_against_a_plain_server_is_a_tls_failure(redis_plain):
    # The plain server never answers the ClientHello (unless it happens to hold a newline, when it
    # answers -ERR and the handshake fails at once); it answers a plain-text PING, so: tls.
    for _ in range(3):
        summary = make_collector(redis_plain, environ={"REDIS_TLS_ENABLED": "true"}).run()
        assert (summary.connection_failure, summary.failure_reason) == (1, "tls"), summary.failure


def test_tls_client_against_a_hung_server_is_a_timeout(hung_server):
    # The handshake times out as against a plain-text server, but nothing answers plain text either.
    summary = make_collector(hung_server, environ={"REDIS_TLS_ENABLED": "true", "REDIS_AUTH_TOKEN": "x" * 20}).run()
    assert (summary.connection_failure, summary.failure_reason) == (1, "timeout"), summary.failure


def test_acl_user_with_only_read_commands(redis_acl):
    redis_acl.admin().lpush(samples.MODEL_READY, samples.model_ready_envelope(time.time() - 30, "m-1"))
    for user in (redis_acl.reader, redis_acl.reader_noscript):
        collector = make_collector(redis_acl.server, environ={"REDIS_USERNAME": user.name, "REDIS_AUTH_TOKEN": user.password})
        summary = collector.run()
        assert summary.connection_failure == 0, summary.failure
        assert values(collector.last_datums)[("QueueDepth", samples.MODEL_READY)] == 1


def test_token_from_secrets_manager_fetched_once_and_refreshed_after_rotation(redis_factory, mock_aws):
    server = redis_factory(password="first-token-abcdefghijklmnop")
    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    arn = secrets.create_secret(Name="demo/redis", SecretString="first-token-abcdefghijklmnop")["ARN"]
    collector = make_collector(server, environ={"REDIS_AUTH_TOKEN_SECRET_ARN": arn}, secrets=secrets)
    assert collector.run().connection_failure == 0
    assert collector.run().connection_failure == 0
    assert collector._provider.fetches == 1  # cached per container
    # Rotation: the server and the secret move to a new token; the cached one is now wrong.
    server.client().config_set("requirepass", "second-token-abcdefghijklmno")
    secrets.put_secret_value(SecretId=arn, SecretString="second-token-abcdefghijklmno")
    summary = collector.run()
    assert summary.connection_failure == 0, summary.failure
    assert collector._provider.fetches == 2


def test_wrong_token_fails_cleanly_after_one_refetch(redis_password, mock_aws):
    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    arn = secrets.create_secret(Name="demo/wrong", SecretString="wrong-token-0123456789abcdef")["ARN"]
    collector = make_collector(redis_password, environ={"REDIS_AUTH_TOKEN_SECRET_ARN": arn}, secrets=secrets)
    summary = collector.run()
    assert (summary.connection_failure, summary.failure_reason) == (1, "auth")
    assert collector._provider.fetches == 2
    assert values(collector.last_datums) == {("ConnectionFailure", "primary"): 1, ("CollectorHeartbeat", "primary"): 1, ("CollectionDuration", "primary"): summary.duration_ms}


def test_refused_connection_is_a_signal(redis_factory):
    server = redis_factory()
    server.stop()
    summary = make_collector(server).run()
    assert (summary.connection_failure, summary.failure_reason) == (1, "refused")


def test_hung_server_is_given_up_on_with_the_configured_timeouts(hung_server, redis_plain):
    spec = demo_spec()
    environ = {"REDIS_HOST": hung_server.host, "REDIS_PORT": str(hung_server.port), "REDIS_AUTH_TOKEN": "x" * 20}
    summary = Collector(spec, spec.environment("demo"), environ=environ, emit=lambda line: None).run()
    # The server accepts the connection and never answers AUTH: the read times out, and that is the end.
    assert (summary.connection_failure, summary.failure_reason) == (1, "timeout")
    assert "Timeout reading" in summary.failure, summary.failure
    # The client the collector opens uses the spec's timeouts on its socket and does not retry.
    plain = {"REDIS_HOST": redis_plain.host, "REDIS_PORT": str(redis_plain.port), "REDIS_TLS_ENABLED": "false"}
    client = open_client(resolve_settings(spec.environment("demo"), spec.collector, plain), None)
    try:
        assert client.connection_pool.connection_kwargs["socket_connect_timeout"] == spec.collector.connect_timeout_seconds
        assert client.connection._sock.gettimeout() == spec.collector.read_timeout_seconds
        assert client.connection.retry.get_retries() == 0
    finally:
        client.close()


def test_dns_failure_is_a_signal():
    # A name no host may have (a space): the resolver refuses it without asking any DNS server.
    spec = demo_spec()
    collector = Collector(spec, spec.environment("demo"), environ={"REDIS_HOST": "no such host", "REDIS_AUTH_TOKEN": "x" * 20}, emit=lambda line: None)
    summary = collector.run()
    assert (summary.connection_failure, summary.failure_reason) == (1, "dns")


def test_bad_configuration_is_a_signal_not_a_crash():
    spec = demo_spec()
    collector = Collector(spec, spec.environment("demo"), environ={"REDIS_PORT": "not-a-port"}, emit=lambda line: None)
    summary = collector.run()
    assert (summary.connection_failure, summary.failure_reason) == (1, "config")
    assert "REDIS_PORT" in summary.failure


def test_the_token_never_appears_in_any_output(redis_password, hung_server, capsys, caplog, mock_aws):
    token = redis_password.password
    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    wrong = "WRONG-" + token
    arn = secrets.create_secret(Name="demo/leak", SecretString=wrong)["ARN"]
    lines: list[str] = []
    runs = [
        make_collector(redis_password, environ={"REDIS_AUTH_TOKEN": wrong}, lines=lines),
        make_collector(redis_password, environ={"REDIS_AUTH_TOKEN_SECRET_ARN": arn}, secrets=secrets, lines=lines),
        make_collector(redis_password, environ={"REDIS_URL": f"redis://:{wrong}@127.0.0.1:{free_port()}/0"}, lines=lines),
        make_collector(redis_password, environ={"REDIS_URL": f"redis://:{wrong}@{hung_server.host}:{hung_server.port}/0"}, lines=lines),
        make_collector(redis_password, lines=lines),  # the right token: success path too
    ]
    texts = []
    for collector in runs:
        summary = collector.run()
        texts += [repr(collector), repr(summary), str(summary.__dict__), json.dumps(collector.last_datums, default=str), repr(collector._provider)]
    captured = capsys.readouterr()
    texts += lines + [captured.out, captured.err, caplog.text]
    blob = "\n".join(texts)
    assert "auth" in blob  # the failure paths ran
    for secret in (token, wrong):
        assert secret not in blob


def test_collection_never_changes_a_queue(redis_password):
    client = redis_password.client()
    samples.seed_hokusai(client, time.time(), backlog=50)
    before = {key: client.dump(key) for key in client.keys("*")}
    collector = make_collector(redis_password)
    for _ in range(5):
        collector.run()
    after = {key: client.dump(key) for key in client.keys("*")}
    assert before == after and len(before) == 4  # queue, processing, dlq, mint
    stats = client.info("commandstats")
    writes = [name for name in stats if any(w in name for w in ("push", "pop", "del", "set", "move", "rem", "trim")) and "config" not in name]
    assert writes == ["cmdstat_lpush"]  # only the seeding above


def test_patterns_give_max_keys_queues_metrics_and_aggregate_all_matches(redis_plain, tmp_path):
    spec_text = (ROOT / "alarms.yaml").read_text() + "\npatterns:\n  - pattern: tenant:*:jobs\n    dead_letter: '{key}:dlq'\n    max_keys: 5\n"
    spec_path = tmp_path / "alarms.yaml"
    spec_path.write_text(spec_text)
    client = redis_plain.client()
    for i in range(12):
        client.lpush(f"tenant:{i}:jobs", samples.mint_request(time.time() - 10, i))
    client.lpush("tenant:1:jobs:dlq", "x")
    spec = load_spec(str(spec_path), env="demo", environ={})
    collector = Collector(
        spec, spec.environment("demo"), environ={"REDIS_HOST": redis_plain.host, "REDIS_PORT": str(redis_plain.port), "REDIS_AUTH_TOKEN": ""}, emit=lambda line: None
    )
    summary = collector.run()
    assert summary.connection_failure == 0, summary.failure
    got = values(collector.last_datums)
    tenants = {q for (m, q) in got if m == "QueueDepth" and q.startswith("tenant:")}
    assert tenants == {f"tenant:{i}:jobs" for i in (0, 1, 10, 11, 2)}  # the first max_keys in key order
    assert summary.keys_aggregated_only == 7 and not summary.discovery_truncated
    assert got[("DiscoveredQueues", "primary")] == 12  # every match is counted and read
    assert got[("PatternQueueCount", "tenant:*:jobs")] == 12
    assert got[("PatternDepthSum", "tenant:*:jobs")] == 12 and got[("PatternDepthMax", "tenant:*:jobs")] == 1
    assert 5 <= got[("PatternOldestAgeMaxSeconds", "tenant:*:jobs")] <= 15


def test_lambda_handler_publishes_over_http(redis_password, moto_server):
    secrets = boto3.client("secretsmanager", region_name="us-east-1", endpoint_url=moto_server)
    arn = secrets.create_secret(Name="demo/lambda", SecretString=redis_password.password)["ARN"]
    samples.seed_hokusai(redis_password.client(), time.time(), backlog=10)
    environ = {
        "MONITOR_ENV": "demo",
        "DEMO_REDIS_PORT": str(redis_password.port),
        "DEMO_REDIS_SECRET_ARN": arn,
        "AWS_REGION": "us-east-1",
    }
    result = lambda_handler({}, None, environ=environ)
    assert result["connection_failure"] == 0 and result["queues_read"] == 2
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1", endpoint_url=moto_server)
    names = {m["MetricName"] for m in cloudwatch.list_metrics(Namespace="Hokusai/RedisQueues")["Metrics"]}
    assert {"QueueDepth", "OldestMessageAgeSeconds", "ConnectionFailure", "CollectorHeartbeat"} <= names


def test_collect_command_once(redis_password, moto_server):
    env = {
        "DEMO_REDIS_PORT": str(redis_password.port),
        "REDIS_AUTH_TOKEN": redis_password.password,
        "AWS_ENDPOINT_URL": moto_server,
        "AWS_DISABLE_REQUEST_COMPRESSION": "true",
        **TOKEN_ENV,
    }
    import os

    run = subprocess.run(
        [sys.executable, "-m", "monitor", "collect", "--once", "--env", "demo"], cwd=ROOT, capture_output=True, text=True, env={**os.environ, **env}, timeout=60
    )
    assert run.returncode == ExitStatus.SUCCESS, run.stderr
    assert json.loads(run.stdout.strip().splitlines()[-1])["connection_failure"] == 0
    redis_password.stop()
    run = subprocess.run(
        [sys.executable, "-m", "monitor", "collect", "--once", "--env", "demo"], cwd=ROOT, capture_output=True, text=True, env={**os.environ, **env}, timeout=60
    )
    assert run.returncode == ExitStatus.REDIS_FAILURE
    assert "Traceback" not in run.stderr and redis_password.password not in run.stdout + run.stderr
    assert json.loads(run.stdout.strip().splitlines()[-1])["failure_reason"] == "refused"


def test_acl_user_missing_a_needed_command_is_an_auth_failure(redis_acl):
    admin = redis_acl.admin()
    admin.acl_setuser("llen-only", enabled=True, passwords=["+llen-only-password-123456"], keys=["~*"], commands=["-@all", "+llen"])
    admin.lpush(samples.MODEL_READY, samples.model_ready_envelope(time.time() - 30, "m-1"))
    collector = make_collector(redis_acl.server, environ={"REDIS_USERNAME": "llen-only", "REDIS_AUTH_TOKEN": "llen-only-password-123456"})
    summary = collector.run()
    assert (summary.connection_failure, summary.failure_reason) == (1, "auth")
    assert "lindex" in summary.failure.lower() or "noperm" in summary.failure.lower()
