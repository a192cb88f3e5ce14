"""Make an RQ queue with RQ's own API, then print RQ's own counts as JSON (run in .frameworks/py)."""

import datetime
import json
import sys
import time

from redis import Redis
from rq import Queue, SimpleWorker

import fw_tasks

redis = Redis(port=int(sys.argv[1]))
queue = Queue("default", connection=redis)
# A failed job, made by RQ's worker running a task that raises.
queue.enqueue(fw_tasks.boom)
SimpleWorker([queue], connection=redis).work(burst=True)
# A backlog in batches a second apart, and scheduled jobs (one already due). A job enqueued with
# at_front=True would hide the oldest one in the middle of the list (docs/frameworks.md): not here.
for batch in range(3):
    if batch:
        time.sleep(1.0)
    for _ in range(4):
        queue.enqueue(fw_tasks.ok, batch)
queue.enqueue_in(datetime.timedelta(minutes=10), fw_tasks.ok, "later")
queue.enqueue_at(datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=30), fw_tasks.ok, "overdue")
jobs = queue.get_jobs()
print(json.dumps({
    "waiting": queue.count,
    "oldest_enqueued_at": min(j.enqueued_at.replace(tzinfo=datetime.timezone.utc).timestamp() for j in jobs),
    "in_flight": queue.started_job_registry.count,
    "dead": queue.failed_job_registry.count,
    "delayed": queue.scheduled_job_registry.count,
}))
