"""Fixtures: real redis-servers (plain, password, TLS, ACL), a hung server, and the AWS emulator.

Servers are session-scoped and made fresh (FLUSHALL, SCRIPT FLUSH, CONFIG RESETSTAT, restarted if a
test stopped them) before each test that asks for them. Tests that need a server of their own, say
to stop it for good, use `redis_factory`.
"""

from __future__ import annotations

import moto
import pytest
from support.certs import make_tls_files
from support.servers import (
    AWS_ENV_TO_CLEAR,
    AWS_TEST_ENV,
    HungServer,
    acl_redis,
    make_fresh,
    reset_moto,
)

from monitor.local import moto_cloudwatch
from monitor.local.emulator import local_aws

moto_cloudwatch.install()  # every test's emulator has composite alarms and anomaly detectors (also plain moto.mock_aws)
from monitor.local.redis_server import LocalCluster, RedisServer, new_password


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory):
    """TlsFiles: a throwaway CA (ca_file) and a server certificate for 127.0.0.1 / localhost."""
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def _redis_plain(tmp_path_factory):
    with RedisServer(directory=tmp_path_factory.mktemp("redis-plain")) as server:
        yield server


@pytest.fixture(scope="session")
def _redis_password(tmp_path_factory):
    with RedisServer(directory=tmp_path_factory.mktemp("redis-password"), password=new_password()) as server:
        yield server


@pytest.fixture(scope="session")
def _redis_tls(tmp_path_factory, tls_files):
    with RedisServer(directory=tmp_path_factory.mktemp("redis-tls"), tls=tls_files) as server:
        yield server


@pytest.fixture(scope="session")
def _redis_acl(tmp_path_factory):
    acl = acl_redis(tmp_path_factory.mktemp("redis-acl"))
    with acl.server:
        yield acl


@pytest.fixture
def redis_plain(_redis_plain) -> RedisServer:
    """A RedisServer without auth, empty."""
    return make_fresh(_redis_plain)


@pytest.fixture
def redis_password(_redis_password) -> RedisServer:
    """A RedisServer with requirepass (server.password), empty."""
    return make_fresh(_redis_password)


@pytest.fixture
def redis_tls(_redis_tls) -> RedisServer:
    """A TLS-only RedisServer (no plain port); server.ca_path is the CA bundle that verifies it."""
    return make_fresh(_redis_tls)


@pytest.fixture
def redis_acl(_redis_acl):
    """An AclRedis: .admin() for seeding, .client_for(.reader / .reader_noscript) as the reader."""
    make_fresh(_redis_acl.server)
    return _redis_acl


@pytest.fixture(scope="session")
def _redis_cluster(tmp_path_factory):
    with LocalCluster(directory=tmp_path_factory.mktemp("redis-cluster")) as cluster:
        yield cluster


@pytest.fixture
def redis_cluster(_redis_cluster) -> LocalCluster:
    """A LocalCluster of three masters (no replicas), every node running and empty."""
    _redis_cluster.start()  # restarts a node an earlier test stopped, and waits for cluster_state:ok
    _redis_cluster.flushall()
    return _redis_cluster


@pytest.fixture
def redis_factory(tmp_path):
    """Call with RedisServer keyword arguments to start a server of this test's own."""
    servers: list[RedisServer] = []

    def start(**kwargs) -> RedisServer:
        server = RedisServer(directory=tmp_path / f"redis-{len(servers)}", **kwargs)
        server.directory.mkdir()
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def hung_server():
    """A HungServer (host, port) that accepts connections and never answers."""
    server = HungServer()
    yield server
    server.close()


@pytest.fixture
def aws_env(monkeypatch):
    """Dummy AWS credentials and region in the environment, undone after the test."""
    for name in AWS_ENV_TO_CLEAR:
        monkeypatch.delenv(name, raising=False)
    for name, value in AWS_TEST_ENV.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="session")
def _moto_server():
    with local_aws() as endpoint_url:
        yield endpoint_url


@pytest.fixture
def moto_server(_moto_server, aws_env, monkeypatch) -> str:
    """Endpoint URL of the AWS emulator over HTTP, emptied; AWS_ENDPOINT_URL points boto3 at it."""
    reset_moto(_moto_server)
    monkeypatch.setenv("AWS_ENDPOINT_URL", _moto_server)
    return _moto_server


@pytest.fixture(name="mock_aws")
def mock_aws_fixture(aws_env):
    """The AWS emulator in-process (moto.mock_aws) for the duration of the test."""
    moto_cloudwatch.install()
    with moto.mock_aws():
        yield
