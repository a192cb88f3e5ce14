"""The queue reader against real redis-servers: every server kind, both read paths, read-only."""

from __future__ import annotations

import json
import math
import time
from datetime import datetime, timezone
from unittest import mock

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from monitor.collect.reader import (
    SCRIPT_QUEUES_PER_CALL,
    TIMESTAMP_PREFIX_BYTES,
    Discovery,
    discover,
    read_queues,
)
from monitor.collect import plain
from monitor.local.redis_server import AclUser
from monitor.spec.sources import OldestEnd, QueueSource, TimestampFormat

NOW = 1_795_676_462.0  # 2026-11-26T07:01:02Z
MODEL_READY = "hokusai:model_ready_queue"
MINT = "hokusai:mint_requests"


def utc_naive(seconds_ago: float) -> str:
    """The timestamp hokusai's producer writes: datetime.utcnow().isoformat()."""
    return datetime.fromtimestamp(NOW - seconds_ago, timezone.utc).replace(tzinfo=None).isoformat()


def envelope(seconds_ago: float, message_id: str = "m-1") -> str:
    return json.dumps(
        {
            "message_id": message_id,
            "message_type": "model_ready",
            "payload": {"model_id": "model-7", "api_key": "sk_live_SECRET"},
            "timestamp": utc_naive(seconds_ago),
            "retry_count": 0,
            "max_retries": 3,
        }
    )


def dead_letter(seconds_ago: float) -> str:
    return json.dumps(
        {
            "original_message": envelope(seconds_ago + 60),
            "error": "model not found",
            "failed_at": utc_naive(seconds_ago),
            "original_queue": MODEL_READY,
        }
    )


def mint_request(seconds_ago: float) -> str:
    when = datetime.fromtimestamp(NOW - seconds_ago, timezone.utc).isoformat()
    return json.dumps({"token_id": 17, "wallet": "0xabc", "timestamp": when})


MODEL_READY_SOURCE = QueueSource(MODEL_READY, f"{MODEL_READY}:processing", f"{MODEL_READY}:dlq")
MINT_SOURCE = QueueSource(MINT, dead_letter_key=f"{MINT}:dlq")


def seed_hokusai(client: redis.Redis) -> None:
    # Producers LPUSH, so the first pushed (oldest) ends up at the tail.
    for seconds_ago in (300, 200, 100):
        client.lpush(MODEL_READY, envelope(seconds_ago, f"m-{seconds_ago}"))
    client.lpush(f"{MODEL_READY}:processing", envelope(400, "m-400"), envelope(350, "m-350"))
    client.lpush(f"{MODEL_READY}:dlq", dead_letter(50))
    for seconds_ago in (90, 30):
        client.lpush(MINT, mint_request(seconds_ago))


def assert_hokusai_readings(result) -> None:
    model_ready, mint = result.readings
    assert (model_ready.depth, model_ready.in_flight, model_ready.dead_letter) == (3, 2, 1)
    assert model_ready.oldest_age_seconds == pytest.approx(300, abs=1e-3)
    assert model_ready.parse_error is None and model_ready.wrong_type_keys == ()
    assert (mint.depth, mint.in_flight, mint.dead_letter) == (2, None, 0)
    assert mint.oldest_age_seconds == pytest.approx(90, abs=1e-3)


# ---------------------------------------------------------------- every kind of server


def test_hokusai_queues_on_a_plain_server(redis_plain):
    client = redis_plain.client()
    seed_hokusai(client)
    result = read_queues(client, [MODEL_READY_SOURCE, MINT_SOURCE], now=NOW)
    assert result.used_script
    assert_hokusai_readings(result)


def test_hokusai_queues_with_a_password(redis_password):
    seed_hokusai(redis_password.client())
    result = read_queues(redis_password.client(), [MODEL_READY_SOURCE, MINT_SOURCE], now=NOW)
    assert result.used_script
    assert_hokusai_readings(result)


def test_hokusai_queues_over_verified_tls(redis_tls):
    client = redis_tls.client()
    assert client.connection_pool.connection_kwargs["ssl_cert_reqs"] == "required"
    assert client.connection_pool.connection_kwargs["ssl_ca_certs"] == str(redis_tls.ca_path)
    seed_hokusai(client)
    assert_hokusai_readings(read_queues(client, [MODEL_READY_SOURCE, MINT_SOURCE], now=NOW))


def test_acl_reader_reads_with_the_script(redis_acl):
    seed_hokusai(redis_acl.admin())
    result = read_queues(redis_acl.client_for(redis_acl.reader), [MODEL_READY_SOURCE, MINT_SOURCE], now=NOW)
    assert result.used_script
    assert_hokusai_readings(result)


def test_acl_reader_without_script_permission_falls_back_to_pipelines(redis_acl):
    seed_hokusai(redis_acl.admin())
    reader = redis_acl.client_for(redis_acl.reader_noscript)
    with pytest.raises(redis.exceptions.NoPermissionError):
        reader.eval_ro("return 1", 0)
    result = read_queues(reader, [MODEL_READY_SOURCE, MINT_SOURCE], now=NOW)
    assert not result.used_script
    assert result.round_trips == 2  # the refused script call, then one pipeline
    assert_hokusai_readings(result)


@pytest.mark.parametrize("user", ["reader", "reader_noscript"])
@pytest.mark.parametrize(
    "write",
    [
        lambda c: c.lpush(MODEL_READY, "x"),
        lambda c: c.rpoplpush(MODEL_READY, "elsewhere"),
        lambda c: c.delete(MODEL_READY),
        lambda c: c.set("k", "v"),
        lambda c: c.flushall(),
        lambda c: c.script_flush(),
        lambda c: c.eval("return redis.call('LPUSH', KEYS[1], 'x')", 1, MODEL_READY),
        lambda c: c.eval_ro("return redis.call('LPUSH', KEYS[1], 'x')", 1, MODEL_READY),
        lambda c: c.config_set("maxmemory", "1mb"),
    ],
    ids=["lpush", "rpoplpush", "del", "set", "flushall", "script-flush", "eval", "eval_ro", "config-set"],
)
def test_acl_reader_cannot_write(redis_acl, user, write):
    seed_hokusai(redis_acl.admin())
    before = redis_acl.admin().lrange(MODEL_READY, 0, -1)
    with pytest.raises(redis.ResponseError):  # NOPERM, or the script's "can't run this command"
        write(redis_acl.client_for(getattr(redis_acl, user)))
    assert redis_acl.admin().lrange(MODEL_READY, 0, -1) == before
    assert redis_acl.admin().dbsize() == 4


# ---------------------------------------------------------------- semantics


def both_paths(client, sources, **kwargs):
    """Read with the scripts (plain list queues take the plain one) and with pipelines, and with the
    generic script taking every queue; assert the readings agree, return them."""
    handed = []
    scripted = read_queues(client, sources, now=NOW, on_readings=handed.extend, **kwargs)
    pipelined = read_queues(client, sources, now=NOW, use_script=False, **kwargs)
    with mock.patch("monitor.collect.reader.is_plain", lambda source: False):
        generic = read_queues(client, sources, now=NOW, **kwargs)
    assert scripted.used_script and generic.used_script and not pipelined.used_script
    assert scripted.readings == pipelined.readings == generic.readings
    assert sorted(map(id, handed)) == sorted(map(id, scripted.readings))  # each handed over once
    return scripted.readings


def test_oldest_end_head_reads_index_zero(redis_plain):
    client = redis_plain.client()
    seed_hokusai(client)
    head = QueueSource(MODEL_READY, oldest_end=OldestEnd.HEAD)
    tail = QueueSource(MODEL_READY, oldest_end="tail")
    head_reading, tail_reading = both_paths(client, [head, tail])
    assert head_reading.oldest_age_seconds == pytest.approx(100, abs=1e-3)
    assert tail_reading.oldest_age_seconds == pytest.approx(300, abs=1e-3)


def test_missing_and_empty_queues_are_zero(redis_plain):
    client = redis_plain.client()
    client.lpush("emptied", "x")
    client.rpop("emptied")  # an emptied list no longer exists in Redis: same as never created
    (reading,) = both_paths(client, [QueueSource("emptied", "emptied:processing", "emptied:dlq")])
    assert (reading.depth, reading.in_flight, reading.dead_letter) == (0, 0, 0)
    assert reading.oldest_age_seconds == 0.0
    assert reading.parse_error is None and reading.wrong_type_keys == ()


def test_wrong_type_keys_are_none_and_listed_never_zero(redis_plain):
    client = redis_plain.client()
    client.set("q:string", "not a list")
    client.hset("q:hash", "a", "1")
    client.sadd("q:set", "a")
    client.lpush("q:list", envelope(10))
    sources = [
        QueueSource("q:string", "q:hash", "q:set"),
        QueueSource("q:list", "q:hash", "q:set"),
        QueueSource("q:list", "q:list:processing", "q:string"),
    ]
    whole, processing_wrong, dead_letter_wrong = both_paths(client, sources)
    assert (whole.depth, whole.in_flight, whole.dead_letter) == (None, None, None)
    assert whole.oldest_age_seconds is None and whole.parse_error is None
    assert whole.wrong_type_keys == ("q:string", "q:hash", "q:set")
    assert (processing_wrong.depth, processing_wrong.in_flight, processing_wrong.dead_letter) == (1, None, None)
    assert processing_wrong.oldest_age_seconds == pytest.approx(10, abs=1e-3)
    assert processing_wrong.wrong_type_keys == ("q:hash", "q:set")
    assert (dead_letter_wrong.in_flight, dead_letter_wrong.dead_letter) == (0, None)
    assert dead_letter_wrong.wrong_type_keys == ("q:string",)


SECRET = "sk_live_SECRET"


@pytest.mark.parametrize(
    "message, source, reason",
    [
        (f"plain text {SECRET}", QueueSource("q"), "not JSON"),
        ("", QueueSource("q"), "not JSON"),
        (json.dumps({"token": SECRET}), QueueSource("q"), "no field 'timestamp'"),
        (json.dumps({"payload": {"x": SECRET}}), QueueSource("q", timestamp_field="payload.created_at"), "no field 'payload.created_at'"),
        (json.dumps({"payload": SECRET}), QueueSource("q", timestamp_field="payload.created_at"), "no field 'payload.created_at'"),
        (json.dumps([SECRET]), QueueSource("q"), "no field 'timestamp'"),
        (json.dumps({"timestamp": SECRET}), QueueSource("q"), "unparseable auto time in field 'timestamp'"),
        (json.dumps({"timestamp": 1795676462}), QueueSource("q", timestamp_format="iso8601"), "unparseable iso8601 time in field 'timestamp'"),
        (json.dumps({"timestamp": None}), QueueSource("q"), "field 'timestamp' is not a string or number"),
        (json.dumps({"timestamp": {"s": SECRET}}), QueueSource("q"), "field 'timestamp' is not a string or number"),
        (json.dumps({"timestamp": True}), QueueSource("q"), "field 'timestamp' is not a string or number"),
    ],
)
def test_unreadable_oldest_message_is_a_parse_error_without_content(redis_plain, message, source, reason):
    client = redis_plain.client()
    client.lpush("q", message)
    (reading,) = both_paths(client, [source])
    assert reading.depth == 1
    assert reading.oldest_age_seconds is None
    assert reading.parse_error == reason
    assert SECRET not in reading.parse_error


def test_only_the_oldest_message_matters(redis_plain):
    client = redis_plain.client()
    client.lpush("q", envelope(120), "garbage that a newer producer wrote")
    (reading,) = both_paths(client, [QueueSource("q")])
    assert reading.parse_error is None
    assert reading.oldest_age_seconds == pytest.approx(120, abs=1e-3)


def test_future_timestamps_are_age_zero(redis_plain):
    client = redis_plain.client()
    client.lpush("q", envelope(-3600))
    (reading,) = both_paths(client, [QueueSource("q")])
    assert reading.oldest_age_seconds == 0.0


# Messages where Lua's cjson and Python's json could disagree: numbers, nesting, odd JSON.
# Times are before NOW: a future time would read as age 0 on both paths and hide a difference.
PARITY_MESSAGES = [
    {"timestamp": 1795676400},
    {"timestamp": 1795676400.123456},
    {"timestamp": 1795676400123},
    {"timestamp": 1795676400123.456},  # 16 significant digits: Lua's default %.14g would lose some
    {"timestamp": 1795676400123456789},  # beyond 2^53: both round the same way
    {"timestamp": -5},
    {"timestamp": 0},
    {"timestamp": 1e300},
    {"timestamp": "1795676400123"},
    {"timestamp": "1795676400.5"},
    {"timestamp": "2026-11-26T07:00:02.123456"},
    {"timestamp": "2026-11-26T07:00:02.123456789Z"},
    {"timestamp": "2026-11-26T07:01:02+01:00"},
    {"timestamp": "2026-11-26"},
    {"timestamp": "ünïcödé"},
    {"timestamp": ""},
    {"timestamp": []},
    {"timestamp": {}},
    {"timestamp": False},
    {"timestamp": None},
    {"timestamp": 1, "nested": {"timestamp": 2}},
    {"payload": {"created_at": "2026-11-26T07:00:02.5Z"}},
    {"payload": []},
    {"payload": None},
    {"payload": {"created_at": {"deeper": 1}}},
    {"1": {"2": 1795676400.25}},
    [1, 2, 3],
    "just a string",
    42,
    None,
]
PARITY_RAW = [b"", b"{", b"nope", b"\xff\xfe{}", b'{"timestamp": 1795676462, }', b" {\"timestamp\": 5} ", b'{"timestamp": "\\u00e9"}']
PARITY_FIELDS = ["timestamp", "payload.created_at", "1.2", "nested.timestamp"]


def test_script_and_pipeline_give_identical_readings(redis_plain):
    client = redis_plain.client()
    raws = [json.dumps(m).encode() for m in PARITY_MESSAGES] + PARITY_RAW
    sources = []
    for index, raw in enumerate(raws):
        client.lpush(f"q{index}", raw)
        for field in PARITY_FIELDS:
            for fmt in TimestampFormat:
                sources.append(QueueSource(f"q{index}", timestamp_field=field, timestamp_format=fmt))
    readings = both_paths(client, sources, batch_size=97)  # several batches, one part-full
    assert len(readings) == len(sources)
    assert sum(r.parse_error is None and r.oldest_age_seconds > 0 for r in readings) > 40
    assert any(r.parse_error == "not JSON" for r in readings)


def test_alike_queues_are_read_a_column_at_a_time_with_the_same_readings():
    """A call whose queues all have the same lists and time format is read without a loop per queue
    field; its readings equal the general ones, and anything unusual takes the general path."""
    part = [QueueSource(f"q{i}", f"q{i}:p", f"q{i}:d") for i in range(4)]
    call = plain._Call(b"", part, (True, True, TimestampFormat.AUTO))
    counts = [3, 0, 1, 0, 0, 0, 7, 2, 0, 1, 1, 1]
    statuses = "SESS"
    texts = [utc_naive(10), "", "2026-11-26T07:00:02+01:00", utc_naive(-5)]
    alike = plain._alike_readings(call, counts, statuses, texts, NOW)
    assert alike == plain._readings(part, counts, statuses, texts, NOW, TIMESTAMP_PREFIX_BYTES)
    assert [r.depth for r in alike] == [3, 0, 7, 1] and [r.dead_letter for r in alike] == [1, 0, 0, 1]
    assert [r.oldest_age_seconds for r in alike] == [pytest.approx(10), 0.0, pytest.approx(3660), 0.0]  # the last is in the future
    for unusual in (
        (counts[:4] + [-1] + counts[5:], statuses, texts),  # a key of another type
        (counts, "SJSS", texts),  # not JSON
        (counts, statuses, [texts[0], "", "1795676400", texts[3]]),  # a number as text: the general path reads it
    ):
        assert plain._alike_readings(call, *unusual, NOW) is None
    assert plain._alike_readings(call._replace(alike=None), counts, statuses, texts, NOW) is None
    wip_only = [QueueSource(f"w{i}", f"w{i}:p") for i in range(2)]
    assert plain._alike_readings(plain._Call(b"", wip_only, (True, False, TimestampFormat.ISO8601)), [4, 1, 0, 0], "SE", [utc_naive(1), ""], NOW) == plain._readings(
        wip_only, [4, 1, 0, 0], "SE", [utc_naive(1), ""], NOW, TIMESTAMP_PREFIX_BYTES
    )


def test_a_thousand_alike_queues_read_the_same_on_every_path(redis_plain):
    client = redis_plain.client()
    pipe = client.pipeline(transaction=False)
    sources = []
    for i in range(1000):
        if i % 4:
            pipe.lpush(f"a{i}", envelope(i))
        if i % 7 == 0:
            pipe.lpush(f"a{i}:p", "x")
        if i == 500:
            pipe.set(f"a{i}:d", "a string")  # one call of ten is not alike: the general path
        sources.append(QueueSource(f"a{i}", f"a{i}:p", f"a{i}:d"))
    pipe.execute()
    readings = both_paths(client, sources)
    assert sum(r.depth for r in readings) == 750 and readings[500].wrong_type_keys == ("a500:d",)
    assert readings[999].oldest_age_seconds == pytest.approx(999, abs=1e-3) and readings[4].oldest_age_seconds == 0.0


def test_the_calls_of_a_read_are_kept_for_the_next_read_of_the_same_queues_only(redis_plain, monkeypatch):
    client = redis_plain.client()
    sources = seed_queues(client, 250)
    made = []
    write = plain._batch
    monkeypatch.setattr(plain, "_batch", lambda *args: made.append(len(args[0])) or write(*args))
    first = read_queues(client, sources, now=NOW)
    assert made == [250]
    client.lpush("q:1", envelope(600))  # the data may change; the queues are the same
    again = read_queues(client, [QueueSource(s.key, s.processing_key, s.dead_letter_key) for s in sources], now=NOW)
    assert made == [250] and again.readings[1].depth == first.readings[1].depth + 1
    read_queues(client, sources[:-1], now=NOW)  # other queues: written anew
    assert made == [250, 249]
    monkeypatch.setattr(plain, "MAX_KEPT_BYTES", 100)  # too many bytes to keep: written every time
    for _ in range(2):
        read_queues(client, sources, now=NOW)
    assert made == [250, 249, 250, 250]


def test_a_lone_surrogate_escape_is_not_json_on_every_path(redis_plain):
    # cjson refuses a \ud800 escape with no pair; Python's json keeps it, and encoding it crashed the
    # pipelines' read. A pair is one character to both.
    client = redis_plain.client()
    client.lpush("lone", b'{"timestamp": "\\ud800"}')
    client.lpush("elsewhere", b'{"timestamp": "2026-11-26T07:00:02", "note": "\\udc00"}')
    client.lpush("pair", b'{"timestamp": "2026-11-26T07:00:02", "note": "\\ud83d\\ude00"}')
    lone, elsewhere, pair = both_paths(client, [QueueSource("lone"), QueueSource("elsewhere"), QueueSource("pair")])
    assert lone.parse_error == elsewhere.parse_error == "not JSON" and lone.oldest_age_seconds is None
    assert pair.parse_error is None and pair.oldest_age_seconds == pytest.approx(60)


def test_epoch_millis_keep_sub_second_precision_on_both_paths(redis_plain):
    client = redis_plain.client()
    client.lpush("q", json.dumps({"t": (NOW - 1.5) * 1000 + 0.25}))  # 1795676460500.25: 16 digits
    (reading,) = both_paths(client, [QueueSource("q", timestamp_field="t", timestamp_format="epoch_millis")])
    assert reading.oldest_age_seconds == pytest.approx(1.5 - 0.00025, abs=1e-6)


def output_bytes(client, read) -> int:
    before = client.info("stats")["total_net_output_bytes"]
    read()
    return client.info("stats")["total_net_output_bytes"] - before


def test_payloads_up_to_the_decode_limit_stay_on_the_server_with_the_script(redis_plain):
    client = redis_plain.client()
    client.lpush("q", json.dumps({"timestamp": utc_naive(60), "payload": "x" * 15_000}))
    sources = [QueueSource("q")] * 20
    scripted = output_bytes(client, lambda: read_queues(client, sources, now=NOW))
    pipelined = output_bytes(client, lambda: read_queues(client, sources, now=NOW, use_script=False))
    assert scripted < 5_000 < 20 * 15_000 < pipelined
    (reading,) = both_paths(client, [QueueSource("q")])
    assert reading.oldest_age_seconds == pytest.approx(60, abs=1e-3)


def test_larger_messages_are_searched_in_redis_never_shipped_nor_decoded(redis_plain):
    # cjson would hold the server's only thread for the whole decode of a huge message, and shipping
    # it would bring it into the collector's memory: its first bytes are searched for the field instead.
    client = redis_plain.client()
    client.lpush("big", json.dumps({"timestamp": utc_naive(60), "payload": [{"n": i} for i in range(200_000)]}))
    client.lpush("small", envelope(30))
    client.lpush("late", json.dumps({"payload": "x" * (TIMESTAMP_PREFIX_BYTES + 10), "timestamp": utc_naive(5)}))
    sources = [QueueSource("big"), QueueSource("small"), QueueSource("late")]
    shipped = output_bytes(client, lambda: read_queues(client, sources, now=NOW))
    assert shipped < 5_000
    big, small, late = both_paths(client, sources)
    assert big.oldest_age_seconds == pytest.approx(60, abs=1e-3)
    assert small.oldest_age_seconds == pytest.approx(30, abs=1e-3)
    assert late.oldest_age_seconds is None
    assert late.parse_error == f"no field 'timestamp' in the first {TIMESTAMP_PREFIX_BYTES} bytes"


def test_parity_holds_when_every_message_is_searched(redis_plain):
    client = redis_plain.client()
    sources = []
    for index, raw in enumerate([json.dumps(m).encode() for m in PARITY_MESSAGES] + PARITY_RAW):
        client.lpush(f"q{index}", raw)
        sources += [QueueSource(f"q{index}", timestamp_field=f) for f in PARITY_FIELDS]
    searched = read_queues(client, sources, now=NOW, max_decode_bytes=0)
    piped = read_queues(client, sources, now=NOW, use_script=False, max_decode_bytes=0)
    assert searched.used_script
    assert searched.readings == piped.readings
    # Where the field is at the top level, searching finds what decoding finds.
    decoded = read_queues(client, sources, now=NOW)
    same = [(s, d) for s, d, source in zip(searched.readings, decoded.readings, sources) if "." not in source.timestamp_field and d.oldest_age_seconds is not None]
    assert same and all(s.oldest_age_seconds == d.oldest_age_seconds for s, d in same)


def test_decode_responses_clients_work_too(redis_plain):
    client = redis_plain.client(decode_responses=True)
    seed_hokusai(client)
    assert_hokusai_readings(read_queues(client, [MODEL_READY_SOURCE, MINT_SOURCE], now=NOW))
    assert discover(client, "hokusai:*").keys[0] == MINT


def test_shared_keys_and_duplicate_sources_are_fine(redis_plain):
    client = redis_plain.client()
    client.lpush("a", envelope(5))
    client.lpush("shared:dlq", "x", "y")
    sources = [QueueSource("a", dead_letter_key="shared:dlq"), QueueSource("b", dead_letter_key="shared:dlq"), QueueSource("a")]
    a, b, again = both_paths(client, sources)
    assert a.dead_letter == b.dead_letter == 2
    assert again.depth == 1 and b.depth == 0


def test_no_sources_is_no_round_trip(redis_plain):
    result = read_queues(redis_plain.client(), [], now=NOW)
    assert result.readings == () and result.round_trips == 0


def test_a_redis_with_scripting_disabled_gets_pipelines(redis_factory):
    # As a managed Redis might: the read-only script commands do not exist there.
    server = redis_factory(extra_config=('rename-command EVALSHA_RO ""', 'rename-command EVAL_RO ""'))
    seed_hokusai(server.client())
    result = read_queues(server.client(), [MODEL_READY_SOURCE, MINT_SOURCE], now=NOW)
    assert not result.used_script and result.round_trips == 2
    assert_hokusai_readings(result)


def test_script_errors_other_than_refusal_are_raised_not_hidden_by_the_fallback(redis_factory):
    # A user who may run the script but not read this key: that must surface at once rather than
    # be taken for "scripts not permitted" and retried as a pipeline.
    reader = AclUser("narrow", "narrow-password-123", "resetkeys %R~allowed:* -@all +llen +lindex +evalsha_ro +eval_ro")
    server = redis_factory(password="admin-password-123", users=(reader,))
    client = server.client(username=reader.name, password=reader.password)
    assert read_queues(client, [QueueSource("allowed:q")], now=NOW).used_script
    server.client().config_resetstat()
    # The plain script names its lists as KEYS, so the ACL refuses the call before it runs.
    with pytest.raises(redis.ResponseError, match="can't access|no permissions to access one of the keys"):
        read_queues(client, [QueueSource("forbidden:q")], now=NOW)
    stats = server.client().info("commandstats")
    refused = [stats.get(f"cmdstat_{name}", {}) for name in ("eval_ro", "evalsha_ro")]
    assert sum(s.get("failed_calls", 0) + s.get("rejected_calls", 0) for s in refused) == 1
    assert "cmdstat_lindex" not in stats  # no pipeline (LLEN + LINDEX) was tried after the failure


# ---------------------------------------------------------------- round trips, counted independently


class _Counting(redis.Connection):
    sent = 0

    def send_packed_command(self, command, check_health=True):
        type(self).sent += 1
        return super().send_packed_command(command, check_health)


def counting_client(server):
    counting = type("Counting", (_Counting,), {"sent": 0})
    pool = redis.ConnectionPool(host=server.host, port=server.port, connection_class=counting)
    client = redis.Redis(connection_pool=pool, retry=Retry(NoBackoff(), 0))
    client.execute_command("ECHO", "connect")  # handshake (HELLO, CLIENT SETINFO) out of the count
    counting.sent = 0
    return client, counting


def seed_queues(client, count: int) -> list[QueueSource]:
    pipe = client.pipeline(transaction=False)
    for index in range(count):
        pipe.lpush(f"q:{index}", envelope(index % 500))
        if index % 3 == 0:
            pipe.lpush(f"q:{index}:processing", "x")
    pipe.execute()
    return [QueueSource(f"q:{i}", f"q:{i}:processing", f"q:{i}:dlq") for i in range(count)]


def script_calls(client) -> int:
    stats = client.info("commandstats")
    return sum(stats.get(f"cmdstat_{name}", {}).get("calls", 0) for name in ("evalsha_ro", "eval_ro"))


def test_round_trips_are_at_most_one_per_thousand_queues_plus_one(redis_plain):
    sources = seed_queues(redis_plain.client(), 2500)
    client, counting = counting_client(redis_plain)
    bound = math.ceil(len(sources) / 1000) + 1

    cold = read_queues(client, sources, now=NOW)  # script not cached yet: the first call is EVAL_RO, which caches it
    assert (cold.round_trips, counting.sent) == (bound - 1, bound - 1)
    # One call per SCRIPT_QUEUES_PER_CALL queues, none answered NOSCRIPT.
    calls = math.ceil(len(sources) / SCRIPT_QUEUES_PER_CALL)
    assert script_calls(redis_plain.client()) == calls

    counting.sent = 0
    warm = read_queues(client, sources, now=NOW)
    assert (warm.round_trips, counting.sent) == (bound - 1, bound - 1)

    counting.sent = 0
    piped = read_queues(client, sources, now=NOW, use_script=False)
    assert (piped.round_trips, counting.sent) == (bound - 1, bound - 1)
    assert cold.readings == warm.readings == piped.readings
    assert sum(r.in_flight for r in warm.readings) == 834


def test_round_trips_of_the_fallback_include_the_refused_call(redis_acl):
    sources = seed_queues(redis_acl.admin(), 1500)
    result = read_queues(redis_acl.client_for(redis_acl.reader_noscript), sources, now=NOW)
    assert not result.used_script
    assert result.round_trips == math.ceil(1500 / 1000) + 1
    assert len(result.readings) == 1500


# ---------------------------------------------------------------- read only, proven


def snapshot(client) -> dict:
    """Every key's serialized value and absolute expiry time, byte for byte."""
    return {
        key: (client.dump(key), client.execute_command("PEXPIRETIME", key))
        for key in client.scan_iter(count=1000)
    }


def test_reading_never_changes_a_byte_and_runs_only_read_commands(redis_acl):
    admin = redis_acl.admin()
    sources = seed_queues(admin, 300)
    seed_hokusai(admin)
    admin.set("a:string", "v")
    admin.hset("a:hash", "f", "v")
    admin.zadd("a:zset", {"m": 1})
    admin.xadd("a:stream", {"f": "v"})
    admin.lpush("expiring", envelope(1))
    admin.expire("expiring", 3600)
    sources += [MODEL_READY_SOURCE, MINT_SOURCE, QueueSource("a:string", "a:hash", "a:zset"), QueueSource("expiring")]
    before = snapshot(admin)
    admin.script_flush()
    admin.config_resetstat()

    for client in (admin, redis_acl.client_for(redis_acl.reader), redis_acl.client_for(redis_acl.reader_noscript)):
        for _ in range(5):
            read_queues(client, sources, now=NOW, batch_size=64)
            read_queues(client, sources, now=NOW, use_script=False, batch_size=64)
            discover(client, "*", scan_count=50)

    executed = {
        name.removeprefix("cmdstat_").split("|")[0]
        for name, stats in admin.info("commandstats").items()
        if stats["calls"] > 0
    }
    assert snapshot(admin) == before
    assert {"llen", "lindex", "scan", "evalsha_ro", "eval_ro"} <= executed
    table = admin.command()
    assert executed <= set(table)
    writers = {name for name in executed if "write" in table[name]["flags"]}
    assert writers == set()
    # Everything run was the reader's, a connection handshake, or this test's CONFIG RESETSTAT / INFO.
    assert executed <= {"llen", "lindex", "scan", "evalsha_ro", "eval_ro", "hello", "client", "config", "info"}


# ---------------------------------------------------------------- discovery


def test_discovery_lists_only_matching_lists_sorted(redis_plain):
    client = redis_plain.client()
    for index in (3, 1, 2):
        client.lpush(f"jobs:{index}", "x")
    client.set("jobs:not-a-list", "x")
    client.hset("jobs:hash", "a", "b")
    client.lpush("other:1", "x")
    found = discover(client, "jobs:*", scan_count=2)
    assert found.keys == ("jobs:1", "jobs:2", "jobs:3")
    assert not found.truncated and not found.timed_out
    assert found.round_trips >= 2


def test_discovery_stops_at_max_keys(redis_plain):
    client = redis_plain.client()
    pipe = client.pipeline(transaction=False)
    for index in range(500):
        pipe.lpush(f"jobs:{index:03}", "x")
    pipe.execute()
    exact = discover(client, "jobs:*", max_keys=500)
    assert len(exact.keys) == 500 and not exact.truncated
    capped = discover(client, "jobs:*", max_keys=50, scan_count=10)
    assert len(capped.keys) == 50 and capped.truncated and not capped.timed_out
    assert list(capped.keys) == sorted(capped.keys)
    assert capped.round_trips < 20  # stopped early rather than walking all 500 keys


def test_discovery_stops_at_the_time_budget(redis_plain):
    client = redis_plain.client()
    pipe = client.pipeline(transaction=False)
    for index in range(2000):
        pipe.lpush(f"jobs:{index}", "x")
    pipe.execute()
    ticks = iter(range(100))
    found = discover(client, "jobs:*", scan_count=100, time_budget_seconds=3, clock=lambda: next(ticks))
    assert found.timed_out and not found.truncated
    assert found.round_trips == 3  # clock reads 0 at the start, then 1, 2, 3 after each SCAN
    assert 0 < len(found.keys) < 2000
    real = discover(client, "jobs:*", scan_count=10, time_budget_seconds=0.0)
    assert real.timed_out and real.round_trips == 1


def test_discovery_counts_keys_whose_names_are_not_utf8(redis_plain):
    client = redis_plain.client()
    client.lpush(b"jobs:\xff", "x")
    client.lpush("jobs:ok", "x")
    found = discover(client, "jobs:*")
    assert found == Discovery(("jobs:ok",), False, False, 1, undecodable_keys=1)


# ---------------------------------------------------------------- connection errors reach the caller


def no_retry_client(host, port, **kwargs):
    return redis.Redis(host=host, port=port, retry=Retry(NoBackoff(), 0), **kwargs)


def test_a_server_that_is_down_raises_connection_error(redis_factory):
    server = redis_factory()
    server.stop()
    client = no_retry_client(server.host, server.port)
    with pytest.raises(redis.ConnectionError):
        read_queues(client, [MINT_SOURCE], now=NOW)
    with pytest.raises(redis.ConnectionError):
        discover(client, "*")


def test_a_server_that_never_answers_raises_timeout(hung_server):
    client = no_retry_client(hung_server.host, hung_server.port, socket_timeout=0.3, socket_connect_timeout=0.3)
    started = time.monotonic()
    with pytest.raises(redis.TimeoutError):
        read_queues(client, [MINT_SOURCE], now=NOW)
    with pytest.raises(redis.TimeoutError):
        discover(client, "*")
    assert time.monotonic() - started < 5


def test_a_wrong_password_raises_authentication_error(redis_password):
    client = no_retry_client(redis_password.host, redis_password.port, password="wrong-password-123")
    with pytest.raises(redis.AuthenticationError):
        read_queues(client, [MINT_SOURCE], now=NOW)


def test_a_restart_mid_life_is_survived_by_reloading_the_script(redis_factory):
    server = redis_factory()
    client = server.client()
    server.client().lpush("q", envelope(7))
    assert read_queues(client, [QueueSource("q")], now=NOW).used_script
    server.stop()
    server.start()  # the script cache is gone with the old process
    server.client().lpush("q", envelope(8))
    result = read_queues(client, [QueueSource("q")], now=NOW)
    assert result.used_script and result.round_trips == 1  # EVAL_RO first: no NOSCRIPT round trip
    assert result.readings[0].oldest_age_seconds == pytest.approx(8, abs=1e-3)
