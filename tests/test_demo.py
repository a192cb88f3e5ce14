"""make demo's entry point: the whole job on a local redis-server and the AWS emulator."""

from __future__ import annotations

import io
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from monitor.commands.cli import main
from monitor.commands.demo import run_demo
from monitor.errors import ExitStatus

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def demo():
    out = io.StringIO()
    started = time.monotonic()
    result = run_demo(str(ROOT / "alarms.yaml"), out, main)
    yield result, out.getvalue(), time.monotonic() - started
    shutil.rmtree(result.directory, ignore_errors=True)


def states_of(result, fragment: str) -> dict[str, str]:
    return {name: state for name, state in result.states.items() if fragment in name}


def test_the_model_ready_queue_alarms_fire(demo):
    result, _, _ = demo
    ready = states_of(result, "model_ready_queue")
    assert ready["hokusai-queues-demo-hokusai-model_ready_queue-queue-depth-critical"] == "ALARM"
    assert ready["hokusai-queues-demo-hokusai-model_ready_queue-processing-lag-critical"] == "ALARM"
    assert ready["hokusai-queues-demo-hokusai-model_ready_queue-dead-letter-depth-warning"] == "ALARM"
    assert result.states["hokusai-queues-demo-redis-primary-connection-failure-critical"] == "ALARM"


def test_the_mint_queue_stays_ok(demo):
    result, _, _ = demo
    mint = states_of(result, "mint_requests")
    assert len(mint) == 11 and set(mint.values()) == {"OK"}  # 10 tiers and the unhealthy composite
    assert result.states["hokusai-queues-demo-redis-primary-collector-heartbeat-critical"] == "OK"


def test_the_output_shows_what_a_person_wants(demo):
    _, text, _ = demo
    assert "Plan: 24 to create, 0 to update, 0 to delete" in text
    assert "minute  0  model_ready_queue depth=1500 age=9" in text  # the 15-minute-old backlog, published
    assert "Redis unreachable (refused): ConnectionFailure=1" in text
    assert "dead-letter-arrivals-critical: OK at minute 1, ALARM at minute 4" in text  # a DLQ arrival pages
    assert "hokusai:model_ready_queue   " in text and "connection FAILING" in text  # the status table
    # Its trend: the backlog grew during the simulated minutes (ASCII bars: the output is not a terminal).
    assert "DEPTH 10m" in text
    assert re.search(r"hokusai:model_ready_queue +\d+  [ _.:=+*#-]{8} \+\d+  ", text), text
    assert "Why they fire" in text and "above 1000 in 3 of the last 5 one-minute periods" in text
    assert "dashboard JSON:" in text


def test_it_leaves_nothing_running_and_only_the_dashboard_behind(demo):
    result, _, _ = demo
    assert [p.name for p in result.directory.iterdir()] == [result.dashboard_path.name]
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", result.redis_port), timeout=1).close()
    assert "MONITOR_ENV" not in os.environ and "DEMO_REDIS_PORT" not in os.environ


def test_without_redis_server_it_says_how_to_install_it(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    env = {**os.environ, "PATH": str(bin_dir)}
    run = subprocess.run([sys.executable, "-m", "monitor", "demo"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == ExitStatus.REDIS_FAILURE
    assert "apt-get install redis-server" in run.stderr and "Traceback" not in run.stderr
