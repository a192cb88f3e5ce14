"""Several Redis targets in one environment, cluster targets, and the pattern cost guard: spec to metrics."""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

import pytest

from monitor.cloudwatch import cost
from monitor.cloudwatch.alarms import render_alarms
from monitor.collect.collector import collectors_for
from monitor.errors import SpecError
from monitor.local import samples
from monitor.spec import metrics
from monitor.spec.load import load_spec

SPEC = """\
version: 1
namespace: Test/Queues
name_prefix: t
runbooks:
  queue_depth: https://example.com/rb#depth
  connection_failure: https://example.com/rb#conn
  collector_heartbeat: https://example.com/rb#beat
defaults:
  alarms:
    queue_depth:
      critical: {threshold: 100}
target_alarms:
  connection_failure:
    critical: {threshold: 1}
  collector_heartbeat:
    critical: {threshold: 1}
environments:
  dev:
    redis_targets:
      - name: jobs
        host: 127.0.0.1
        port: ${JOBS_PORT:-6379}
        tls: false
      - name: cache
        host: 127.0.0.1
        port: ${CACHE_PORT:-6379}
        tls: false
        cluster: ${CACHE_CLUSTER:-false}
queues:
  - key: jobs:a
    dead_letter: jobs:a:dlq
  - key: cache:b
    target: cache
patterns:
  - pattern: tenant:*:jobs
    target: cache
    max_keys: 3
"""


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "alarms.yaml"
    path.write_text(textwrap.dedent(text))
    return str(path)


def problems(tmp_path: Path, text: str) -> str:
    with pytest.raises(SpecError) as info:
        load_spec(write(tmp_path, text), environ={})
    return "\n".join(str(p) for p in info.value.problems)


def test_targets_and_the_queues_that_name_them(tmp_path):
    spec = load_spec(write(tmp_path, SPEC), environ={"CACHE_CLUSTER": "true"})
    env = spec.environment("dev")
    assert [t.name for t in env.targets] == ["jobs", "cache"] and env.redis.name == "jobs"
    assert env.target("cache").cluster and not env.target(None).cluster
    assert [q.target for q in spec.queues] == [None, "cache"] and spec.patterns[0].target == "cache"


def test_target_alarms_are_rendered_per_target(tmp_path):
    spec = load_spec(write(tmp_path, SPEC), environ={})
    alarms = render_alarms(spec, spec.environment("dev"))
    target_alarms = {(a["MetricName"], a["Dimensions"][1]["Value"]) for a in alarms if a["Dimensions"][1]["Name"] == metrics.TARGET}
    assert target_alarms == {(m, t) for m in ("ConnectionFailure", "CollectorHeartbeat") for t in ("jobs", "cache")}
    assert "t-dev-redis-cache-connection-failure-critical" in {a["AlarmName"] for a in alarms}


def test_a_queue_naming_an_unknown_target_is_an_error(tmp_path):
    text = SPEC.replace("    target: cache\n    max_keys", "    target: cahce\n    max_keys")
    assert "patterns[0].target: no Redis target 'cahce' in environment 'dev' (it has: jobs, cache)" in problems(tmp_path, text)


def test_a_framework_queue_names_its_target_like_any_queue(tmp_path):
    # A preset entry has no `key`: finding its place in the file used to raise KeyError.
    preset = SPEC.replace("  - key: cache:b\n    target: cache\n", "  - framework: rq\n    queue: default\n    target: cache\n")
    spec = load_spec(write(tmp_path, preset), environ={})
    assert [(q.key, q.target) for q in spec.queues] == [("jobs:a", None), ("rq:queue:default", "cache")]
    assert "queues[1].target: no Redis target 'cahce'" in problems(tmp_path, preset.replace("queue: default\n    target: cache", "queue: default\n    target: cahce"))


def test_duplicate_target_names_and_no_target_at_all_are_errors(tmp_path):
    assert "Redis target 'jobs' is named twice" in problems(tmp_path, SPEC.replace("name: cache", "name: jobs"))
    bare = SPEC.split("    redis_targets:")[0] + "    region: us-east-1\nqueues:\n  - key: a\n"
    assert "missing 'redis' (one Redis target) or 'redis_targets' (several)" in problems(tmp_path, bare)
    assert "a Redis Cluster has only database 0" in problems(tmp_path, SPEC.replace("cluster: ${CACHE_CLUSTER:-false}", "cluster: true\n        db: 2"))
    assert "redis_targets[0]: missing required field 'name'" in problems(tmp_path, SPEC.replace("      - name: jobs\n        host", "      - host"))


def test_cost_counts_per_key_metrics_up_to_max_keys_and_the_aggregates(tmp_path):
    spec = load_spec(write(tmp_path, SPEC), environ={"CACHE_CLUSTER": "true"})
    env = spec.environment("dev")
    per_target = cost.target_metric_counts(spec, env)
    # jobs: 5 queue metrics (depth, dlq, age, parse, read errors) + 3 target metrics (no patterns, no cluster)
    assert per_target["jobs"] == 5 + 3
    # cache: 4 + 3 x 4 per key + 4 aggregates + 5 target metrics (DiscoveredQueues, ClusterNodeFailures)
    assert per_target["cache"] == 4 + 3 * 4 + 4 + 5
    assert cost.estimate(spec, render_alarms(spec, env), env).custom_metrics == sum(per_target.values())
    assert cost.estimate(spec, [], env).put_requests_per_month == 2 * 43800  # one request per target per run


def collector_environ(jobs, cache, **more):
    return {"JOBS_PORT": str(jobs.port), "CACHE_PORT": str(cache.port), **more}


def test_one_collector_per_target_or_the_one_monitor_target_names(tmp_path, redis_plain, redis_password):
    cache = redis_password
    environ = collector_environ(redis_plain, cache, REDIS_AUTH_TOKEN=cache.password, MONITOR_TARGET="cache")
    spec = load_spec(write(tmp_path, SPEC), environ=environ)
    env = spec.environment("dev")
    assert [c.target.name for c in collectors_for(spec, env, environ=environ)] == ["cache"]
    everything = collectors_for(spec, env, environ={k: v for k, v in environ.items() if k != "MONITOR_TARGET"})
    assert [c.target.name for c in everything] == ["jobs", "cache"]
    redis_plain.client().lpush("jobs:a", "{}")
    cache.client().lpush("cache:b", "{}", "{}")
    (collector,) = collectors_for(spec, env, environ=environ, emit=lambda line: None)
    summary = collector.run()
    assert summary.target == "cache" and summary.connection_failure == 0, summary.failure
    got = {(d["MetricName"], d["Dimensions"][1]["Value"]): d["Value"] for d in collector.last_datums}
    assert got[("QueueDepth", "cache:b")] == 2 and ("QueueDepth", "jobs:a") not in got  # jobs:a is another target's
    assert got[("ConnectionFailure", "cache")] == 0 and ("ConnectionFailure", "jobs") not in got


def test_without_monitor_target_every_target_is_read_each_with_its_own_failure_signal(tmp_path, redis_plain, redis_factory):
    cache = redis_factory()
    spec_path = write(tmp_path, SPEC)
    redis_plain.client().lpush("jobs:a", "{}")
    cache.stop()  # one target down: the other is still read and published
    environ = {"MONITOR_SPEC": spec_path, "MONITOR_ENV": "dev", **collector_environ(redis_plain, cache), "AWS_REGION": "us-east-1"}
    lines: list[str] = []
    spec = load_spec(spec_path, environ=environ)
    collectors = collectors_for(spec, spec.environment("dev"), environ=environ, emit=lines.append)
    summaries = [c.run() for c in collectors]
    assert [(s.target, s.connection_failure) for s in summaries] == [("jobs", 0), ("cache", 1)]
    assert summaries[1].failure_reason == "refused"
    jobs_points = {(d["MetricName"], d["Dimensions"][1]["Value"]): d["Value"] for d in collectors[0].last_datums}
    assert jobs_points[("QueueDepth", "jobs:a")] == 1
    assert [json.loads(line)["target"] for line in lines] == ["jobs", "cache"]


def test_pattern_aggregates_cover_every_match_and_per_key_metrics_stop_at_max_keys(tmp_path, redis_plain, redis_password):
    environ = collector_environ(redis_plain, redis_password, REDIS_AUTH_TOKEN=redis_password.password, MONITOR_TARGET="cache")
    spec = load_spec(write(tmp_path, SPEC), environ=environ)
    client = redis_password.client()
    now = time.time()
    for i in range(40):
        for j in range(i % 7):
            client.lpush(f"tenant:{i:02d}:jobs", samples.mint_request(now - 100 - i, j))
    client.set("tenant:99:jobs", "a string, not a queue")  # SCAN TYPE list skips it
    (collector,) = collectors_for(spec, spec.environment("dev"), environ=environ, emit=lambda line: None)
    summary = collector.run()
    got = {(d["MetricName"], d["Dimensions"][1]["Value"]): d["Value"] for d in collector.last_datums}
    per_key = sorted(q for (m, q) in got if m == "QueueDepth" and q.startswith("tenant:"))
    assert per_key == ["tenant:01:jobs", "tenant:02:jobs", "tenant:03:jobs"]  # tenant:00 is empty: no list
    assert got[("PatternQueueCount", "tenant:*:jobs")] == 34  # 40 minus the 6 empty ones (no key)
    assert got[("PatternDepthSum", "tenant:*:jobs")] == sum(i % 7 for i in range(40))
    assert got[("PatternDepthMax", "tenant:*:jobs")] == 6
    assert got[("PatternOldestAgeMaxSeconds", "tenant:*:jobs")] == pytest.approx(100 + 39, abs=2)
    assert summary.keys_aggregated_only == 31
    pattern_datum = next(d for d in collector.last_datums if d["MetricName"] == "PatternDepthSum")
    assert pattern_datum["Dimensions"] == [{"Name": "Environment", "Value": "dev"}, {"Name": "Pattern", "Value": "tenant:*:jobs"}]


def test_redis_environment_overrides_apply_to_the_bound_target_only(tmp_path):
    from monitor.collect.connection import ConfigError, resolve_settings

    spec = load_spec(write(tmp_path, SPEC), environ={})
    env = spec.environment("dev")
    environ = {"REDIS_HOST": "redis-a.internal.example", "REDIS_CLUSTER_ENABLED": "true"}
    first = resolve_settings(env, spec.collector, environ, env.target("jobs"))
    other = resolve_settings(env, spec.collector, environ, env.target("cache"))
    assert (first.host, first.cluster) == ("redis-a.internal.example", True) and (other.host, other.cluster) == ("127.0.0.1", False)
    chosen = resolve_settings(env, spec.collector, {**environ, "MONITOR_TARGET": "cache"}, env.target("cache"))
    assert (chosen.host, chosen.cluster) == ("redis-a.internal.example", True)
    with pytest.raises(ConfigError):
        resolve_settings(env, spec.collector, {"REDIS_CLUSTER_ENABLED": "perhaps"}, env.target("jobs"))


TYPED = """\
streams:
  - key: "{orders}:events"
    groups: [workers]
    target: cache
  - key: audit
delayed:
  - key: "{orders}:later"
    target: cache
  - key: jobs:retry
"""


def test_streams_and_delayed_sets_naming_an_unknown_target_are_errors(tmp_path):
    text = SPEC + TYPED.replace("target: cache", "target: cahce")
    found = problems(tmp_path, text)
    assert "streams[0].target: no Redis target 'cahce' in environment 'dev' (it has: jobs, cache)" in found
    assert "delayed[0].target: no Redis target 'cahce' in environment 'dev' (it has: jobs, cache)" in found


def test_streams_and_delayed_sets_are_read_by_the_collector_of_their_target_even_a_cluster(tmp_path, redis_plain, redis_cluster):
    now = time.time()
    cluster = redis_cluster.client()
    for n in range(3):
        cluster.xadd("{orders}:events", {"n": n})
    cluster.xgroup_create("{orders}:events", "workers", id="0")
    cluster.xreadgroup("workers", "w", {"{orders}:events": ">"}, count=2)
    cluster.zadd("{orders}:later", {"due": now - 60, "later": now + 600})
    jobs = redis_plain.client()
    jobs.xadd("audit", {"n": 1})
    jobs.zadd("jobs:retry", {"a": now + 60})
    environ = collector_environ(redis_plain, redis_cluster, CACHE_CLUSTER="true")
    spec = load_spec(write(tmp_path, SPEC + TYPED), environ=environ)
    assert [s.target for s in spec.streams] == ["cache", None] and [d.target for d in spec.delayed] == ["cache", None]
    collectors = collectors_for(spec, spec.environment("dev"), environ=environ, emit=lambda line: None)
    summaries = [c.run() for c in collectors]
    assert [(s.target, s.connection_failure, s.streams_read, s.delayed_read) for s in summaries] == [("jobs", 0, 1, 1), ("cache", 0, 1, 1)]
    jobs_got, cache_got = ({(d["MetricName"], *(x["Value"] for x in d["Dimensions"][1:])): d["Value"] for d in c.last_datums} for c in collectors)
    assert cache_got[("StreamLength", "{orders}:events")] == 3 and cache_got[("ConsumerGroupPending", "{orders}:events", "workers")] == 2
    assert (cache_got[("DelayedTotal", "{orders}:later")], cache_got[("DelayedOverdue", "{orders}:later")]) == (2, 1)
    assert cache_got[("ClusterNodeFailures", "cache")] == 0
    assert ("StreamLength", "audit") not in cache_got and ("StreamLength", "{orders}:events") not in jobs_got
    assert jobs_got[("StreamLength", "audit")] == 1 and (jobs_got[("DelayedTotal", "jobs:retry")], jobs_got[("DelayedOverdue", "jobs:retry")]) == (1, 0)


def test_the_cost_counts_streams_and_delayed_sets_on_their_own_target(tmp_path):
    env_of = lambda text: (lambda spec: cost.target_metric_counts(spec, spec.environment("dev")))(load_spec(write(tmp_path, text), environ={}))
    before, after = env_of(SPEC), env_of(SPEC + TYPED)
    jobs, cache = after["jobs"] - before["jobs"], after["cache"] - before["cache"]
    assert jobs > 0 and cache > 0
    assert cache - jobs == sum(1 for m in metrics.ALL_METRICS if m.scope is metrics.Scope.GROUP)  # one listed group more


def test_a_stream_or_delayed_set_alarm_belongs_to_its_target(tmp_path):
    from monitor.cloudwatch.alarms import subjects

    lag = "    target: cache\n    alarms:\n      consumer_group_lag:\n        critical: {threshold: 5}\n  - key: audit"
    overdue = "    target: cache\n    alarms:\n      delayed_overdue:\n        critical: {threshold: 0}\n  - key: jobs:retry"
    text = SPEC + TYPED.replace("    target: cache\n  - key: audit", lag).replace("    target: cache\n  - key: jobs:retry", overdue)
    spec = load_spec(write(tmp_path, text), environ={})
    found = {s.dimension: s.target for s in subjects(spec, spec.environment("dev")) if s.dimension.startswith("{orders}")}
    assert found == {"{orders}:events": "cache", "{orders}:later": "cache"}  # suppressed while cache, not jobs, is down
