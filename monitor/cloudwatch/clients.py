"""boto3 clients for one region, profile and endpoint, made in one place; AWS errors in one line.

`clients(region, profile, endpoint_url)` is the factory every command uses (plan, apply, status,
verify, demo). Retries are botocore's own "standard" mode (exponential backoff with jitter on
throttling and transient errors); every client counts its calls and attempts, so commands and
tests can say exactly what they sent.
"""

from __future__ import annotations

import collections
from contextlib import contextmanager
from typing import Any, Iterator

import boto3
import botocore.exceptions
from botocore.config import Config

from monitor.errors import AwsError

# botocore "standard" retry mode: attempts per call, the first included (total_max_attempts;
# botocore's "max_attempts" would count retries only). Backoff is min(20 s, random * 2^attempt)
# (botocore.retries.standard), so 8 attempts ride out about a minute of throttling.
MAX_ATTEMPTS = 8
CONNECT_TIMEOUT_SECONDS = 5
READ_TIMEOUT_SECONDS = 30


class Aws:
    """The boto3 clients of one region/profile/endpoint, made on first use, all counting calls.

    `calls` counts API calls by operation name (once per call); `attempts` counts HTTP attempts,
    so `attempts - calls` is the number of retries botocore made.
    """

    def __init__(self, session: boto3.session.Session, *, endpoint_url: str | None = None, max_attempts: int = MAX_ATTEMPTS):
        self.session = session
        self.endpoint_url = endpoint_url
        self.region = session.region_name
        self.config = Config(
            retries={"mode": "standard", "total_max_attempts": max_attempts},
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            read_timeout=READ_TIMEOUT_SECONDS,
            # The local emulator cannot read gzipped request bodies; real AWS can.
            disable_request_compression=endpoint_url is not None,
        )
        self.calls: collections.Counter[str] = collections.Counter()
        self.attempts: collections.Counter[str] = collections.Counter()
        self._clients: dict[str, Any] = {}

    def client(self, service: str):
        if service not in self._clients:
            with translate_errors():
                client = self.session.client(service, endpoint_url=self.endpoint_url, config=self.config)
            client.meta.events.register("before-call", self._count_call)
            client.meta.events.register("before-send", self._count_attempt)
            self._clients[service] = client
        return self._clients[service]

    @property
    def cloudwatch(self):
        return self.client("cloudwatch")

    @property
    def tagging(self):
        """The Resource Groups Tagging API: every alarm's tags, 100 alarms per call."""
        return self.client("resourcegroupstaggingapi")

    def _count_call(self, model, **_):
        self.calls[model.name] += 1

    def _count_attempt(self, event_name: str, **_):
        self.attempts[event_name.rsplit(".", 1)[-1]] += 1

    @property
    def retries(self) -> int:
        return sum(self.attempts.values()) - sum(self.calls.values())


def clients(region: str | None = None, profile: str | None = None, endpoint_url: str | None = None, **kwargs) -> Aws:
    """The factory: a session for the profile and region (else the AWS configuration's region)."""
    with translate_errors():
        session = boto3.session.Session(profile_name=profile, region_name=region)
    if not session.region_name:
        raise AwsError("no AWS region: give --region, set the environment's `region` in the spec, or set AWS_REGION")
    return Aws(session, endpoint_url=endpoint_url, **kwargs)


def error_code(exc: BaseException) -> str | None:
    if isinstance(exc, botocore.exceptions.ClientError):
        return exc.response.get("Error", {}).get("Code")
    return None


def describe_error(exc: BaseException) -> str:
    """One line a person can act on, for any botocore error."""
    return " ".join(_describe_error(exc).split())


def _describe_error(exc: BaseException) -> str:
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return "no AWS credentials found (use --profile, AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
    if isinstance(exc, botocore.exceptions.ProfileNotFound):
        return f"AWS profile not found: {exc.kwargs.get('profile')}"
    if isinstance(exc, botocore.exceptions.NoRegionError):
        return "no AWS region: give --region, set the environment's `region` in the spec, or set AWS_REGION"
    if isinstance(exc, botocore.exceptions.EndpointConnectionError):
        return f"cannot reach AWS at {exc.kwargs.get('endpoint_url')}"
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        operation = getattr(exc, "operation_name", "call")
        attempts = exc.response.get("ResponseMetadata", {}).get("RetryAttempts")
        retried = f" (after {attempts} retries)" if attempts else ""
        return f"{operation}: {error.get('Code', 'error')}: {error.get('Message') or 'no message'}{retried}"
    if isinstance(exc, botocore.exceptions.BotoCoreError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


@contextmanager
def translate_errors() -> Iterator[None]:
    """Turn any botocore error into an AwsError with one clear line (no traceback)."""
    try:
        yield
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise AwsError(describe_error(exc)) from exc
