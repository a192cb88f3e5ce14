"""Streams and delayed sets on a real three-master Redis Cluster, and MOVED replies during a resharding."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest
from redis.crc import key_slot

from monitor.collect.cluster import Router, read_cluster, read_typed_cluster
from monitor.collect.queue_types import read_typed_queues
from monitor.commands import doctor
from monitor.errors import ExitStatus
from monitor.spec.load import load_spec
from monitor.spec.sources import DelayedSource, ScoreUnit, StreamSource
from support.cluster_data import seed

STREAMS = [f"orders:{i}" for i in range(6)]
DELAYED = [f"scheduled:{i}" for i in range(6)]


def seed_typed(client, now: float) -> tuple[list[StreamSource], list[DelayedSource]]:
    """Streams with i+1 entries and a group holding i pending ones; sets with i+1 due jobs and one later."""
    for i, key in enumerate(STREAMS):
        for n in range(i + 1):
            client.xadd(key, {"n": n})
        client.xgroup_create(key, "workers", id="0")
        if i:
            client.xreadgroup("workers", "w", {key: ">"}, count=i)
    for i, key in enumerate(DELAYED):
        client.zadd(key, {**{f"due{n}": now - 60 - n for n in range(i + 1)}, "later": now + 3600})
    return [StreamSource(k, ("workers",)) for k in STREAMS], [DelayedSource(k, ScoreUnit.SECONDS, 0.0) for k in DELAYED]


def owners(cluster, keys) -> set[int]:
    return {cluster.server_for(k).port for k in keys}


def summary_of(typed) -> list:
    streams = [(s.source.key, s.length, [(g.name, g.lag, g.pending, g.oldest_pending_idle_seconds is not None) for g in s.groups], s.unread) for s in typed.streams]
    return streams + [(d.source.key, d.total, d.overdue, d.unread) for d in typed.delayed]


def test_streams_and_delayed_sets_on_every_node_read_as_on_one_node(redis_cluster, redis_plain):
    now = time.time()
    streams, delayed = seed_typed(redis_cluster.client(), now)
    seed_typed(redis_plain.client(), now)
    assert len(owners(redis_cluster, STREAMS + DELAYED)) == 3  # every primary holds some of them
    typed, account = read_typed_cluster(redis_cluster.client(), streams, delayed, now=now)
    assert not account.failures and account.moved == 0
    assert summary_of(typed) == summary_of(read_typed_queues(redis_plain.client(), streams, delayed, now=now))
    assert [s.length for s in typed.streams] == [1, 2, 3, 4, 5, 6]
    assert [s.groups[0].pending for s in typed.streams] == [0, 1, 2, 3, 4, 5]
    assert [(d.total, d.overdue) for d in typed.delayed] == [(i + 2, i + 1) for i in range(6)]
    # Two phases, each one pipeline per node: XLEN/XINFO/ZCARD/ZCOUNT, then XPENDING where groups have pending entries.
    pending_nodes = owners(redis_cluster, STREAMS[1:])
    assert sorted(account.round_trips_by_node.values()) == sorted(1 + (int(n.split(":")[1]) in pending_nodes) for n in account.round_trips_by_node)
    assert len(account.round_trips_by_node) == 3


def test_a_dead_node_leaves_its_streams_and_sets_unread(redis_cluster):
    now = time.time()
    streams, delayed = seed_typed(redis_cluster.client(), now)
    dead = redis_cluster.server_for(STREAMS[0])
    client = redis_cluster.client(socket_connect_timeout=1, socket_timeout=1)
    client.get_primaries()
    dead.stop()
    typed, account = read_typed_cluster(client, streams, delayed, now=now)
    assert [f.node for f in account.failures] == [f"{dead.host}:{dead.port}"]
    for reading in (*typed.streams, *typed.delayed):
        lost = redis_cluster.server_for(reading.source.key) is dead
        assert reading.unread == lost
    assert typed.unread_keys == sum(1 for k in STREAMS + DELAYED if redis_cluster.server_for(k) is dead)
    assert typed.wrong_type_keys == 0
    points = {(p.metric.name, p.subject): p.value for p in typed.points()}
    assert points[("QueueReadErrors", STREAMS[0])] == 1 and ("StreamLength", STREAMS[0]) not in points


# ---------------------------------------------------------------- MOVED during a resharding


@pytest.fixture
def resharding(redis_cluster):
    """Moves slots to other masters; puts every one back afterwards, so the next test sees the usual layout."""
    moved: list[tuple[int, object]] = []

    def move(key: str, to=None):
        slot = key_slot(key.encode())
        owner = redis_cluster.server_for(key)
        to = to or next(s for s in redis_cluster.servers if s is not owner)
        redis_cluster.move_slot(slot, to)
        moved.append((slot, owner))
        return owner, to

    yield move
    for slot, owner in reversed(moved):
        redis_cluster.move_slot(slot, owner)
    redis_cluster.wait_until_ok()


def test_a_slot_moved_after_discovery_is_followed_once_and_nothing_fails(redis_cluster, resharding):
    now = time.time()
    sources = seed(redis_cluster.client(), now, count=12)
    streams, delayed = seed_typed(redis_cluster.client(), now)
    client = redis_cluster.client()
    client.get_primaries()  # the run's topology, taken before the resharding
    old, new = resharding(sources[3].key)
    resharding(STREAMS[4])
    resharding(DELAYED[2])
    assert old.port != new.port and redis_cluster.server_for(sources[3].key) is new

    result = read_cluster(client, sources, now=now)
    assert not result.failures and result.moved >= 1
    for i, reading in enumerate(result.readings):
        assert reading.unread_keys == ()
        assert (reading.depth, reading.in_flight, reading.dead_letter) == (i + 1, 1, i % 3)
        assert reading.oldest_age_seconds == pytest.approx(i * 10, abs=0.01)

    typed, account = read_typed_cluster(client, streams, delayed, now=now)
    assert not account.failures and account.moved >= 2
    assert typed.unread_keys == 0
    assert [s.length for s in typed.streams] == [1, 2, 3, 4, 5, 6]
    assert [s.groups[0].pending for s in typed.streams] == [0, 1, 2, 3, 4, 5]
    assert all(g.oldest_pending_idle_seconds is not None for s in typed.streams for g in s.groups)
    assert [(d.total, d.overdue) for d in typed.delayed] == [(i + 2, i + 1) for i in range(6)]


def test_a_key_moved_a_second_time_is_not_chased_and_counts_as_unread(redis_cluster, resharding, monkeypatch):
    now = time.time()
    sources = seed(redis_cluster.client(), now, count=12)
    client = redis_cluster.client()
    client.get_primaries()
    key = sources[5].key
    first, second = resharding(key)
    third = next(s for s in redis_cluster.servers if s not in (first, second))
    real_node_at = Router._node_at
    calls = []

    def moved_again_meanwhile(self, error):  # the slot moves on while the MOVED reply is followed
        node = real_node_at(self, error)
        if not calls:
            resharding(key, to=third)
        calls.append(error)
        return node

    monkeypatch.setattr(Router, "_node_at", moved_again_meanwhile)
    result = read_cluster(client, sources, now=now)
    assert not result.failures  # a moving slot is not a failed node
    assert len(calls) == 1  # the second MOVED was not followed
    by_key = {r.source.key: r for r in result.readings}
    assert by_key[key].unread_keys == (key,) and by_key[key].depth is None
    assert all(r.unread_keys == () and r.depth == i + 1 for i, r in enumerate(result.readings) if r.source.key != key)




def cluster_spec(cluster, tmp_path: Path):
    text = (
        "version: 1\nnamespace: T/Q\nname_prefix: t\n"
        f"environments:\n  dev:\n    redis: {{host: 127.0.0.1, port: {cluster.port}, tls: false, cluster: true}}\n"
        "queues:\n" + "".join(f"  - {{key: 'tenant:{i}:jobs', processing: 'tenant:{i}:jobs:processing', dead_letter: 'tenant:{i}:jobs:dlq'}}\n" for i in range(12))
        + "streams:\n" + "".join(f"  - key: '{k}'\n    groups: [workers]\n    alarms:\n      stuck_pending:\n        warning: {{threshold: 600}}\n" for k in STREAMS)
        + "delayed:\n" + "".join(f"  - key: '{k}'\n    alarms:\n      delayed_overdue:\n        warning: {{threshold: 0}}\n" for k in DELAYED)
    )
    path = tmp_path / "alarms.yaml"
    path.write_text(text)
    return load_spec(str(path), environ={})


def test_the_collector_reads_streams_and_delayed_sets_on_a_cluster_through_a_resharding(redis_cluster, resharding, monkeypatch, tmp_path):
    from monitor.collect import collector as collector_module

    now = time.time()
    seed(redis_cluster.client(), now, count=12)
    seed_typed(redis_cluster.client(), now)
    spec = cluster_spec(redis_cluster, tmp_path)
    lines: list[str] = []
    collector = collector_module.Collector(spec, spec.environment("dev"), environ={}, emit=lines.append)
    real_read = collector_module.read_cluster

    def reshard_then_read(*args, **kwargs):  # topology taken, reads not yet sent
        resharding("tenant:7:jobs")
        resharding(STREAMS[5])
        return real_read(*args, **kwargs)

    monkeypatch.setattr(collector_module, "read_cluster", reshard_then_read)
    summary = collector.run()
    assert summary.connection_failure == 0 and summary.failed_nodes == [], summary.failure
    assert summary.moved_replies >= 2 and (summary.queues_read, summary.streams_read, summary.delayed_read) == (12, 6, 6)
    got = {(d["MetricName"], *(x["Value"] for x in d["Dimensions"][1:])): d["Value"] for d in collector.last_datums}
    assert got[("ClusterNodeFailures", "primary")] == 0
    assert got[("QueueDepth", "tenant:7:jobs")] == 8 and ("QueueReadErrors", "tenant:7:jobs") not in got  # 0: not published
    assert got[("StreamLength", STREAMS[5])] == 6 and got[("ConsumerGroupPending", STREAMS[5], "workers")] == 5
    assert ("QueueReadErrors", STREAMS[5]) not in got
    assert [(got[("DelayedTotal", k)], got[("DelayedOverdue", k)]) for k in DELAYED] == [(i + 2, i + 1) for i in range(6)]
    assert json.loads(lines[-1])["moved_replies"] == summary.moved_replies


def test_doctor_reads_streams_and_delayed_sets_on_a_cluster_instead_of_calling_them_blind(redis_cluster, tmp_path):
    now = time.time()
    seed(redis_cluster.client(), now, count=12)
    seed_typed(redis_cluster.client(), now)
    spec = cluster_spec(redis_cluster, tmp_path)
    out = io.StringIO()
    status = doctor.run(spec, spec.environment("dev"), environ={}, secrets_factory=lambda: None, output="json", stream=out)
    report = json.loads(out.getvalue())
    assert status == ExitStatus.SUCCESS, report["counts"]
    subjects = {s["key"]: s for s in report["subjects"]}
    assert [subjects[k]["depth"] for k in STREAMS] == [1, 2, 3, 4, 5, 6]
    assert [subjects[k]["depth"] for k in DELAYED] == [i + 2 for i in range(6)]
    assert all(a["verdict"] == "ok" for k in STREAMS + DELAYED for a in subjects[k]["alarms"])
