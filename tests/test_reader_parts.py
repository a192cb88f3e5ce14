"""Queue parts of every Redis type, enqueue times in job hashes and scores, both ends, bad keys: real redis-servers."""

from __future__ import annotations

import json
import math

import pytest

from monitor.collect.cluster import read_cluster
from monitor.collect.collector import reading_points
from monitor.collect.reader import plan, read_queues
from monitor.collect.timestamps import JOB_GONE, JOB_NOT_HASH
from monitor.spec import metrics
from monitor.spec.presets import expand
from monitor.spec.sources import (
    KeySource,
    KeyType,
    OldestEnd,
    QueueSource,
    ScoreRange,
    ScoreScale,
    ScoreUnit,
    TimeKind,
    TimestampFormat,
    TimeSource,
)

NOW = 1_795_676_462.0
MILLIS = ScoreScale(ScoreUnit.MILLISECONDS)

from tests.test_reader import counting_client, utc_naive  # noqa: E402  (shared helpers)


def both_paths(client, sources, **options):
    scripted = read_queues(client, sources, now=NOW, **options)
    piped = read_queues(client, sources, now=NOW, use_script=False, **options)
    assert scripted.used_script and not piped.used_script
    assert scripted.readings == piped.readings
    return scripted.readings


def rq_job(client, job_id: str, seconds_ago: float, queue: str = "default") -> None:
    """An RQ-shaped job: the id in the queue list, its enqueue time in its hash (as rq 3.0 writes it)."""
    client.hset(f"rq:job:{job_id}", mapping={"enqueued_at": utc_naive(seconds_ago) + "Z", "status": "queued"})
    client.rpush(f"rq:queue:{queue}", job_id)


def test_a_part_sums_keys_of_every_type(redis_plain):
    client = redis_plain.client()
    client.rpush("w:list", "a", "b")
    client.zadd("w:zset", {"c": 1, "d": 2, "e": 3})
    client.hset("w:hash", mapping={"f": 1})
    client.xadd("w:stream", {"g": 1})
    source = QueueSource(
        "w:list",
        waiting=(KeySource("w:list"), KeySource("w:zset", KeyType.ZSET), KeySource("w:hash", KeyType.HASH), KeySource("w:stream", KeyType.STREAM), KeySource("w:absent")),
        time=TimeSource(TimeKind.NONE),
    )
    (reading,) = both_paths(client, [source])
    assert reading.depth == 2 + 3 + 1 + 1
    assert reading.oldest_age_seconds is None and reading.parse_error is None


def test_sorted_set_ranges_and_scales_split_due_from_deferred(redis_plain):
    client = redis_plain.client()
    # arq's layout: one set, score = enqueue or defer-until time in ms.
    client.zadd("arq:queue", {"old": (NOW - 90) * 1000, "new": (NOW - 5) * 1000, "later": (NOW + 60) * 1000})
    # BullMQ's delayed set: due ms x 4096 plus a counter.
    client.zadd("bull:q:delayed", {"1": (NOW - 10) * 1000 * 4096 + 7, "2": (NOW + 10) * 1000 * 4096 + 8})
    arq = QueueSource(
        "arq:queue",
        waiting=(KeySource("arq:queue", KeyType.ZSET, ScoreRange.DUE, MILLIS),),
        delayed=(KeySource("arq:queue", KeyType.ZSET, ScoreRange.NOT_DUE, MILLIS),),
        time=TimeSource(TimeKind.SCORE, scale=MILLIS),
    )
    bull = QueueSource("bull:q:wait", delayed=(KeySource("bull:q:delayed", KeyType.ZSET, scale=ScoreScale(ScoreUnit.MILLISECONDS, 4096)),))
    arq_reading, bull_reading = both_paths(client, [arq, bull])
    assert (arq_reading.depth, arq_reading.delayed_total, arq_reading.delayed_overdue) == (2, 1, None)
    assert arq_reading.oldest_age_seconds == pytest.approx(90, abs=1e-3)
    assert (bull_reading.depth, bull_reading.delayed_total, bull_reading.delayed_overdue) == (0, 2, 1)


def test_enqueue_time_from_a_job_hash_and_from_json_in_one_hash(redis_plain):
    client = redis_plain.client()
    for job, ago in (("a", 300), ("b", 200), ("c", 100)):
        rq_job(client, job, ago)
        client.hset("dramatiq:default.msgs", job, json.dumps({"message_id": job, "message_timestamp": int((NOW - ago) * 1000), "args": ["x" * 50]}))
        client.rpush("dramatiq:default", job)
    rq, dramatiq = both_paths(client, [expand("rq", "default"), expand("dramatiq", "default")])
    assert rq.depth == dramatiq.depth == 3
    assert rq.oldest_age_seconds == pytest.approx(300, abs=1e-3)
    assert dramatiq.oldest_age_seconds == pytest.approx(300, abs=1e-3)


def test_a_missing_job_hash_is_counted_and_gives_no_age(redis_plain):
    # The job went away between the list read and the hash read (or expired): no crash, no age, counted.
    client = redis_plain.client()
    client.rpush("rq:queue:gone", "ghost")
    client.rpush("rq:queue:half", "ghost")
    rq_job(client, "kept", 50, "half")
    gone, half = both_paths(client, [expand("rq", "gone"), expand("rq", "half")])
    assert (gone.depth, gone.oldest_age_seconds, gone.parse_error) == (1, None, JOB_GONE)
    points = {p.metric.name: p.value for p in reading_points(gone)}
    assert points[metrics.MESSAGE_PARSE_ERRORS.name] == 1 and metrics.OLDEST_MESSAGE_AGE.name not in points
    # Both ends are read: the tail's job has a time, but the head's may have been the oldest, so no
    # age is published rather than a low one; the next run reads whatever is at the head then.
    assert (half.depth, half.parse_error, half.oldest_age_seconds) == (2, JOB_GONE, None)


def test_a_job_key_of_another_type_is_a_parse_error(redis_plain):
    client = redis_plain.client()
    client.rpush("rq:queue:default", "odd")
    client.set("rq:job:odd", "not a hash")
    (reading,) = both_paths(client, [expand("rq", "default")])
    assert (reading.depth, reading.oldest_age_seconds, reading.parse_error) == (1, None, JOB_NOT_HASH)


def test_a_key_of_another_type_is_a_read_error_never_a_zero(redis_plain):
    client = redis_plain.client()
    rq_job(client, "a", 10)
    client.set("rq:wip:default", "oops")  # should be a sorted set
    client.rpush("rq:failed:default", "x")  # should be a sorted set
    client.hset("bull:mail:wait", "x", "1")  # should be a list
    rq, bull = both_paths(client, [expand("rq", "default"), expand("bullmq", "mail")])
    assert rq.depth == 1 and rq.in_flight is None and rq.dead_letter is None
    assert set(rq.wrong_type_keys) == {"rq:wip:default", "rq:failed:default"}
    assert bull.depth is None and bull.oldest_age_seconds is None and bull.wrong_type_keys == ("bull:mail:wait",)
    rq_points = {p.metric.name: p.value for p in reading_points(rq)}
    bull_points = {p.metric.name: p.value for p in reading_points(bull)}
    assert rq_points[metrics.QUEUE_READ_ERRORS.name] == 2 and metrics.IN_FLIGHT_DEPTH.name not in rq_points
    assert bull_points[metrics.QUEUE_READ_ERRORS.name] == 1 and metrics.QUEUE_DEPTH.name not in bull_points


def envelope(seconds_ago: float) -> str:
    return json.dumps({"timestamp": utc_naive(seconds_ago), "payload": {"n": 1}})


def test_a_retry_pushed_back_at_the_other_end_cannot_hide_the_oldest_age(redis_plain):
    # LPUSH producer, consumer takes from the tail, a retried message goes back to the head with its
    # original timestamp (hokusai's consumers do this): the tail alone under-reports.
    client = redis_plain.client()
    for ago in (40, 30, 20):
        client.lpush("jobs", envelope(ago))
    client.lpush("jobs", envelope(300))  # the retry, pushed back
    tail, both = both_paths(client, [QueueSource("jobs"), QueueSource("jobs", oldest_end=OldestEnd.BOTH)])
    assert tail.oldest_age_seconds == pytest.approx(40, abs=1e-3)
    assert both.oldest_age_seconds == pytest.approx(300, abs=1e-3)


def test_hash_time_sources_stay_within_the_round_trip_bound(redis_plain):
    client = redis_plain.client()
    pipe = client.pipeline(transaction=False)
    for i in range(2500):
        pipe.hset(f"rq:job:{i}", "enqueued_at", utc_naive(i % 100) + "Z")
        pipe.rpush(f"rq:queue:q{i}", str(i))
    pipe.execute()
    sources = [expand("rq", f"q{i}") for i in range(2500)]
    counting_redis, counting = counting_client(redis_plain)
    bound = math.ceil(len(sources) / 1000) + 1
    read_queues(counting_redis, sources, now=NOW)  # caches the script
    counting.sent = 0
    scripted = read_queues(counting_redis, sources, now=NOW)
    assert (scripted.round_trips, counting.sent) == (bound - 1, bound - 1)
    counting.sent = 0
    piped = read_queues(counting_redis, sources, now=NOW, use_script=False)
    assert (piped.round_trips, counting.sent) == (bound, bound)  # the job hashes: one more, for all batches
    assert scripted.readings == piped.readings
    assert [r.oldest_age_seconds for r in scripted.readings[:3]] == [pytest.approx(0, abs=1e-3), pytest.approx(1, abs=1e-3), pytest.approx(2, abs=1e-3)]


def test_presets_on_a_cluster_read_job_hashes_on_their_own_nodes(redis_cluster):
    client = redis_cluster.client()
    sources = []
    for i in range(20):
        rq_job(client, f"job-{i}", 10 + i, f"q{i}")
        client.zadd(f"rq:failed:q{i}", {"f": 1})
        sources.append(expand("rq", f"q{i}"))
    result = read_cluster(client, sources, now=NOW)
    assert not result.failures
    for i, reading in enumerate(result.readings):
        assert (reading.depth, reading.dead_letter, reading.in_flight) == (1, 1, 0)
        assert reading.oldest_age_seconds == pytest.approx(10 + i, abs=1e-3)
    # A job hash on another node than its queue list: the second, pipelined phase reads it there.
    assert any(redis_cluster.server_for(f"rq:queue:q{i}").port != redis_cluster.server_for(f"rq:job:job-{i}").port for i in range(20))


def test_the_shipped_hokusai_queues_count_a_retry_pushed_back_at_the_head():
    # Issue 13: both hokusai consumers LPUSH a retried message back with its original timestamp.
    from monitor.spec.load import load_spec
    from tests.test_spec import ROOT

    spec = load_spec(str(ROOT / "alarms.yaml"), environ={})
    assert {q.key: q.source.oldest_end for q in spec.queues} == {
        "hokusai:model_ready_queue": OldestEnd.BOTH,
        "hokusai:mint_requests": OldestEnd.BOTH,
    }


@pytest.mark.parametrize("end", list(OldestEnd))
@pytest.mark.parametrize("others", [(None, None), ("q:wip", None), (None, "q:dlq"), ("q:wip", "q:dlq"), ("q", "q:dlq"), ("q:x", "q:x")])
def test_a_plain_list_queue_is_planned_as_its_declared_parts(end, others):
    """plan() builds a plain list queue's reads without its implied KeySource objects: the same reads
    as the same queue with its parts and time source declared (pure)."""
    processing, dead_letter = others
    plain = QueueSource("q", processing, dead_letter, oldest_end=end, timestamp_field="meta.at", timestamp_format=TimestampFormat.EPOCH_MILLIS)
    declared = QueueSource(
        "q",
        oldest_end=end,
        waiting=(KeySource("q"),),
        in_flight=(KeySource(processing),) if processing else (),
        dead=(KeySource(dead_letter),) if dead_letter else (),
        time=TimeSource(TimeKind.ELEMENT_JSON, "meta.at", TimestampFormat.EPOCH_MILLIS),
    )
    fast, general = plan(plain, NOW), plan(declared, NOW)
    assert fast.source is plain
    assert fast[1:] == general[1:]
    assert len(fast.ops) == len({plain.key, processing, dead_letter} - {None})
