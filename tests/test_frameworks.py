"""Each framework preset against the real framework: jobs made with its own API, counts compared with its own.

The frameworks come from `make frameworks` (.frameworks/: Python ones in their own virtualenvs, BullMQ
from npm, Sidekiq from Debian). Each driver in tests/frameworks/ enqueues a backlog in batches a second
apart, priorities, delayed jobs and a job failed by the framework's worker, then prints the
framework's own counts; every value the collector would publish must equal them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from monitor.collect.collector import reading_points
from monitor.collect.reader import read_queues
from monitor.spec import metrics
from monitor.spec.presets import expand
from monitor.spec.sources import OldestEnd, QueueSource, TimestampFormat

ROOT = Path(__file__).resolve().parents[1]
DRIVERS = ROOT / "tests" / "frameworks"
FRAMEWORKS = ROOT / ".frameworks"
PYTHON = FRAMEWORKS / "py" / "bin" / "python"
ARQ_PYTHON = FRAMEWORKS / "arq" / "bin" / "python"
NODE_MODULES = FRAMEWORKS / "node" / "node_modules"
DRIVER_TIMEOUT = 120


def need(path: Path) -> None:
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make frameworks` (make test does)")


def drive(command: list[str], port: int, env: dict | None = None) -> dict:
    """Run a driver against the server on `port`; its last output line is the framework's counts."""
    done = subprocess.run(
        command + [str(port)], cwd=DRIVERS, capture_output=True, text=True, timeout=DRIVER_TIMEOUT, env={**os.environ, **(env or {})}
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def published(server, framework: str, queue: str, *, prefix: str | None = None, script: bool = True):
    """The points the collector would publish for the preset's queue, by metric name, and the reading."""
    source = expand(framework, queue, prefix)
    now = time.time()
    (reading,) = read_queues(server.client(), [source], now=now, use_script=script).readings
    return {p.metric.name: p.value for p in reading_points(reading)}, reading, now


def check(server, framework: str, queue: str, truth: dict, *, prefix: str | None = None) -> dict:
    """Every published value equals the framework's own count, on both reader paths."""
    for script in (True, False):
        points, reading, now = published(server, framework, queue, prefix=prefix, script=script)
        assert points[metrics.QUEUE_DEPTH.name] == truth["waiting"]
        assert points[metrics.QUEUE_READ_ERRORS.name] == 0 and points[metrics.MESSAGE_PARSE_ERRORS.name] == 0
        for name, part in ((metrics.IN_FLIGHT_DEPTH.name, "in_flight"), (metrics.DEAD_LETTER_DEPTH.name, "dead"), (metrics.DELAYED_TOTAL.name, "delayed"), (metrics.DELAYED_OVERDUE.name, "overdue")):
            assert points.get(name) == truth.get(part), name
        if "oldest_enqueued_at" in truth:
            assert reading.oldest_age_seconds == pytest.approx(now - truth["oldest_enqueued_at"], abs=0.01)
            assert reading.oldest_age_seconds > 2.0  # the first batch, two seconds before the last one
        else:
            assert metrics.OLDEST_MESSAGE_AGE.name not in points
    return points


def test_rq(redis_plain):
    need(PYTHON)
    truth = drive([str(PYTHON), "rq_driver.py"], redis_plain.port)
    assert truth["waiting"] == 12 and truth["in_flight"] == 1 and truth["dead"] == 1 and truth["delayed"] == 2
    check(redis_plain, "rq", "default", {**truth, "overdue": 1})


def test_bullmq(redis_plain):
    need(NODE_MODULES)
    truth = drive([shutil.which("node") or "node", "bullmq_driver.js"], redis_plain.port, {"NODE_PATH": str(NODE_MODULES)})
    assert truth["counts"]["wait"] == 12 and truth["counts"]["prioritized"] == 2 and truth["in_flight"] == 1
    assert truth["dead"] == 1 and truth["delayed"] == 2
    check(redis_plain, "bullmq", "mail", {**truth, "overdue": 1})


def sidekiq_available() -> str | None:
    """None when Ruby can load Debian's ruby-sidekiq; else why not."""
    if shutil.which("ruby") is None or shutil.which("sidekiq") is None:
        return "ruby-sidekiq is not installed (make frameworks installs it with apt-get as root or with sudo)"
    done = subprocess.run(["ruby", "-e", 'require "sidekiq"'], capture_output=True)
    return None if done.returncode == 0 else "ruby cannot load sidekiq"


def test_sidekiq(redis_plain):
    reason = sidekiq_available()
    if reason:
        pytest.skip(reason)
    truth = drive(["ruby", "sidekiq_driver.rb"], redis_plain.port)
    assert truth["waiting"] == 12 and truth["dead"] == 1 and truth["delayed"] == 2
    points = check(redis_plain, "sidekiq", "default", {**truth, "overdue": 1})
    # Sidekiq's own latency is the same age, taken a moment earlier.
    assert points[metrics.OLDEST_MESSAGE_AGE.name] >= truth["latency"] > 2.0


def test_dramatiq(redis_plain):
    need(PYTHON)
    truth = drive([str(PYTHON), "dramatiq_driver.py"], redis_plain.port)
    # Dramatiq counts waiting and delayed messages together (qsize); the preset tells them apart.
    points = check(redis_plain, "dramatiq", "default", {**truth, "waiting": truth["sent"], "delayed": truth["sent_delayed"]})
    assert points[metrics.QUEUE_DEPTH.name] + points[metrics.DELAYED_TOTAL.name] == truth["qsize"]


def test_arq(redis_plain):
    need(ARQ_PYTHON)
    truth = drive([str(ARQ_PYTHON), "arq_driver.py"], redis_plain.port)
    assert truth["failed"] == 1 and truth["waiting"] == 13 and truth["delayed"] == 1
    points = check(redis_plain, "arq", "arq:queue", truth)
    # The oldest due job is one of the first batch: its score is its enqueue time.
    assert truth["oldest_enqueued_at"] == pytest.approx(truth["oldest_enqueue_time"], abs=0.002)
    assert metrics.DEAD_LETTER_DEPTH.name not in points and metrics.IN_FLIGHT_DEPTH.name not in points


def test_celery(redis_plain):
    need(PYTHON)
    truth = drive([str(PYTHON), "celery_driver.py"], redis_plain.port)
    assert truth["waiting"] == 13 and len(truth["priority_steps"]) > 1  # several priority lists in use
    points = check(redis_plain, "celery", "celery", {"waiting": truth["waiting"]})
    assert set(points) == {metrics.QUEUE_DEPTH.name, metrics.MESSAGE_PARSE_ERRORS.name, metrics.QUEUE_READ_ERRORS.name}
    # With the producer-side stamp docs/frameworks.md shows, a plain list entry gets the age.
    source = QueueSource("stamped", oldest_end=OldestEnd.BOTH, timestamp_field="headers.enqueued_at", timestamp_format=TimestampFormat.EPOCH_SECONDS)
    now = time.time()
    (reading,) = read_queues(redis_plain.client(), [source], now=now).readings
    assert reading.depth == 2 and reading.parse_error is None
    assert reading.oldest_age_seconds == pytest.approx(now - truth["stamped_oldest"], abs=0.05)
