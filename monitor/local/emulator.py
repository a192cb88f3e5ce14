"""The local AWS emulator (a moto server) for the demo and the tests: one way to start it."""

from __future__ import annotations

import contextlib
import logging
from typing import Iterator

from monitor.errors import MonitorError
from monitor.local.redis_server import LOOPBACK, free_port


class EmulatorMissing(MonitorError):
    """moto is not installed (it comes with the test extra)."""


@contextlib.contextmanager
def local_aws() -> Iterator[str]:
    """The AWS emulator (a moto server) on a free loopback port: its endpoint URL, stopped on exit."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        raise EmulatorMissing("the demo needs the AWS emulator: pip install 'redis-queue-monitor[test]' (make demo does this)") from None
    from monitor.local import moto_cloudwatch

    moto_cloudwatch.install()  # composite alarms and anomaly detectors, which moto lacks
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log lines in the demo's output
    port = free_port()
    server = ThreadedMotoServer(ip_address=LOOPBACK, port=port, verbose=False)
    server.start()
    try:
        yield f"http://{LOOPBACK}:{port}"
    finally:
        server.stop()
