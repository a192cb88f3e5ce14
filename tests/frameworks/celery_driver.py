"""Make a Celery queue (Redis broker) with Celery's own API, then print kombu's own count as JSON (.frameworks/py)."""

import json
import sys
import time

from celery import Celery

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
with app.connection_for_write() as connection:
    declared = connection.default_channel.queue_declare("celery", passive=True)
    steps = connection.default_channel.priority_steps
print(json.dumps({"waiting": declared.message_count, "priority_steps": list(steps)}))
