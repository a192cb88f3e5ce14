"""A fault-injecting HTTP proxy in front of the AWS emulator: throttling, 5xx, dropped connections, slow answers.

    with FaultProxy(upstream_url, rate=0.3, seed=7) as proxy:
        ... point the client at proxy.url ...
        proxy.faults      # Counter of what was injected, by kind
        proxy.requests    # Counter of requests seen, by operation

Each request draws from a seeded random.Random: with probability `rate` it gets one of the `kinds`
(weighted), else it is forwarded untouched. Errors are answered in the protocol the client spoke,
found from the request's Content-Type: JSON 1.0/1.1 (what botocore's CloudWatch and Tagging clients
send: `__type` in the body plus `x-amzn-query-error` for query-compatible services), query XML
(form-encoded requests), or smithy-rpc-v2-cbor.

Kinds:
- throttle:     400 Throttling, the request never reaches the emulator
- server_error: 500 InternalFailure or (counted as unavailable) 503 ServiceUnavailable, never forwarded
- reset:        the connection is dropped (TCP RST) before forwarding
- reset_after:  forwarded (the write happens), then the connection is dropped: the answer is lost
- slow:         forwarded, then the answer is held for `slow_seconds` (past a short read timeout
                the client gives up on a write that did happen)
"""

from __future__ import annotations

import collections
import http.client
import json
import random
import socket
import struct
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

KINDS = ("throttle", "server_error", "reset", "reset_after", "slow")
_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


def _cbor_text(text: str) -> bytes:
    data = text.encode()
    return (bytes([0x60 + len(data)]) if len(data) < 24 else bytes([0x78, len(data)])) + data


def error_body(content_type: str, code: str, message: str) -> tuple[bytes, dict[str, str]]:
    """An AWS error in the request's protocol: (body, headers)."""
    if "cbor" in content_type:
        body = bytes([0xA2]) + _cbor_text("__type") + _cbor_text(code) + _cbor_text("message") + _cbor_text(message)
        return body, {"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor", "x-amzn-query-error": f"{code};Sender"}
    if "json" in content_type:
        body = json.dumps({"__type": code, "message": message}).encode()
        return body, {"Content-Type": content_type, "x-amzn-query-error": f"{code};Sender"}
    body = (
        "<ErrorResponse><Error><Type>Sender</Type>"
        f"<Code>{code}</Code><Message>{message}</Message></Error><RequestId>fault-proxy</RequestId></ErrorResponse>"
    ).encode()
    return body, {"Content-Type": "text/xml"}


def operation_of(headers, path: str, body: bytes) -> str:
    target = headers.get("X-Amz-Target")
    if target:
        return target.rsplit(".", 1)[-1]
    if "/operation/" in path:  # smithy-rpc-v2-cbor: /service/X/operation/Op
        return path.rsplit("/", 1)[-1]
    action = urllib.parse.parse_qs(body.decode("utf-8", "replace")).get("Action")
    return action[0] if action else "?"


class FaultProxy:
    def __init__(
        self,
        upstream: str,
        *,
        rate: float = 0.0,
        seed: int = 0,
        kinds: tuple[str, ...] = KINDS,
        weights: tuple[float, ...] | None = None,
        slow_seconds: float = 0.05,
        operations: set[str] | None = None,
    ):
        parsed = urllib.parse.urlsplit(upstream)
        self.upstream = (parsed.hostname, parsed.port)
        self.rate, self.kinds, self.weights = rate, kinds, weights
        self.slow_seconds = slow_seconds
        self.operations = operations  # None: every operation may be faulted
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.faults: collections.Counter[str] = collections.Counter()
        self.requests: collections.Counter[str] = collections.Counter()
        self.hook = None  # optional fn(operation) called on every request, before any fault
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, name="fault-proxy", daemon=True)

    def configure(self, *, rate: float | None = None, seed: int | None = None, **kwargs) -> None:
        with self.lock:
            if rate is not None:
                self.rate = rate
            if seed is not None:
                self.random = random.Random(seed)
            for name, value in kwargs.items():
                setattr(self, name, value)

    def draw(self, operation: str) -> str | None:
        with self.lock:
            self.requests[operation] += 1
            if self.operations is not None and operation not in self.operations:
                return None
            if self.random.random() >= self.rate:
                return None
            kind = self.random.choices(self.kinds, weights=self.weights)[0]
            if kind == "server_error":
                kind = self.random.choice(("server_error", "unavailable"))
            self.faults[kind] += 1
            return kind

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *_) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def forward(self, method: str, path: str, headers, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(*self.upstream, timeout=30)
        try:
            connection.request(method, path, body=body, headers={k: v for k, v in headers.items() if k.lower() not in _HOP_HEADERS})
            response = connection.getresponse()
            return response.status, [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_HEADERS], response.read()
        finally:
            connection.close()

    def _handler_class(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

            def log_message(self, *_):
                pass

            def _reset(self) -> None:
                # SO_LINGER 0: close() sends RST, as a load balancer dropping the connection would.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True

            def _answer(self, status: int, headers, body: bytes) -> None:
                self.send_response(status)
                for key, value in headers:
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _error(self, status: int, code: str, message: str) -> None:
                body, headers = error_body(self.headers.get("Content-Type", ""), code, message)
                self._answer(status, list(headers.items()), body)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                operation = operation_of(self.headers, self.path, body)
                if proxy.hook is not None:
                    proxy.hook(operation)
                kind = proxy.draw(operation)
                if kind == "throttle":
                    return self._error(400, "Throttling", "Rate exceeded")
                if kind == "server_error":
                    return self._error(500, "InternalFailure", "injected internal failure")
                if kind == "unavailable":
                    return self._error(503, "ServiceUnavailable", "injected: service unavailable")
                if kind == "reset":
                    return self._reset()
                answer = proxy.forward(self.command, self.path, self.headers, body)
                if kind == "reset_after":
                    return self._reset()
                if kind == "slow":
                    time.sleep(proxy.slow_seconds)
                try:
                    self._answer(*answer)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting
                    self.close_connection = True

            do_GET = do_POST

        return Handler
