"""Start and stop a throwaway local redis-server: no persistence, a temp dir, a free loopback port.

Used by the test suite and by `make demo`. The configuration (with any password) goes into a
0600 file in the server's directory, so secrets never show up in `ps`.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from monitor.errors import RedisError

REDIS_SERVER = "redis-server"
INSTALL_HINT = (
    "redis-server is not on PATH; install it with `apt-get install redis-server` (Debian/Ubuntu), "
    "`dnf install redis` (Fedora) or `brew install redis` (macOS), then try again"
)
LOOPBACK = "127.0.0.1"
START_TIMEOUT_SECONDS = 10.0
STOP_TIMEOUT_SECONDS = 5.0
START_ATTEMPTS = 3  # a free port can be taken by someone else between choosing and binding it
READY_LINE = "Ready to accept connections"
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


class RedisServerUnavailable(RedisError):
    """redis-server is missing or did not start."""


@dataclass(frozen=True)
class TlsFiles:
    """PEM files of a TLS-only server: its certificate and key, and the CA that signed it."""

    cert_file: Path
    key_file: Path
    ca_file: Path


@dataclass(frozen=True)
class AclUser:
    """An ACL user created at startup; rules use Redis ACL syntax, e.g. '%R~* -@all +llen'."""

    name: str
    password: str
    rules: str


def find_redis_server() -> str:
    """Path of the redis-server binary, or RedisServerUnavailable saying how to install it."""
    path = shutil.which(REDIS_SERVER)
    if path is None:
        raise RedisServerUnavailable(INSTALL_HINT)
    return path


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port on host that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def new_password() -> str:
    """A random password that also fits ElastiCache's AUTH token rules (16..128 printable)."""
    return secrets.token_urlsafe(24)


@dataclass
class RedisServer:
    """One local redis-server process; start(), stop() and start() again to simulate an outage."""

    directory: Path | None = None
    password: str | None = None
    tls: TlsFiles | None = None
    users: tuple[AclUser, ...] = ()
    extra_config: tuple[str, ...] = ()  # more redis.conf lines, e.g. 'rename-command EVAL_RO ""'
    host: str = LOOPBACK
    port: int = 0
    _process: subprocess.Popen | None = field(default=None, repr=False)
    _owns_directory: bool = field(default=False, repr=False)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def ca_path(self) -> Path | None:
        return self.tls.ca_file if self.tls else None

    @property
    def url(self) -> str:
        """A redis:// or rediss:// URL for this server, with the default user's password if any."""
        scheme = "rediss" if self.tls else "redis"
        auth = f":{self.password}@" if self.password else ""
        return f"{scheme}://{auth}{self.host}:{self.port}/0"

    def start(self) -> RedisServer:
        """Start (or restart, on the same port) and wait until it accepts connections."""
        if self.running:
            return self
        binary = find_redis_server()
        if self.directory is None:
            self.directory = Path(tempfile.mkdtemp(prefix="redis-queue-monitor-"))
            self._owns_directory = True
        keep_port = self.port != 0
        for attempt in range(START_ATTEMPTS):
            if not keep_port:
                self.port = free_port(self.host)
            config = self._write_config()
            log = self.directory / "redis.log"
            log.write_text("")
            self._process = subprocess.Popen(
                [binary, str(config)],
                cwd=self.directory,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C in the terminal reaches us, and we stop it cleanly
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
            if self._wait_until_listening(log):
                return self
            self._kill()
            text = log.read_text(errors="replace")
            if "Address already in use" not in text or keep_port or attempt == START_ATTEMPTS - 1:
                tail = "\n".join(text.splitlines()[-5:])
                raise RedisServerUnavailable(f"redis-server did not start on port {self.port}:\n{tail}")
        raise AssertionError("unreachable")

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL); the directory stays for a restart."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self._kill()
        self._process = None

    def close(self) -> None:
        """Stop and remove the directory if we made it."""
        self.stop()
        if self._owns_directory and self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None
            self._owns_directory = False

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def client(self, *, username: str | None = None, password: str | None = None, **kwargs) -> redis.Redis:
        """A client for this server; by default as the default (admin) user, for seeding."""
        # No retries: a test or the demo wants to see an outage at once, not after backoff.
        options: dict = {"host": self.host, "port": self.port, "socket_timeout": 10, "retry": Retry(NoBackoff(), 0)}
        if username is not None:
            options.update(username=username, password=password)
        else:
            options["password"] = password if password is not None else self.password
        if self.tls:
            options.update(ssl=True, ssl_ca_certs=str(self.tls.ca_file), ssl_cert_reqs="required")
        options.update(kwargs)
        return redis.Redis(**options)

    def _write_config(self) -> Path:
        lines = [
            f"bind {self.host}",
            f"dir {self.directory}",
            "logfile redis.log",
            'save ""',
            "appendonly no",
            "daemonize no",
        ]
        if self.tls:
            lines += [
                "port 0",
                f"tls-port {self.port}",
                f"tls-cert-file {self.tls.cert_file}",
                f"tls-key-file {self.tls.key_file}",
                f"tls-ca-cert-file {self.tls.ca_file}",
                "tls-auth-clients no",
            ]
        else:
            lines.append(f"port {self.port}")
        if self.password:
            lines.append(f"requirepass {self.password}")
        for user in self.users:
            lines.append(f"user {user.name} on >{user.password} {user.rules}")
        lines += self.extra_config
        path = self.directory / "redis.conf"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write("\n".join(lines) + "\n")
        return path

    def _wait_until_listening(self, log: Path) -> bool:
        # The log, not a probe connection: on a busy port the probe would reach someone else's server.
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False
            if READY_LINE in log.read_text(errors="replace"):
                return True
            time.sleep(0.01)
        return False

    def _kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._process = None


def _die_with_parent() -> None:
    """In the child: get SIGTERM if the parent dies, so a killed test run leaves no server behind."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


CLUSTER_READY_TIMEOUT_SECONDS = 20.0
# The local cluster keeps serving the slots of its live masters when one is down (it has no
# replicas to fail over to): ElastiCache fails over to a replica instead, but the reader must
# behave the same either way, reading the live nodes and reporting the dead one.
_CLUSTER_CONFIG = (
    "cluster-enabled yes",
    "cluster-config-file nodes.conf",
    "cluster-node-timeout 5000",
    "cluster-require-full-coverage no",
)


@dataclass
class LocalCluster:
    """A throwaway Redis Cluster of `masters` redis-servers on free loopback ports, no replicas."""

    directory: Path | None = None
    masters: int = 3
    servers: list[RedisServer] = field(default_factory=list)
    _owns_directory: bool = field(default=False, repr=False)
    _slot_owners: list[tuple[int, int, int]] = field(default_factory=list, repr=False)

    @property
    def host(self) -> str:
        """The configuration endpoint's host: the first node, as a client would be given it."""
        return self.servers[0].host

    @property
    def port(self) -> int:
        return self.servers[0].port

    def start(self) -> LocalCluster:
        """Start every node, create the cluster (redis-cli --cluster create), wait for cluster_state:ok."""
        if self.servers:
            for server in self.servers:
                server.start()  # a restarted node rejoins from its nodes.conf
            self.wait_until_ok()
            return self
        cli = shutil.which("redis-cli")
        if cli is None:
            raise RedisServerUnavailable(INSTALL_HINT.replace("redis-server is", "redis-cli is"))
        if self.directory is None:
            self.directory = Path(tempfile.mkdtemp(prefix="redis-queue-monitor-cluster-"))
            self._owns_directory = True
        for index in range(self.masters):
            node_dir = self.directory / f"node-{index}"
            node_dir.mkdir(parents=True, exist_ok=True)
            # The bus port is given explicitly: by default it is port + 10000, which a free port
            # above 55535 cannot have.
            bus = f"cluster-port {free_port()}"
            self.servers.append(RedisServer(directory=node_dir, port=free_port(), extra_config=_CLUSTER_CONFIG + (bus,)).start())
        addresses = [f"{s.host}:{s.port}" for s in self.servers]
        created = subprocess.run(
            [cli, "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if created.returncode != 0:
            self.close()
            raise RedisServerUnavailable(f"redis-cli --cluster create failed:\n{created.stdout[-500:]}{created.stderr[-500:]}")
        self.wait_until_ok()
        return self

    def wait_until_ok(self) -> None:
        """Until every node says cluster_state:ok and knows every master (gossip has settled)."""
        deadline = time.monotonic() + CLUSTER_READY_TIMEOUT_SECONDS
        while True:
            if all(self._node_ok(server) for server in self.servers):
                return
            if time.monotonic() > deadline:
                raise RedisServerUnavailable("the local Redis Cluster did not reach cluster_state:ok")
            time.sleep(0.05)

    def _node_ok(self, server: RedisServer) -> bool:
        client = server.client()
        try:
            info = client.cluster("INFO")
            if isinstance(info, bytes):
                info = info.decode()
            text = info if isinstance(info, str) else "\n".join(f"{k}:{v}" for k, v in info.items())
            return "cluster_state:ok" in text and f"cluster_known_nodes:{len(self.servers)}" in text
        except redis.RedisError:
            return False
        finally:
            client.close()

    def client(self, **kwargs) -> redis.cluster.RedisCluster:
        """A cluster client through the first node, for seeding."""
        from redis.cluster import RedisCluster

        options: dict = {"host": self.host, "port": self.port, "socket_timeout": 10}
        options.update(kwargs)
        return RedisCluster(**options)

    def flushall(self) -> None:
        for server in self.servers:
            client = server.client()
            try:
                client.flushall()
                client.script_flush()
                client.config_resetstat()
            finally:
                client.close()

    def server_for(self, key: str) -> RedisServer:
        """The node that owns a key's slot (from CLUSTER SLOTS, read once: the topology is fixed)."""
        from redis.crc import key_slot

        if not self._slot_owners:
            client = self.servers[0].client()
            try:
                for start, end, primary, *_ in client.execute_command("CLUSTER", "SLOTS"):
                    self._slot_owners.append((start, end, int(primary[1])))
            finally:
                client.close()
        slot = key_slot(key.encode())
        port = next(port for start, end, port in self._slot_owners if start <= slot <= end)
        return next(server for server in self.servers if server.port == port)

    def move_slot(self, slot: int, to: RedisServer) -> RedisServer:
        """Reshard one slot, keys and all, to another master (as redis-cli --cluster reshard does); returns the old owner."""
        source = next(s for s in self.servers if s.port == self._owner_port(slot))
        if source is to:
            return source
        ids = {}
        for server in self.servers:
            client = server.client()
            try:
                ids[server.port] = client.execute_command("CLUSTER", "MYID")
            finally:
                client.close()
        src, dst = source.client(), to.client()
        try:
            dst.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", ids[source.port])
            src.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", ids[to.port])
            while keys := src.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 100):
                src.execute_command("MIGRATE", to.host, to.port, "", 0, 5000, "KEYS", *keys)
            for client in (dst, src):  # the new owner first, as redis-cli does
                client.execute_command("CLUSTER", "SETSLOT", slot, "NODE", ids[to.port])
            for server in self.servers:
                if server not in (source, to):
                    client = server.client()
                    try:
                        client.execute_command("CLUSTER", "SETSLOT", slot, "NODE", ids[to.port])
                    finally:
                        client.close()
        finally:
            src.close()
            dst.close()
        self._slot_owners = []  # read CLUSTER SLOTS again next time
        return source

    def _owner_port(self, slot: int) -> int:
        client = self.servers[0].client()
        try:
            for start, end, primary, *_ in client.execute_command("CLUSTER", "SLOTS"):
                if start <= slot <= end:
                    return int(primary[1])
        finally:
            client.close()
        raise RedisServerUnavailable(f"no master owns slot {slot}")

    def close(self) -> None:
        for server in self.servers:
            server.close()
        self.servers = []
        if self._owns_directory and self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None
            self._owns_directory = False

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()
