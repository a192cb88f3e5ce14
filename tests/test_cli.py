"""The command line as a user runs it: a subprocess, exit statuses, one-line errors, no tracebacks."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from monitor.errors import ExitStatus

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str, cwd: Path = ROOT, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args], cwd=cwd, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=60
    )


def test_validate_accepts_the_shipped_spec():
    result = run("validate")
    assert result.returncode == ExitStatus.SUCCESS, result.stderr
    assert "alarms.yaml: valid (2 queues" in result.stdout


def test_render_json_without_credentials():
    result = run("render", "--output", "json", env={"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_PROFILE": ""})
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["environment"] == "development"
    assert len(document["alarms"]) == 23  # 20 metric alarms and 3 composites


def test_render_yaml():
    result = run("render", "--env", "demo", "--output", "yaml")
    assert result.returncode == 0 and "AlarmName: hokusai-queues-demo-" in result.stdout


def test_invalid_spec_exit_status_and_report(tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text("version: 1\nnamespace: X\nname_prefix: x\nenvironments: {}\nqueues:\n  - key: a\n    kee: b\n")
    result = run("validate", "--spec", str(spec))
    assert result.returncode == ExitStatus.INVALID
    assert "Traceback" not in result.stderr
    assert f"{spec}:7:5: queues[0].kee: unknown key 'kee'; did you mean 'key'?" in result.stderr
    assert result.stderr.strip().endswith("1 problem found")


def test_unknown_environment_is_a_usage_error():
    result = run("render", "--env", "nowhere")
    assert result.returncode == ExitStatus.INVALID
    assert "no environment 'nowhere'" in result.stderr and "development" in result.stderr


def test_usage_error_status():
    assert run("frobnicate").returncode == ExitStatus.INVALID


@pytest.fixture
def listener():
    """A local endpoint that counts connections: proof that no AWS call is attempted."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    accepted = []
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            accepted.append(conn)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}", accepted
    stop.set()
    thread.join()
    server.close()


def test_invalid_spec_makes_no_aws_call(tmp_path, listener):
    endpoint, accepted = listener
    spec = tmp_path / "bad.yaml"
    spec.write_text((ROOT / "alarms.yaml").read_text().replace("threshold: 1000", "threshold: -5"))
    commands = [["validate"], ["render"]]
    from monitor.commands.cli import build_parser

    available = build_parser()._subparsers._group_actions[0].choices  # commands that exist today
    commands += [[c, "--endpoint-url", endpoint] for c in ("plan", "apply", "status", "verify") if c in available]
    for command in commands:
        result = run(*command, "--spec", str(spec), env={"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"})
        assert result.returncode == ExitStatus.INVALID, (command, result.stderr)
        assert "threshold" in result.stderr
    assert accepted == []
