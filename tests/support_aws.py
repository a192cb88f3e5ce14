"""Helpers for the provisioner's AWS tests: a moto server over HTTP, fault injection, call counts.

Kept out of conftest.py on purpose (shared fixtures live there on another branch); test modules
import what they need from here.
"""

from __future__ import annotations

import contextlib
import json
import socket
from typing import Callable, Iterator

import pytest
from botocore.awsrequest import AWSResponse

from monitor import aws as aws_module

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_DISABLE_REQUEST_COMPRESSION": "true",
}


def free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def aws_credentials(monkeypatch):
    """Fake credentials and no profile, so nothing can reach a real account."""
    for key, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_REGION"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")


@pytest.fixture
def moto_server(aws_credentials) -> Iterator[str]:
    """A moto server over HTTP on a free port, for one test: its endpoint URL.

    moto keeps its state per process, shared with mock_aws, so the state is reset before and after.
    """
    import urllib.request

    from moto.server import ThreadedMotoServer

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()

    def reset():
        urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=10).read()

    try:
        reset()
        yield url
    finally:
        reset()
        server.stop()


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
