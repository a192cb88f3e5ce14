"""Real servers for tests: redis-servers of each kind, a server that never answers, the AWS emulator."""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from pathlib import Path

import redis
import requests

from monitor.collect.reader import READER_ACL_COMMANDS, READER_ACL_RULES
from monitor.local.redis_server import LOOPBACK, AclUser, RedisServer, new_password

# The reader's user as the docs tell operators to create it, and one without script permission
# (as on a managed Redis that refuses EVAL*): the reader must fall back to pipelines for it.
READER_NOSCRIPT_RULES = "resetkeys %R~* resetchannels -@all " + " ".join(
    command for command in READER_ACL_COMMANDS if "eval" not in command
)

# Dummy credentials, so nothing can reach a real AWS account even by mistake.
AWS_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    # moto's server answers 500 to the gzipped PutMetricData bodies botocore sends above 10 KiB.
    "AWS_DISABLE_REQUEST_COMPRESSION": "true",
    "AWS_CONFIG_FILE": "/nonexistent/aws-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
}
AWS_ENV_TO_CLEAR = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_CLOUDWATCH")


@dataclass(frozen=True)
class AclRedis:
    """A redis-server whose default user is the admin (for seeding) plus two reader users."""

    server: RedisServer
    reader: AclUser
    reader_noscript: AclUser

    def admin(self, **kwargs) -> redis.Redis:
        return self.server.client(**kwargs)

    def client_for(self, user: AclUser, **kwargs) -> redis.Redis:
        return self.server.client(username=user.name, password=user.password, **kwargs)


def acl_redis(directory: Path) -> AclRedis:
    """An unstarted AclRedis in directory."""
    reader = AclUser("queue-reader", new_password(), READER_ACL_RULES)
    noscript = AclUser("queue-reader-noscript", new_password(), READER_NOSCRIPT_RULES)
    server = RedisServer(directory=directory, password=new_password(), users=(reader, noscript))
    return AclRedis(server, reader, noscript)


def make_fresh(server: RedisServer) -> RedisServer:
    """Running, empty, with a cold script cache and zeroed command stats: a test starts from here."""
    server.start()  # a no-op unless an earlier test stopped it
    admin = server.client()
    try:
        admin.flushall()
        admin.script_flush()
        admin.config_resetstat()
    finally:
        admin.close()
    return server


class HungServer:
    """Accepts TCP connections on loopback and never answers a byte: for timeout tests."""

    def __init__(self):
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind((LOOPBACK, 0))
        self._sock.listen(16)
        self.host, self.port = self._sock.getsockname()
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, name="hung-server", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:  # closed
                return
            self._held.append(conn)  # held open, never read: the client waits for a reply forever

    def close(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
        except OSError:
            pass
        self._sock.close()
        for conn in self._held:
            conn.close()
        self._thread.join(timeout=5)


def reset_moto(endpoint_url: str) -> None:
    """Forget every resource the emulator holds."""
    requests.post(f"{endpoint_url}/moto-api/reset", timeout=10).raise_for_status()
