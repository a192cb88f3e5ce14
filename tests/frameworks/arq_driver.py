"""Make an arq queue with arq's own API, then print its own view as JSON (run in .frameworks/arq)."""

import asyncio
import json
import sys
from datetime import timedelta

from arq import create_pool
from arq.connections import RedisSettings
from arq.jobs import JobStatus
from arq.worker import Worker


async def ok(ctx, value):
    return value


async def boom(ctx):
    raise ValueError("boom: a job that fails")


async def main():
    settings = RedisSettings(host="127.0.0.1", port=int(sys.argv[1]))
    redis = await create_pool(settings)
    # A failed job, run by arq's worker: arq keeps its result, not the job, so the queue forgets it.
    await redis.enqueue_job("boom")
    worker = Worker(functions=[ok, boom], redis_settings=settings, burst=True, poll_delay=0.05, max_tries=1, handle_signals=False)
    await worker.main()
    failed = worker.jobs_failed
    await worker.close()
    # A backlog in batches a second apart, deferred jobs (one already due).
    jobs = []
    for batch in range(3):
        if batch:
            await asyncio.sleep(1.0)
        jobs += [await redis.enqueue_job("ok", batch) for _ in range(4)]
    jobs += [await redis.enqueue_job("ok", "later", _defer_by=timedelta(minutes=10))]
    jobs += [await redis.enqueue_job("ok", "soon", _defer_by=timedelta(milliseconds=1))]
    await asyncio.sleep(0.05)
    statuses = [await job.status() for job in jobs]
    infos = [await job.info() for job in jobs]
    queued = [info for info, status in zip(infos, statuses) if status is JobStatus.queued]
    print(json.dumps({
        "waiting": len(queued),
        "delayed": statuses.count(JobStatus.deferred),
        # A due deferred job has waited since its due time (its score), the others since enqueue.
        "oldest_enqueued_at": min(info.score for info in queued) / 1000,
        "oldest_enqueue_time": min(info.enqueue_time.timestamp() for info in queued),
        "failed": failed,
    }))
    await redis.aclose()


asyncio.run(main())
