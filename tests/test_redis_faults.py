"""The collector when Redis fails under it: a TLS server that goes away or changes its certificate
between and during runs of one (warm) collector, and a Redis Cluster failover during a collection.

Each expected outcome is in the test's name. Throughout: a failure is a signal (ConnectionFailure=1,
with a reason), never an exception out of run(), never a wrong depth, and the next run after the
fault is repaired reads everything again with the same collector object.
"""

from __future__ import annotations

import time

import pytest
from support.certs import make_tls_files

import monitor.collect.collector as collector_module
from monitor.collect.collector import Collector
from monitor.local import samples
from monitor.local.redis_server import _CLUSTER_CONFIG, LocalCluster, RedisServer, free_port
from monitor.spec.load import load_spec
from test_cluster import ROOT, seed

TOKEN = "tls-token-0123456789abcdef"


def values(datums) -> dict[tuple[str, str], float]:
    return {(d["MetricName"], d["Dimensions"][1]["Value"]): d["Value"] for d in datums}


def tls_collector(server: RedisServer, ca_path) -> Collector:
    environ = {
        "REDIS_HOST": "127.0.0.1",
        "REDIS_PORT": str(server.port),
        "REDIS_TLS_ENABLED": "true",
        "REDIS_CA_BUNDLE": str(ca_path),
        "REDIS_AUTH_TOKEN": TOKEN,
    }
    spec = load_spec(str(ROOT / "alarms.yaml"), env="demo", environ=environ)
    return Collector(spec, spec.environment("demo"), environ=environ, emit=lambda line: None)


def impostor_files(tmp_path):
    """A certificate for the same host from a CA the collector does not trust."""
    directory = tmp_path / "impostor"
    directory.mkdir()
    return make_tls_files(directory)


def restart(server: RedisServer, tls) -> None:
    """Stop, then start on the same port with these TLS files; seed the three messages again (no persistence)."""
    server.stop()
    server.tls = tls
    server.start()
    seed_mint(server)


def seed_mint(server: RedisServer) -> None:
    server.client().lpush(samples.MINT, *[samples.mint_request(time.time() - 60, i) for i in range(3)])


@pytest.fixture
def tls_server(redis_factory, tls_files):
    server = redis_factory(tls=tls_files, password=TOKEN)
    seed_mint(server)
    return server


def test_tls_server_going_away_mid_collection_is_connection_failure_1_then_the_next_run_after_restart_reads_all(tls_server, tls_files, monkeypatch):
    collector = tls_collector(tls_server, tls_files.ca_file)
    assert collector.run().connection_failure == 0

    real_read = collector_module.read_queues

    def read_after_the_server_went_away(client, *args, **kwargs):
        client.ping()  # connected and handshaken: the server goes away mid-collection
        tls_server.stop()
        return real_read(client, *args, **kwargs)

    monkeypatch.setattr(collector_module, "read_queues", read_after_the_server_went_away)
    summary = collector.run()
    assert summary.connection_failure == 1 and summary.failure_reason in ("error", "refused")
    assert TOKEN not in (summary.failure or "")
    got = values(collector.last_datums)
    assert got[("ConnectionFailure", "primary")] == 1 and ("QueueDepth", samples.MINT) not in got  # no made-up depth

    monkeypatch.setattr(collector_module, "read_queues", real_read)
    restart(tls_server, tls_files)  # same port, same certificate
    summary = collector.run()
    assert summary.connection_failure == 0, summary.failure
    assert values(collector.last_datums)[("QueueDepth", samples.MINT)] == 3


def test_tls_server_presenting_a_certificate_of_another_ca_is_a_tls_failure_then_reads_again_once_fixed(tls_server, tls_files, tmp_path):
    collector = tls_collector(tls_server, tls_files.ca_file)
    assert collector.run().connection_failure == 0

    restart(tls_server, impostor_files(tmp_path))  # same host and port, a CA the collector does not trust
    summary = collector.run()
    assert (summary.connection_failure, summary.failure_reason) == (1, "tls")
    assert "certificate" in summary.failure.lower() and TOKEN not in summary.failure
    assert values(collector.last_datums)[("ConnectionFailure", "primary")] == 1

    restart(tls_server, tls_files)
    summary = collector.run()
    assert summary.connection_failure == 0, summary.failure
    assert values(collector.last_datums)[("QueueDepth", samples.MINT)] == 3


def test_tls_server_presenting_a_bad_certificate_mid_collection_fails_that_run_only(tls_server, tls_files, tmp_path, monkeypatch):
    collector = tls_collector(tls_server, tls_files.ca_file)
    real_read = collector_module.read_queues
    impostor = impostor_files(tmp_path)

    def read_after_a_swap(client, *args, **kwargs):
        client.ping()
        restart(tls_server, impostor)  # the collector's connection broke; a reconnect would meet the wrong certificate
        return real_read(client, *args, **kwargs)

    monkeypatch.setattr(collector_module, "read_queues", read_after_a_swap)
    summary = collector.run()
    assert summary.connection_failure == 1 and summary.failure_reason in ("error", "refused", "tls")
    assert ("QueueDepth", samples.MINT) not in values(collector.last_datums)
    monkeypatch.setattr(collector_module, "read_queues", real_read)
    summary = collector.run()
    assert (summary.connection_failure, summary.failure_reason) == (1, "tls")  # still the wrong certificate
    restart(tls_server, tls_files)
    assert collector.run().connection_failure == 0
    assert values(collector.last_datums)[("QueueDepth", samples.MINT)] == 3


# ---------------------------------------------------------------- a cluster failover


@pytest.fixture
def cluster_with_replica(tmp_path):
    """A cluster of its own (three masters) plus one replica of the master that owns tenant:0:jobs."""
    with LocalCluster(directory=tmp_path / "cluster") as cluster:
        replica = RedisServer(directory=tmp_path / "replica", port=free_port(), extra_config=_CLUSTER_CONFIG + (f"cluster-port {free_port()}",))
        replica.directory.mkdir()
        replica.start()
        try:
            master = cluster.server_for("tenant:0:jobs")
            admin = replica.client()
            bus = master.client().config_get("cluster-port")["cluster-port"]  # not port + 10000 here
            admin.execute_command("CLUSTER", "MEET", master.host, str(master.port), bus)
            master_id = master.client().execute_command("CLUSTER", "MYID")
            master_id = master_id.decode() if isinstance(master_id, bytes) else master_id
            _until(lambda: master_id in str(admin.execute_command("CLUSTER", "NODES")), "the replica to learn the master")
            admin.execute_command("CLUSTER", "REPLICATE", master_id)
            _until(lambda: admin.info("replication").get("master_link_status") == "up", "the replica to sync")
            yield cluster, master, replica
        finally:
            replica.close()


def _until(condition, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def cluster_collector(cluster, lines):
    environ = {
        "REDIS_HOST": cluster.host,
        "REDIS_PORT": str(cluster.port),
        "REDIS_TLS_ENABLED": "false",
        "REDIS_AUTH_TOKEN": "",
        "REDIS_CLUSTER_ENABLED": "true",
    }
    text = (ROOT / "alarms.yaml").read_text() + "\npatterns:\n  - pattern: tenant:*:jobs\n    processing: '{key}:processing'\n    dead_letter: '{key}:dlq'\n    max_keys: 30\n"
    path = cluster.directory / "spec.yaml"
    path.write_text(text)
    spec = load_spec(str(path), env="demo", environ=environ)
    return Collector(spec, spec.environment("demo"), environ=environ, emit=lines.append)


def test_a_failover_during_a_collection_is_followed_to_the_promoted_replica_then_the_next_run_reads_all(cluster_with_replica, monkeypatch):
    cluster, master, replica = cluster_with_replica
    now = time.time()
    sources = seed(cluster.client(), now)
    admin = replica.client()
    _until(lambda: admin.dbsize() == master.client().dbsize(), "the replica to hold the master's keys")
    lines: list[str] = []
    collector = cluster_collector(cluster, lines)
    real_read = collector_module.read_cluster

    def read_during_a_failover(*args, **kwargs):  # discovery went to the old master; the reads follow it
        admin.execute_command("CLUSTER", "FAILOVER")
        _until(lambda: admin.info("replication").get("role") == "master", "the replica to take over")
        _until(lambda: master.client().info("replication").get("role") == "slave", "the old master to step down")
        return real_read(*args, **kwargs)

    monkeypatch.setattr(collector_module, "read_cluster", read_during_a_failover)
    summary = collector.run()
    got = values(collector.last_datums)
    depth = {s.key: int(s.key.split(":")[1]) + 1 for s in sources}
    moved = [s.key for s in sources if cluster.server_for(s.key) is master]
    assert moved
    # The old master answers MOVED for its slots, naming the promoted replica: the collector follows
    # it once, so those queues are read there, with their right depths, and no node counts as failed.
    assert summary.connection_failure == 0 and got[("ClusterNodeFailures", "primary")] == 0, summary.failure
    assert summary.moved_replies >= len(moved)
    assert {key: got[("QueueDepth", key)] for key in depth} == depth

    monkeypatch.setattr(collector_module, "read_cluster", real_read)
    summary = collector.run()  # a new run asks the cluster for its topology again
    got = values(collector.last_datums)
    assert summary.connection_failure == 0 and summary.failed_nodes == [], summary.failure
    assert {key: got[("QueueDepth", key)] for key in depth} == depth
    assert got[("ClusterNodeFailures", "primary")] == 0
