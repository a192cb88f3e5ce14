"""Make an RQ queue with RQ's own API, then print RQ's own counts as JSON (run in .frameworks/py)."""

import datetime
import json
import os
import signal
import subprocess
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
# A job in flight: a worker takes it, then dies (SIGKILL) with it started, as a crashed worker does.
queue.enqueue(fw_tasks.slow)
worker = subprocess.Popen(
    [sys.executable, "-c", f"from redis import Redis; from rq import Queue, SimpleWorker; SimpleWorker([Queue('default', connection=Redis(port={sys.argv[1]}))], connection=Redis(port={sys.argv[1]})).work(burst=True)"],
    cwd=os.path.dirname(os.path.abspath(__file__)),
    stdout=subprocess.DEVNULL,
    stderr=subprocess.DEVNULL,
)
deadline = time.monotonic() + 60
while queue.started_job_registry.count < 1:
    assert time.monotonic() < deadline, "the worker did not start the job"
    time.sleep(0.05)
worker.send_signal(signal.SIGKILL)
worker.wait()
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
