"""Make a Dramatiq queue with Dramatiq's own API, then print its own counts as JSON (run in .frameworks/py)."""

import json
import sys
import threading
import time

import dramatiq
from dramatiq import Middleware, Worker
from dramatiq.brokers.redis import RedisBroker


class CountNacks(Middleware):
    """Counts the messages the worker moved to the dead-letter queue."""

    def __init__(self):
        self.nacked = threading.Event()

    def after_nack(self, broker, message):
        self.nacked.set()


nacks = CountNacks()
broker = RedisBroker(host="127.0.0.1", port=int(sys.argv[1]))
broker.add_middleware(nacks)
dramatiq.set_broker(broker)


@dramatiq.actor(queue_name="default", max_retries=0)
def boom():
    raise ValueError("boom: a task that fails, for the dead-letter counts")


@dramatiq.actor(queue_name="default")
def ok(value):
    return value


# A failed message, made by Dramatiq's worker running an actor that raises.
boom.send()
worker = Worker(broker, worker_threads=1, worker_timeout=100)
worker.start()
assert nacks.nacked.wait(60), "the worker did not fail the message"
worker.stop()
# A backlog in batches a second apart, and delayed messages.
sent = []
for batch in range(3):
    if batch:
        time.sleep(1.0)
    sent += [ok.send(batch) for _ in range(4)]
delayed = [ok.send_with_options(args=("later",), delay=600_000), ok.send_with_options(args=("soon",), delay=1)]
print(json.dumps({
    "sent": len(sent),
    "sent_delayed": len(delayed),
    "qsize": broker.do_qsize("default"),  # waiting + delayed + unacked, as Dramatiq's join() counts them
    "oldest_enqueued_at": min(m.message_timestamp for m in sent) / 1000,
    "dead": 1 if nacks.nacked.is_set() else 0,
}))
