"""plan/apply as a user runs them: subprocesses talking HTTP to a moto server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from support_aws import FAKE_CREDENTIALS, aws_credentials  # noqa: F401 (fixtures)

from monitor.errors import ExitStatus

ROOT = Path(__file__).resolve().parent.parent


def cli(endpoint: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **FAKE_CREDENTIALS, "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"}
    env.pop("AWS_PROFILE", None)
    env.pop("RUNBOOK_BASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args, "--env", "development", "--endpoint-url", endpoint],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


def test_plan_apply_plan(moto_server):  # noqa: F811
    first = cli(moto_server, "plan", "--detailed-exitcode")
    assert first.returncode == ExitStatus.CHANGES_PENDING, first.stderr
    assert "Plan: 24 to create, 0 to update, 0 to delete, 0 unchanged." in first.stdout
    assert "+ alarm hokusai-queues-development-redis-primary-collector-heartbeat-critical" in first.stdout
    assert "Cost (us-east-1 list prices of" in first.stdout
    assert "warning: alarms.yaml:" in first.stderr and "RUNBOOK_BASE_URL" in first.stderr  # runbooks not yet linked

    refused = cli(moto_server, "apply")  # stdin is not a terminal and no --yes
    assert refused.returncode == ExitStatus.INVALID
    assert "apply needs --yes" in refused.stderr and "Traceback" not in refused.stderr

    applied = cli(moto_server, "apply", "--yes", "--write-rate", "0")
    assert applied.returncode == ExitStatus.SUCCESS, applied.stderr
    assert "Apply: 24 succeeded, 0 failed, 0 conflicts left as they are." in applied.stdout

    again = cli(moto_server, "plan", "--detailed-exitcode")
    assert again.returncode == ExitStatus.SUCCESS, again.stdout + again.stderr
    assert "Plan: 0 to create, 0 to update, 0 to delete, 24 unchanged." in again.stdout

    as_json = cli(moto_server, "plan", "--output", "json")
    assert as_json.returncode == ExitStatus.SUCCESS
    document = json.loads(as_json.stdout)
    assert document["plan"]["summary"]["unchanged"] == 24 and document["plan"]["changes"] == []
    assert document["region"] == "us-east-1" and document["owner"] == "hokusai-queues/development"
    assert document["cost"]["alarms"] == 23


def test_unreachable_aws_is_one_line(aws_credentials):  # noqa: F811
    result = cli("http://127.0.0.1:9", "plan", "--no-metric-check")
    # Connection refused is retried by botocore (standard mode) and then reported in one line.
    assert result.returncode == ExitStatus.AWS_FAILURE
    # Spec warnings (e.g. runbooks not yet linked) come first; the failure itself is one line.
    errors = [line for line in result.stderr.splitlines() if not line.startswith("warning: ")]
    assert errors == ['error: cannot reach AWS at http://127.0.0.1:9/']
