"""The retry policy every AWS client gets (monitor.cloudwatch.clients.Retries): what botocore deems
retryable, full-jitter backoff under a cap, no shared quota, a time budget per call."""

from __future__ import annotations

import random

import boto3
import botocore.exceptions
import pytest
from support_aws import inject, no_backoff  # noqa: F401 (fixtures)

from monitor.cloudwatch import clients as aws_module
from monitor.cloudwatch.clients import Aws, Retries


def test_backoff_is_full_jitter_doubling_up_to_the_cap():
    retries = Retries(base=0.5, cap=20, rng=random.Random(7))
    for attempt in range(1, 12):
        ceiling = min(20, 0.5 * 2 ** (attempt - 1))
        delays = [retries.delay(attempt) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > 0.8 * ceiling  # spread over the whole range, not a fixed step


def aws_with(retries: Retries) -> Aws:
    return Aws(boto3.session.Session(region_name="us-east-1"), endpoint_url="http://127.0.0.1:9", retries=lambda: retries)


def test_a_long_storm_of_throttling_is_retried_until_the_attempt_cap_not_a_quota(aws_env, no_backoff):  # noqa: F811
    aws = aws_with(Retries(rng=random.Random(1)))
    failed = inject(aws.cloudwatch, "DescribeAlarms", lambda request: True)
    for _ in range(30):  # botocore's standard quota (500 tokens, 5 a retry) would be gone after 100 retries
        with pytest.raises(botocore.exceptions.ClientError) as caught:
            aws.cloudwatch.describe_alarms()
        assert caught.value.response["Error"]["Code"] == "Throttling"
    assert len(failed) == 30 * aws_module.MAX_ATTEMPTS and aws.retries == 30 * (aws_module.MAX_ATTEMPTS - 1)


def test_retries_stop_when_the_calls_time_budget_is_spent(aws_env, no_backoff):  # noqa: F811
    now = [0.0]

    def clock() -> float:
        now[0] += 25.0  # each attempt and its backoff "take" 25 s
        return now[0]

    aws = aws_with(Retries(budget_seconds=120, clock=clock, rng=random.Random(2)))
    failed = inject(aws.cloudwatch, "PutDashboard", lambda request: True)
    with pytest.raises(botocore.exceptions.ClientError):
        aws.cloudwatch.put_dashboard(DashboardName="d", DashboardBody="{}")
    assert 3 <= len(failed) <= 6 < aws_module.MAX_ATTEMPTS


def test_an_error_that_is_not_transient_is_not_retried(aws_env, no_backoff):  # noqa: F811
    aws = aws_with(Retries())
    failed = inject(aws.cloudwatch, "DescribeAlarms", lambda request: True, code="AccessDenied", message="no")
    with pytest.raises(botocore.exceptions.ClientError):
        aws.cloudwatch.describe_alarms()
    assert len(failed) == 1 and aws.retries == 0
