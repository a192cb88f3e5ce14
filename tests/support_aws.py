"""Helpers for the provisioner's AWS tests: a moto server over HTTP, fault injection, call counts.

The moto server itself and the dummy credentials are conftest's (moto_server, aws_env); test
modules import the provisioner-specific helpers from here.
"""

from __future__ import annotations

import json
from typing import Callable

import pytest
from botocore.awsrequest import AWSResponse
from support.servers import AWS_TEST_ENV

from monitor.cloudwatch import clients as aws_module

FAKE_CREDENTIALS = AWS_TEST_ENV


@pytest.fixture
def aws_credentials(aws_env):
    """Fake credentials and no profile, so nothing can reach a real account (conftest's aws_env)."""


def _cbor_text(text: str) -> bytes:
    data = text.encode()
    assert len(data) < 256
    return (bytes([0x60 + len(data)]) if len(data) < 24 else bytes([0x78, len(data)])) + data


def error_response(request, code: str, message: str, status: int = 400) -> AWSResponse:
    """An AWS error in the protocol the request was sent in (JSON 1.0, or smithy-rpc-v2-cbor)."""
    content_type = request.headers.get("Content-Type", b"")
    content_type = content_type.decode() if isinstance(content_type, bytes) else content_type
    if "cbor" in content_type:
        body = bytes([0xA2]) + _cbor_text("__type") + _cbor_text(code) + _cbor_text("message") + _cbor_text(message)
        headers = {"smithy-protocol": "rpc-v2-cbor", "Content-Type": "application/cbor"}
    else:
        body = json.dumps({"__type": code, "message": message}).encode()
        headers = {"Content-Type": content_type or "application/x-amz-json-1.1"}
    headers["x-amzn-query-error"] = f"{code};Sender"

    class Raw:
        def stream(self, **_):
            yield body

    return AWSResponse(request.url, status, headers, Raw())


def inject(client, operation: str, should_fail: Callable[[object], bool], code: str = "Throttling", message: str = "Rate exceeded") -> list:
    """Answer some attempts of one operation with an error instead of sending them (before-send).

    Returns the list of failed attempts, so a test can show how many were retried.
    """
    failed: list = []

    def handler(request, **_):
        if should_fail(request):
            failed.append(request)
            return error_response(request, code, message)
        return None

    client.meta.events.register_first(f"before-send.*.{operation}", handler)
    return failed


@pytest.fixture
def no_backoff(monkeypatch) -> list:
    """botocore's retry sleeps recorded instead of slept: retries stay real, tests stay fast."""
    import types

    import botocore.endpoint

    slept: list = []
    fake_time = types.SimpleNamespace(sleep=slept.append)
    monkeypatch.setattr(botocore.endpoint, "time", fake_time)
    return slept


@pytest.fixture
def client_hooks(monkeypatch):
    """Register hooks on the clients the command line makes: hooks.append(fn(aws))."""
    hooks: list = []
    original = aws_module.clients

    def clients(*args, **kwargs):
        made = original(*args, **kwargs)
        for hook in hooks:
            hook(made)
        return made

    monkeypatch.setattr(aws_module, "clients", clients)
    return hooks
