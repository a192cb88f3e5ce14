"""Messages exactly as the hokusai producers write them, for the demo and the tests.

- hokusai:model_ready_queue: LPUSHed envelopes whose `timestamp` is datetime.utcnow().isoformat()
  (no zone: UTC); consumers BRPOPLPUSH the tail into :processing; failures go to :dlq wrapped as
  {"original_message": "<envelope JSON>", "error", "failed_at", "original_queue"}.
- hokusai:mint_requests: raw JSON LPUSHed with an ISO-8601 UTC `timestamp`; the consumer
  (hokusai-token's contract-deployer) BRPOPLPUSHes into :processing, parks transient failures in the
  sorted set :retry (score = due time, epoch ms) and LPUSHes them back when due; dead letters in :dlq.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

MODEL_READY = "hokusai:model_ready_queue"
MODEL_READY_PROCESSING = f"{MODEL_READY}:processing"
MODEL_READY_DLQ = f"{MODEL_READY}:dlq"
MINT = "hokusai:mint_requests"
MINT_DLQ = f"{MINT}:dlq"
MINT_PROCESSING = f"{MINT}:processing"
MINT_RETRY = f"{MINT}:retry"


def utc_naive(epoch: float) -> str:
    """What datetime.utcnow().isoformat() printed at that moment."""
    return datetime.fromtimestamp(epoch, timezone.utc).replace(tzinfo=None).isoformat()


def model_ready_envelope(enqueued_at: float, message_id: str, model_id: str = "model-7") -> str:
    return json.dumps(
        {
            "message_id": message_id,
            "message_type": "model_ready",
            "payload": {"model_id": model_id, "model_version": "3", "metrics": {"accuracy": 0.93}},
            "timestamp": utc_naive(enqueued_at),
            "retry_count": 0,
            "max_retries": 3,
        }
    )


def model_ready_dead_letter(enqueued_at: float, failed_at: float, message_id: str, error: str = "registry returned 500") -> str:
    return json.dumps(
        {
            "original_message": model_ready_envelope(enqueued_at, message_id),
            "error": error,
            "failed_at": utc_naive(failed_at),
            "original_queue": MODEL_READY,
        }
    )


def mint_request(enqueued_at: float, token_id: int) -> str:
    when = datetime.fromtimestamp(enqueued_at, timezone.utc).isoformat()
    return json.dumps({"token_id": token_id, "wallet": "0x4b1e0000000000000000000000000000000000aa", "amount": "1", "timestamp": when})


def push_backlog(client, now: float, count: int, oldest_age: float, *, start_id: int = 0) -> None:
    """LPUSH `count` envelopes whose enqueue times spread from `oldest_age` ago to now, oldest first."""
    pipe = client.pipeline(transaction=False)
    for i in range(count):
        age = oldest_age * (1 - i / max(count - 1, 1))
        pipe.lpush(MODEL_READY, model_ready_envelope(now - age, f"m-{start_id + i}"))
    pipe.execute()


def seed_hokusai(
    client,
    now: float,
    *,
    backlog: int = 1500,
    oldest_age: float = 900,
    in_flight: int = 2,
    dead_letters: int = 3,
    mint: int = 4,
    mint_in_flight: int = 0,
    mint_retrying: int = 0,
) -> None:
    """The demo's state: a model-ready backlog with stuck and dead messages, a healthy mint queue."""
    push_backlog(client, now, backlog, oldest_age)
    pipe = client.pipeline(transaction=False)
    for i in range(in_flight):
        pipe.lpush(MODEL_READY_PROCESSING, model_ready_envelope(now - oldest_age - 600 + i, f"stuck-{i}"))
    for i in range(dead_letters):
        pipe.lpush(MODEL_READY_DLQ, model_ready_dead_letter(now - 3600 + i, now - 1800 + i, f"dead-{i}"))
    for i in range(mint):
        pipe.lpush(MINT, mint_request(now - 20 + i * 5, 1000 + i))
    for i in range(mint_in_flight):
        pipe.lpush(MINT_PROCESSING, mint_request(now - 60 + i, 2000 + i))
    for i in range(mint_retrying):  # due in 30 s, as the consumer's backoff would set it
        pipe.zadd(MINT_RETRY, {mint_request(now - 90 + i, 3000 + i): int((now + 30) * 1000)})
    pipe.execute()
