"""`provision-alarms status` as a user runs it: a subprocess against a moto server over HTTP,
on a pipe and on a pseudo-terminal of a given width."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer
from support import terminal

from monitor.cloudwatch.alarms import render_alarms
from monitor.cloudwatch.api import put_alarms
from monitor.errors import ExitStatus
from monitor.spec import metrics
from monitor.spec.load import load_spec

ROOT = Path(__file__).resolve().parent.parent
ANSI = re.compile(r"\x1b\[[0-9;]*m")
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_DISABLE_REQUEST_COMPRESSION": "true",
}


@pytest.fixture(scope="module")
def server():
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    yield f"http://{host}:{port}"
    moto.stop()


@pytest.fixture
def endpoint(server):
    """The server, reset and loaded with the shipped development alarms and some queue data."""
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{server}/moto-api/reset", method="POST")).read()
    spec = load_spec(str(ROOT / "alarms.yaml"), environ={})
    env = spec.environment("development")
    client = boto3.client("cloudwatch", region_name="us-east-1", endpoint_url=server, aws_access_key_id="testing", aws_secret_access_key="testing")
    alarms = render_alarms(spec, env)
    put_alarms(client, alarms)
    now = datetime.now(timezone.utc) - timedelta(minutes=2)
    data = []
    for subject, values in {
        "hokusai:mint_requests": {metrics.QUEUE_DEPTH: 57, metrics.OLDEST_MESSAGE_AGE: 903, metrics.DEAD_LETTER_DEPTH: 2},
        "hokusai:model_ready_queue": {metrics.QUEUE_DEPTH: 3, metrics.OLDEST_MESSAGE_AGE: 7500, metrics.IN_FLIGHT_DEPTH: 1, metrics.DEAD_LETTER_DEPTH: 0},
        "primary": {metrics.CONNECTION_FAILURE: 0, metrics.COLLECTOR_HEARTBEAT: 1},
    }.items():
        for metric, value in values.items():
            data.append({"MetricName": metric.name, "Dimensions": metric.dimensions(env.name, subject), "Value": value, "Timestamp": now})
    # The mint queue's last half hour: 20 waiting 26 minutes ago, three more every two minutes (57 now).
    depth = metrics.QUEUE_DEPTH
    for step in range(13):
        moment = now - timedelta(minutes=26 - 2 * step)
        data.append({"MetricName": depth.name, "Dimensions": depth.dimensions(env.name, "hokusai:mint_requests"), "Value": 20 + 3 * step, "Timestamp": moment})
    client.put_metric_data(Namespace=spec.namespace, MetricData=data)
    in_alarm = next(a["AlarmName"] for a in alarms if a["AlarmName"].endswith("-hokusai-mint_requests-queue-depth-critical"))
    client.set_alarm_state(AlarmName=in_alarm, StateValue="ALARM", StateReason="depth 57 >= 50")
    return server, client, in_alarm


def child_env(**extra: str) -> dict:
    """This process's environment without what decides the output's look, then `extra` (a UTF-8 locale unless it says otherwise)."""
    decides = ("COLUMNS", "LINES", "NO_COLOR", "AWS_PROFILE", "AWS_ENDPOINT_URL", "TERM", "LANG", "LC_ALL", "LC_CTYPE")
    env = {k: v for k, v in os.environ.items() if k not in decides}
    return {**env, **AWS_ENV, "TERM": "xterm-256color", "LANG": "C.UTF-8", **extra}


def run(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "monitor", *args], cwd=ROOT, capture_output=True, text=True, env=env, timeout=60)


def run_on_pty(*args: str, columns: int, env: dict) -> tuple[int, str]:
    """Run with stdout and stderr on a pseudo-terminal `columns` wide; (exit status, output)."""
    return terminal.run_on_pty([sys.executable, "-m", "monitor", *args], cwd=ROOT, env=env, columns=columns, translate_newlines=False)


def test_piped_table_fits_columns_without_colour(endpoint):
    url, _, in_alarm = endpoint
    for columns in (80, 320):
        result = run("status", "--env", "development", "--endpoint-url", url, env=child_env(COLUMNS=str(columns)))
        assert result.returncode == ExitStatus.CHECK_FAILED, result.stderr
        assert "\x1b[" not in result.stdout
        lines = result.stdout.splitlines()
        assert lines and all(len(line) <= columns for line in lines), result.stdout
        assert lines[0].startswith("development: 1 ALARM, 19 OK (us-east-1, Hokusai/RedisQueues, ")
        assert lines[2].startswith("hokusai:mint_requests")
        # Rising over the half hour, +37 since its first point: an ASCII sparkline in a pipe.
        assert re.search(r"  57  [_.:=+*#-]{8} \+37  15m 3s  ", lines[2]), lines[2]
        assert result.stdout.isascii()
        assert lines[-1].startswith("redis primary: connection OK; last heartbeat ")
        if columns == 320:  # room for every column and every alarm's name
            assert "..." not in result.stdout and "ALARM depth/critical  OK " in lines[2]
            assert re.split(r"\s{2,}", lines[1])[2:5] == ["DEPTH 30m", "OLDEST", "OLDEST 30m"]


def test_terminal_gets_colour_and_its_own_width(endpoint):
    url, _, _ = endpoint
    for columns in (80, 200):
        code, output = run_on_pty("status", "--env", "development", "--endpoint-url", url, columns=columns, env=child_env())
        assert code == ExitStatus.CHECK_FAILED, output
        assert "\x1b[31m" in output and "\x1b[32m" in output  # red ALARM, green OK
        lines = [ANSI.sub("", line) for line in output.splitlines()]
        assert all(len(line) <= columns for line in lines), output
        mint = next(line for line in lines if line.startswith("hokusai:mint_requests"))
        assert re.search(r"  57  [▁▂▃▄▅▆▇█]{8} \+37  15m 3s  ", mint), mint
        assert "\x1b[33m+37\x1b[0m" in output  # a rising depth in yellow
        assert (max(len(line) for line in lines) > 80) == (columns == 200)


@pytest.mark.parametrize(
    "look, colour, unicode",
    [
        ({"LANG": "C"}, True, False),  # a terminal in the C locale: colour, ASCII bars
        ({"LANG": "C.UTF-8", "LC_ALL": "POSIX"}, True, False),
        ({"TERM": "dumb"}, False, False),
        ({"NO_COLOR": "1"}, False, True),  # no-color.org: colour only
    ],
    ids=["C-locale", "LC_ALL-POSIX", "TERM-dumb", "NO_COLOR"],
)
def test_a_terminal_gets_only_what_it_can_show(endpoint, look, colour, unicode):
    url, _, _ = endpoint
    code, output = run_on_pty("status", "--env", "development", "--endpoint-url", url, columns=80, env=child_env(**look))
    assert code == ExitStatus.CHECK_FAILED, output
    assert ("\x1b[" in output) == colour
    plain = ANSI.sub("", output)
    assert plain.isascii() != unicode
    assert all(len(line) <= 80 for line in plain.splitlines()), output
    mint = next(line for line in plain.splitlines() if line.startswith("hokusai:mint_requests"))
    bars = "[▁▂▃▄▅▆▇█]" if unicode else "[_.:=+*#-]"
    assert re.search(f"  57  {bars}{{8}} \\+37  15m 3s  ", mint), mint


def test_json_and_exit_zero_when_nothing_is_in_alarm(endpoint):
    url, client, in_alarm = endpoint
    client.set_alarm_state(AlarmName=in_alarm, StateValue="OK", StateReason="drained")
    result = run("status", "--env", "development", "--endpoint-url", url, "--output", "json", env=child_env())
    assert result.returncode == ExitStatus.SUCCESS, result.stderr
    document = json.loads(result.stdout)
    assert document["summary"] == {"ALARM": 0, "INSUFFICIENT_DATA": 0, "ABSENT": 0, "OK": 20}
    assert [q["queue"] for q in document["queues"]] == ["hokusai:mint_requests", "hokusai:model_ready_queue"]
    assert document["queues"][1]["in_flight"] == 1 and document["targets"][0]["connection"] == "OK"
    mint = document["queues"][0]
    assert [value for _, value in mint["series"]["depth"]] == [20 + 3 * step for step in range(13)] + [57]
    assert mint["change"]["depth"] == 37 and document["trend"] == {"since_seconds": 1800, "period_seconds": 60}


def test_since_sets_the_window(endpoint):
    url, _, _ = endpoint
    result = run("status", "--env", "development", "--endpoint-url", url, "--output", "json", "--since", "10m", env=child_env())
    document = json.loads(result.stdout)
    mint = document["queues"][0]
    assert document["trend"] == {"since_seconds": 600, "period_seconds": 60}
    values = [value for _, value in mint["series"]["depth"]]
    full = [20 + 3 * step for step in range(13)] + [57]
    assert 4 <= len(values) <= 5 and values == full[-len(values):]  # the last ten minutes (on minute boundaries)
    assert mint["change"]["depth"] == 57 - values[0]
    result = run("status", "--env", "development", "--endpoint-url", url, "--since", "2h", env=child_env(COLUMNS="200"))
    assert "DEPTH 2h" in result.stdout.splitlines()[1]
    for bad in ("30", "tomorrow", "0m", "16d"):
        result = run("status", "--env", "development", "--since", bad, env=child_env())
        assert result.returncode == ExitStatus.INVALID and "--since" in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_unreachable_endpoint_is_an_aws_failure_in_one_line():
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = run("status", "--env", "development", "--endpoint-url", f"http://127.0.0.1:{port}", env=child_env())
    assert result.returncode == ExitStatus.AWS_FAILURE
    assert result.stdout == "" and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("error: cannot reach AWS at http://127.0.0.1:")


def test_watch_must_be_positive():
    result = run("status", "--watch", "0", env=child_env())
    assert result.returncode == ExitStatus.INVALID and "above 0" in result.stderr

