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
    assert truth["waiting"] == 12 and truth["dead"] == 1 and truth["delayed"] == 2
    check(redis_plain, "rq", "default", {**truth, "overdue": 1})
