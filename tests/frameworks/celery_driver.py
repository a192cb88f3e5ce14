"""Make a Celery queue (Redis broker) with Celery's own API, then print kombu's own count as JSON (.frameworks/py)."""

import json
import sys
import time

from celery import Celery
from celery.signals import before_task_publish

app = Celery("fw", broker=f"redis://127.0.0.1:{sys.argv[1]}/0")


@app.task(name="fw.ok")
def ok(value):
    return value


# A backlog in batches a second apart, at every priority, and ETA tasks (they wait in the same lists).
for batch in range(3):
    if batch:
        time.sleep(1.0)
    for priority in (0, 3, 5, 9):
        ok.apply_async((batch,), priority=priority)
ok.apply_async(("later",), countdown=600)


# The recipe of docs/frameworks.md: producers stamp the enqueue time into the message headers.
@before_task_publish.connect
def stamp(headers=None, **_):
    headers["enqueued_at"] = time.time()


stamped = []
for batch in range(2):
    if batch:
        time.sleep(1.0)
    stamped.append(time.time())
    ok.apply_async((batch,), queue="stamped")
with app.connection_for_write() as connection:
    declared = connection.default_channel.queue_declare("celery", passive=True)
    steps = connection.default_channel.priority_steps
print(json.dumps({"waiting": declared.message_count, "priority_steps": list(steps), "stamped_oldest": stamped[0]}))
