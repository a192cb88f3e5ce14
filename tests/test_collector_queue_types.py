"""The collector with streams and delayed sets, against real redis-servers: one run reads every shape."""

from __future__ import annotations

import json
import textwrap
import time

from monitor.collect.collector import Collector
from monitor.spec.load import load_spec

SPEC = """\
version: 1
namespace: Test/Queues
name_prefix: tq
collector: {publish: PUBLISH}
environments:
  dev:
    redis: {host: 127.0.0.1, port: 6379, tls: false}
queues:
  - key: jobs
streams:
  - key: orders
    groups: [billing, refunds]
    alarms:
      consumer_group_lag:
        critical: {threshold: 100}
      stuck_pending:
        warning: {threshold: 300}
  - key: audit
delayed:
  - key: scheduled
    alarms:
      delayed_overdue:
        critical: {threshold: 0, evaluation_periods: 3}
  - key: scheduled:ms
    score_unit: milliseconds
"""


def make_collector(tmp_path, server, *, publish="put_metric_data", lines=None, username=None, password=None):
    path = tmp_path / "alarms.yaml"
    path.write_text(textwrap.dedent(SPEC.replace("PUBLISH", publish)))
    spec = load_spec(str(path), environ={})
    environ = {
        "REDIS_HOST": server.host,
        "REDIS_PORT": str(server.port),
        "REDIS_TLS_ENABLED": "false",
        "REDIS_AUTH_TOKEN": password if password is not None else (server.password or ""),
        **({"REDIS_USERNAME": username} if username else {}),
    }
    return Collector(spec, spec.environment("dev"), environ=environ, emit=(lines.append if lines is not None else (lambda line: None)))


def seed(client, now: float) -> None:
    client.lpush("jobs", json.dumps({"timestamp": now - 5}))
    for n in range(4):
        client.xadd("orders", {"n": n})
    client.xgroup_create("orders", "billing", id="0")
    client.xreadgroup("billing", "worker", {"orders": ">"}, count=1)
    client.xadd("audit", {"n": 1})
    client.xgroup_create("audit", "archiver", id="0")
    client.zadd("scheduled", {"due": now - 120, "later": now + 3600})
    client.zadd("scheduled:ms", {"due": (now - 1) * 1000, "later": (now + 60) * 1000})


def by_dims(datums) -> dict[tuple, float]:
    return {(d["MetricName"], *(x["Value"] for x in d["Dimensions"][1:])): d["Value"] for d in datums}


def test_one_run_publishes_lists_streams_groups_and_delayed_sets(redis_password, tmp_path):
    seed(redis_password.client(), time.time())
    collector = make_collector(tmp_path, redis_password)
    collector.run()  # loads the list script into the cache
    summary = collector.run()
    assert summary.connection_failure == 0, summary.failure
    assert (summary.queues_read, summary.streams_read, summary.delayed_read) == (1, 2, 2)
    got = by_dims(collector.last_datums)
    assert got[("QueueDepth", "jobs")] == 1
    assert got[("StreamLength", "orders")] == 4
    assert got[("ConsumerGroupLag", "orders", "billing")] == 3
    assert got[("ConsumerGroupPending", "orders", "billing")] == 1
    assert 0 <= got[("OldestPendingIdleSeconds", "orders", "billing")] < 10
    assert got[("QueueReadErrors", "orders")] == 1  # 'refunds' is listed but does not exist
    assert got[("ConsumerGroupLag", "audit", "archiver")] == 1  # no list: every group is measured
    assert (got[("DelayedTotal", "scheduled")], got[("DelayedOverdue", "scheduled")]) == (2, 1)
    assert (got[("DelayedTotal", "scheduled:ms")], got[("DelayedOverdue", "scheduled:ms")]) == (2, 1)
    assert got[("ConnectionFailure", "primary")] == 0
    # Lists: one script call; streams and sets: phase one, then phase two (billing has a pending entry).
    assert summary.round_trips == 3
    alarm_dims = {("ConsumerGroupLag", "orders", "billing"), ("OldestPendingIdleSeconds", "orders", "billing"), ("DelayedOverdue", "scheduled")}
    assert alarm_dims <= set(got)  # what the rendered alarms watch is published


def test_wrong_types_are_read_errors_and_the_run_goes_on(redis_password, tmp_path):
    client = redis_password.client()
    client.set("orders", "not a stream")
    client.lpush("scheduled", "not a sorted set")
    client.lpush("jobs", json.dumps({"timestamp": time.time()}))
    collector = make_collector(tmp_path, redis_password)
    summary = collector.run()
    got = by_dims(collector.last_datums)
    assert summary.connection_failure == 0 and summary.wrong_type_keys == 2
    assert got[("QueueReadErrors", "orders")] == 1 and got[("QueueReadErrors", "scheduled")] == 1
    assert ("StreamLength", "orders") not in got and ("DelayedTotal", "scheduled") not in got  # never silently 0
    assert got[("QueueDepth", "jobs")] == 1 and got[("StreamLength", "audit")] == 0


def test_emf_lines_carry_the_consumer_group_dimension(redis_password, tmp_path):
    seed(redis_password.client(), time.time())
    lines: list[str] = []
    make_collector(tmp_path, redis_password, publish="emf", lines=lines).run()
    records = [json.loads(line) for line in lines if line.startswith('{"_aws"')]
    billing = [r for r in records if r.get("ConsumerGroup") == "billing"]
    assert len(billing) == 1
    directive = billing[0]["_aws"]["CloudWatchMetrics"][0]
    assert directive["Dimensions"] == [["Environment", "Queue", "ConsumerGroup"]]
    assert {m["Name"] for m in directive["Metrics"]} == {"ConsumerGroupLag", "ConsumerGroupPending", "OldestPendingIdleSeconds"}
    assert billing[0]["Queue"] == "orders" and billing[0]["ConsumerGroupLag"] == 3


def test_acl_reader_user_reads_every_shape(redis_acl, tmp_path):
    seed(redis_acl.admin(), time.time())
    for user in (redis_acl.reader, redis_acl.reader_noscript):
        collector = make_collector(tmp_path, redis_acl.server, username=user.name, password=user.password)
        summary = collector.run()
        assert summary.connection_failure == 0, summary.failure
        got = by_dims(collector.last_datums)
        assert got[("ConsumerGroupPending", "orders", "billing")] == 1 and got[("DelayedOverdue", "scheduled")] == 1


def test_a_user_without_the_stream_commands_is_a_connection_signal(redis_acl, tmp_path):
    admin = redis_acl.admin()
    seed(admin, time.time())
    admin.acl_setuser("lists-only", enabled=True, passwords=["+lists-only-password"], keys=["%R~*"], commands=["-@all", "+llen", "+lindex", "+evalsha_ro", "+eval_ro"])
    summary = make_collector(tmp_path, redis_acl.server, username="lists-only", password="lists-only-password").run()
    assert summary.connection_failure == 1
    assert "'xlen'" in summary.failure  # the log line names the command the ACL lacks


def test_collection_never_changes_a_stream_or_delayed_set(redis_password, tmp_path):
    client = redis_password.client()
    seed(client, time.time())
    before = {key: client.dump(key) for key in client.keys("*")}
    client.config_resetstat()
    collector = make_collector(tmp_path, redis_password)
    for _ in range(3):
        collector.run()
    assert {key: client.dump(key) for key in client.keys("*")} == before
    executed = {name.removeprefix("cmdstat_").split("|")[0] for name, stats in client.info("commandstats").items() if stats["calls"] > 0}
    table = client.command()
    assert {name for name in executed if "write" in table[name]["flags"]} == set()
    assert {"xlen", "xinfo", "xpending", "zcard", "zcount"} <= executed
