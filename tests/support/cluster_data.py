"""Queues to seed a test cluster with."""

from __future__ import annotations

from monitor.local import samples
from monitor.spec.sources import QueueSource


def seed(client, now, count=30):
    """Queues whose main, processing and DLQ keys are spread over slots; depth i+1, oldest i*10 s."""
    sources = []
    for i in range(count):
        key = f"tenant:{i}:jobs"
        for j in range(i + 1):
            client.lpush(key, samples.mint_request(now - i * 10 + j * 0.001, j))
        client.lpush(f"{key}:processing", "x")
        for _ in range(i % 3):
            client.lpush(f"{key}:dlq", "y")
        sources.append(QueueSource(key, processing_key=f"{key}:processing", dead_letter_key=f"{key}:dlq"))
    return sources
