"""Reading queues on a real three-master Redis Cluster: every node, its own keys, no CROSSSLOT, a dead node."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from monitor.collect.cluster import discover_cluster, read_cluster
from monitor.collect.reader import read_queues
from support.cluster_data import seed
from monitor.spec.sources import QueueSource


def node_counts(cluster, keys) -> dict[int, int]:
    counts: dict[int, int] = {}
    for key in keys:
        port = cluster.server_for(key).port
        counts[port] = counts.get(port, 0) + 1
    return counts


def test_the_local_cluster_has_three_masters_that_share_the_keys(redis_cluster):
    client = redis_cluster.client()
    assert len(client.get_primaries()) == 3
    sources = seed(client, time.time())
    keys = [k for s in sources for k in (s.key, s.processing_key, s.dead_letter_key)]
    assert len(node_counts(redis_cluster, keys)) == 3  # every node holds some of them
    # one queue's keys are on different nodes, so a multi-key command would be CROSSSLOT
    assert any(len(node_counts(redis_cluster, [s.key, s.processing_key, s.dead_letter_key])) > 1 for s in sources)


def test_depth_and_age_of_queues_on_every_node(redis_cluster):
    now = time.time()
    client = redis_cluster.client()
    sources = seed(client, now)
    result = read_cluster(client, sources, now=now)
    assert not result.failures
    for i, reading in enumerate(result.readings):
        assert reading.source is sources[i]
        assert reading.depth == i + 1
        assert reading.in_flight == 1
        assert reading.dead_letter == i % 3
        assert reading.oldest_age_seconds == pytest.approx(i * 10, abs=0.01)
        assert reading.parse_error is None and reading.wrong_type_keys == () and reading.unread_keys == ()
    assert set(result.round_trips_by_node) == {n.name for n in client.get_primaries()}


def test_round_trips_per_node_are_those_of_one_node(redis_cluster):
    client = redis_cluster.client()
    pipe = client.pipeline()
    sources = []
    for i in range(3000):
        pipe.lpush(f"q:{i}", "{}")
        sources.append(QueueSource(f"q:{i}"))
    pipe.execute()
    result = read_cluster(client, sources, now=time.time(), batch_size=500)
    counts = node_counts(redis_cluster, [s.key for s in sources])
    by_port = {int(name.rsplit(":", 1)[1]): trips for name, trips in result.round_trips_by_node.items()}
    assert by_port == {port: -(-n // 500) for port, n in counts.items()}  # ceil(keys on the node / batch)
    assert result.round_trips == sum(by_port.values())
    assert all(r.depth == 1 for r in result.readings)


def test_same_readings_as_the_one_node_reader(redis_cluster, redis_plain):
    now = time.time()
    sources = seed(redis_cluster.client(), now, count=12)
    seed(redis_plain.client(), now, count=12)
    redis_cluster.client().set("tenant:3:jobs:dlq", "not a list")
    redis_plain.client().set("tenant:3:jobs:dlq", "not a list")
    redis_cluster.client().rpush("tenant:4:jobs", "not json")
    redis_plain.client().rpush("tenant:4:jobs", "not json")
    on_cluster = read_cluster(redis_cluster.client(), sources, now=now).readings
    on_one = read_queues(redis_plain.client(), sources, now=now).readings
    assert on_cluster == on_one
    assert on_cluster[3].wrong_type_keys == ("tenant:3:jobs:dlq",) and on_cluster[4].parse_error


def test_discovery_scans_every_primary(redis_cluster):
    client = redis_cluster.client()
    for i in range(200):
        client.lpush(f"tenant:{i}:jobs", "x")
        client.set(f"tenant:{i}:config", "not a queue")
    found = discover_cluster(client, "tenant:*:jobs", scan_count=50)
    assert found.keys == tuple(sorted(f"tenant:{i}:jobs" for i in range(200)))
    assert not found.failures and not found.truncated and not found.timed_out
    assert found.round_trips >= 3  # at least one SCAN per node
    capped = discover_cluster(client, "tenant:*:jobs", scan_count=50, max_keys=20)
    assert capped.truncated and len(capped.keys) >= 20


def test_a_dead_node_is_reported_and_the_others_are_still_read(redis_cluster):
    now = time.time()
    sources = seed(redis_cluster.client(), now)
    dead = redis_cluster.server_for(sources[0].key)
    client = redis_cluster.client(socket_connect_timeout=1, socket_timeout=1)
    client.get_primaries()  # topology known before the node dies, as in a run that loses it midway
    dead.stop()
    found = discover_cluster(client, "tenant:*:jobs")
    assert [f.node for f in found.failures] == [f"{dead.host}:{dead.port}"]
    result = read_cluster(client, sources, now=now)
    assert [f.node for f in result.failures] == [f"{dead.host}:{dead.port}"]
    lost = {k for s in sources for k in (s.key, s.processing_key, s.dead_letter_key) if redis_cluster.server_for(k) is dead}
    for i, reading in enumerate(result.readings):
        assert set(reading.unread_keys) == lost & {reading.source.key, reading.source.processing_key, reading.source.dead_letter_key}
        if reading.source.key in lost:
            assert reading.depth is None and reading.oldest_age_seconds is None
        else:
            assert reading.depth == i + 1 and reading.oldest_age_seconds == pytest.approx(i * 10, abs=0.01)
    assert result.readings[0].unread_keys[0] == sources[0].key


# ---------------------------------------------------------------- the collector on a cluster target

ROOT = Path(__file__).resolve().parent.parent


def cluster_collector(cluster, lines, **environ):
    from monitor.collect.collector import Collector
    from monitor.spec.load import load_spec

    spec_text = (ROOT / "alarms.yaml").read_text() + "\npatterns:\n  - pattern: tenant:*:jobs\n    processing: '{key}:processing'\n    dead_letter: '{key}:dlq'\n    max_keys: 10\n"
    path = Path(cluster.servers[0].directory).parent / "cluster-spec.yaml"
    path.write_text(spec_text)
    environ = {"REDIS_HOST": cluster.host, "REDIS_PORT": str(cluster.port), "REDIS_TLS_ENABLED": "false", "REDIS_AUTH_TOKEN": "", "REDIS_CLUSTER_ENABLED": "true", **environ}
    spec = load_spec(str(path), env="demo", environ=environ)
    return Collector(spec, spec.environment("demo"), environ=environ, emit=lines.append)


def test_collector_reads_a_cluster_target_through_its_configuration_endpoint(redis_cluster):
    now = time.time()
    sources = seed(redis_cluster.client(), now)
    lines: list[str] = []
    collector = cluster_collector(redis_cluster, lines)
    summary = collector.run()
    assert summary.connection_failure == 0 and summary.failed_nodes == [], summary.failure
    got = {(d["MetricName"], d["Dimensions"][1]["Value"]): d["Value"] for d in collector.last_datums}
    assert got[("ClusterNodeFailures", "primary")] == 0 and got[("ConnectionFailure", "primary")] == 0
    assert got[("PatternQueueCount", "tenant:*:jobs")] == 30 and got[("PatternDepthMax", "tenant:*:jobs")] == 30
    assert got[("PatternOldestAgeMaxSeconds", "tenant:*:jobs")] == pytest.approx(290, abs=2)
    for i, source in enumerate(sorted(sources, key=lambda s: s.key)[:10]):
        assert got[("QueueDepth", source.key)] == int(source.key.split(":")[1]) + 1
    log = json.loads(lines[-1])
    assert len(log["round_trips_by_node"]) == 3  # every primary was asked, for its own keys


def test_a_node_killed_mid_run_sets_connection_failure_and_the_others_are_published(redis_cluster, monkeypatch):
    now = time.time()
    sources = seed(redis_cluster.client(), now)
    dead = redis_cluster.server_for(sources[0].key)
    lines: list[str] = []
    collector = cluster_collector(redis_cluster, lines, REDIS_PORT=str(next(s.port for s in redis_cluster.servers if s is not dead)))
    import monitor.collect.collector as collector_module

    real_read = collector_module.read_cluster

    def read_after_a_crash(*args, **kwargs):  # discovery went fine; the node dies before the reads
        dead.stop()
        return real_read(*args, **kwargs)

    monkeypatch.setattr(collector_module, "read_cluster", read_after_a_crash)
    summary = collector.run()
    got = {(d["MetricName"], d["Dimensions"][1]["Value"]): d["Value"] for d in collector.last_datums}
    assert summary.connection_failure == 1 and summary.failure_reason == "refused"
    assert got[("ConnectionFailure", "primary")] == 1 and got[("ClusterNodeFailures", "primary")] == 1
    assert summary.failed_nodes == [f"{dead.host}:{dead.port} (refused)"]
    log = json.loads(lines[-1])
    assert log["failed_nodes"] == summary.failed_nodes and f"node {dead.host}:{dead.port}" in log["failure"]
    with_metrics = sorted(sources, key=lambda s: s.key)[:10]  # max_keys, in key order
    alive = [s for s in with_metrics if redis_cluster.server_for(s.key) is not dead]
    lost = [s for s in with_metrics if redis_cluster.server_for(s.key) is dead]
    assert alive and lost
    for source in alive:
        assert ("QueueDepth", source.key) in got
    for source in lost:
        assert ("QueueDepth", source.key) not in got and got[("QueueReadErrors", source.key)] >= 1
    assert got[("PatternQueueCount", "tenant:*:jobs")] == 30  # discovered before the node died
