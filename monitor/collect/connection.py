"""How the collector reaches Redis: settings from the spec and the environment, the auth token, the client.

The environment variables the hokusai services already use override the spec: REDIS_URL
(redis:// or rediss://, or a bare host name as hokusai's config accepts it: then TLS comes from
REDIS_TLS_ENABLED and the port from REDIS_PORT), or REDIS_HOST, REDIS_PORT, REDIS_TLS_ENABLED, REDIS_USERNAME,
REDIS_CLUSTER_ENABLED, and for the token REDIS_AUTH_TOKEN (set but empty: no AUTH) or
REDIS_AUTH_TOKEN_SECRET_ARN (+ REDIS_AUTH_TOKEN_SECRET_KEY for a JSON secret). With several targets
they override one of them only: the one MONITOR_TARGET names, else the environment's first (give the
others their own ${VAR} references in the spec). The token is wrapped in `Secret` so that no repr, log line or exception shows it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping
from urllib.parse import unquote, urlsplit

from monitor.errors import MonitorError
from monitor.spec.model import Collector, Environment, RedisTarget

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")
# A host name or IPv4 address without scheme, port or path: REDIS_URL as a parameter store holds it.
_BARE_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")


class ConfigError(MonitorError):
    """The collector's Redis settings are unusable (a bad REDIS_PORT, an unreadable secret)."""


class Secret:
    """A string that never shows itself in repr, str or logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class TokenSource:
    """Where the token comes from: a literal (from the environment) or a Secrets Manager secret."""

    literal: Secret | None = None
    secret_arn: str | None = None
    secret_json_key: str | None = None

    def describe(self) -> str:
        if self.secret_arn:
            return f"secret {self.secret_arn}" + (f" (key {self.secret_json_key})" if self.secret_json_key else "")
        return "an environment variable" if self.literal else "no token"


@dataclass(frozen=True)
class RedisSettings:
    target: str
    host: str
    port: int
    db: int = 0
    tls: bool = True
    ca_bundle: str | None = None
    username: str | None = None
    token: TokenSource = TokenSource()
    connect_timeout: float = 3.0
    read_timeout: float = 3.0
    cluster: bool = False  # a Redis Cluster reached through its configuration endpoint

    @property
    def address(self) -> str:
        return f"{'rediss' if self.tls else 'redis'}://{self.host}:{self.port}/{self.db}"


def _flag(name: str, text: str) -> bool:
    if text.strip().lower() in _TRUE:
        return True
    if text.strip().lower() in _FALSE:
        return False
    raise ConfigError(f"{name}={text!r} is not a boolean (use true or false)")


def _port(name: str, text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise ConfigError(f"{name}={text!r} is not a port number (1-65535)")
    return port


def resolve_settings(env: Environment, collector: Collector, environ: Mapping[str, str], target: RedisTarget | None = None) -> RedisSettings:
    """The spec's target (default: the first) with the environment variables applied on top, if they are its."""
    target = target or env.redis
    token = TokenSource()
    if target.auth_token is not None:
        spec_token = target.auth_token
        if spec_token.env:
            value = environ.get(spec_token.env)
            token = TokenSource(literal=Secret(value)) if value else TokenSource()
        else:
            token = TokenSource(secret_arn=spec_token.secret_arn, secret_json_key=spec_token.secret_json_key)
    settings = RedisSettings(
        target=target.name,
        host=target.host,
        port=target.port,
        db=target.db,
        tls=target.tls,
        ca_bundle=target.ca_bundle,
        username=target.username,
        token=token,
        connect_timeout=collector.connect_timeout_seconds,
        read_timeout=collector.read_timeout_seconds,
        cluster=target.cluster,
    )
    if target.name != (environ.get("MONITOR_TARGET") or env.targets[0].name):
        return settings
    if environ.get("REDIS_CLUSTER_ENABLED") is not None:
        settings = replace(settings, cluster=_flag("REDIS_CLUSTER_ENABLED", environ["REDIS_CLUSTER_ENABLED"]))
    url = environ.get("REDIS_URL", "").strip()
    if url and "://" in url:
        settings = _apply_url(settings, url)  # a full URL says everything itself
    else:
        if url:
            settings = replace(settings, host=_bare_host(url))
        elif environ.get("REDIS_HOST"):
            settings = replace(settings, host=environ["REDIS_HOST"])
        if environ.get("REDIS_PORT"):
            settings = replace(settings, port=_port("REDIS_PORT", environ["REDIS_PORT"]))
        if environ.get("REDIS_TLS_ENABLED") is not None:
            settings = replace(settings, tls=_flag("REDIS_TLS_ENABLED", environ["REDIS_TLS_ENABLED"]))
    if environ.get("REDIS_USERNAME"):
        settings = replace(settings, username=environ["REDIS_USERNAME"])
    if environ.get("REDIS_CA_BUNDLE"):
        settings = replace(settings, ca_bundle=environ["REDIS_CA_BUNDLE"])
    if "REDIS_AUTH_TOKEN" in environ:  # set but empty: no AUTH at all
        literal = environ["REDIS_AUTH_TOKEN"]
        settings = replace(settings, token=TokenSource(literal=Secret(literal)) if literal else TokenSource())
    elif environ.get("REDIS_AUTH_TOKEN_SECRET_ARN"):
        settings = replace(
            settings,
            token=TokenSource(secret_arn=environ["REDIS_AUTH_TOKEN_SECRET_ARN"], secret_json_key=environ.get("REDIS_AUTH_TOKEN_SECRET_KEY")),
        )
    return settings


def _bare_host(text: str) -> str:
    """REDIS_URL without a scheme: hokusai's config takes it as the host name alone."""
    if not _BARE_HOST.fullmatch(text):
        raise ConfigError(
            "REDIS_URL must look like redis://host:port/db, rediss://host:port/db or a bare host name "
            "(then REDIS_PORT and REDIS_TLS_ENABLED give the port and TLS)"
        )
    return text


def _apply_url(settings: RedisSettings, url: str) -> RedisSettings:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ConfigError("REDIS_URL is not a valid URL") from None
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise ConfigError("REDIS_URL must look like redis://host:port/db or rediss://host:port/db")
    path = parts.path.lstrip("/")
    if path and not path.isdigit():
        raise ConfigError("REDIS_URL's path must be a database number")
    settings = replace(
        settings,
        host=parts.hostname,
        port=port or 6379,
        tls=parts.scheme == "rediss",
        db=int(path) if path else settings.db,
        username=unquote(parts.username) if parts.username else settings.username,
    )
    if parts.password:
        settings = replace(settings, token=TokenSource(literal=Secret(unquote(parts.password))))
    return settings


class TokenProvider:
    """Fetches the token once per container (Lambda reuses it) and again once after an auth error."""

    def __init__(self, source: TokenSource, secrets_client_factory: Callable[[], Any]):
        self.source = source
        self._factory = secrets_client_factory
        self._cached: Secret | None = source.literal
        self.fetches = 0

    @property
    def known(self) -> Secret | None:
        """The token if one is at hand, without fetching it (for scrubbing error texts)."""
        return self._cached

    def get(self) -> Secret | None:
        if self._cached is None and self.source.secret_arn:
            self._cached = self._fetch()
        return self._cached

    def refresh(self) -> bool:
        """Fetch the secret again (rotation); False when there is nothing that could change."""
        if not self.source.secret_arn:
            return False
        self._cached = self._fetch()
        return True

    def _fetch(self) -> Secret:
        from botocore.exceptions import BotoCoreError, ClientError

        self.fetches += 1
        try:
            response = self._factory().get_secret_value(SecretId=self.source.secret_arn)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            raise ConfigError(f"cannot read {self.source.describe()}: {code}") from None
        except BotoCoreError as exc:
            raise ConfigError(f"cannot read {self.source.describe()}: {type(exc).__name__}") from None
        text = response.get("SecretString")
        if text is None:
            raise ConfigError(f"{self.source.describe()} has no string value")
        if self.source.secret_json_key:
            try:
                value = json.loads(text)[self.source.secret_json_key]
            except (ValueError, KeyError, TypeError):
                raise ConfigError(f"{self.source.describe()} is not JSON with the key {self.source.secret_json_key!r}") from None
            return Secret(str(value))
        stripped = text.strip()
        if stripped.startswith("{"):
            # A JSON secret without a configured key: take the one conventional field if present.
            try:
                data = json.loads(stripped)
            except ValueError:
                data = None
            if isinstance(data, dict):
                for key in ("token", "auth_token", "password", "AUTH_TOKEN"):
                    if isinstance(data.get(key), str):
                        return Secret(data[key])
                raise ConfigError(f"{self.source.describe()} is JSON: set secret_json_key (REDIS_AUTH_TOKEN_SECRET_KEY) to the key holding the token")
        return Secret(text)


# redis-py's defaults retry a failed connection with backoff; the collector wants one short try,
# then a signal, so a hung Redis never runs the Lambda into its own timeout.
def open_client(settings: RedisSettings, token: Secret | None):
    """A redis.Redis (a RedisCluster for a cluster) for these settings: certificates verified under TLS, no retries."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    kwargs: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "db": settings.db,
        "username": settings.username,
        "password": token.reveal() if token else None,
        "socket_connect_timeout": settings.connect_timeout,
        "socket_timeout": settings.read_timeout,
        "retry": Retry(NoBackoff(), 0),
        "single_connection_client": True,
    }
    if settings.tls:
        kwargs.update(ssl=True, ssl_cert_reqs="required", ssl_check_hostname=True, ssl_ca_certs=settings.ca_bundle)
    if settings.cluster:
        from redis.cluster import RedisCluster

        # It reads the topology (CLUSTER SLOTS) from the configuration endpoint at once; each
        # primary then gets its own plain client with the same options.
        del kwargs["db"], kwargs["single_connection_client"]
        return RedisCluster(**kwargs)
    return redis.Redis(**kwargs)


# How long the plain-text probe waits for an answer: a Redis that speaks plain text answers PING at once.
PLAIN_TEXT_PROBE_SECONDS = 1.0


def classify_failure(exc: BaseException, settings: RedisSettings | None = None) -> str:
    """A short, documented reason code for a Redis failure: dns, refused, timeout, tls, auth, config, error.

    With `settings`, a TLS handshake that timed out is told apart: `tls` if the server answers a
    plain-text PING (TLS on against a plain-text server), else `timeout` (the server is hung).
    """
    import socket
    import ssl

    import redis

    if isinstance(exc, ConfigError):
        return "config"
    if isinstance(exc, (redis.AuthenticationError, redis.exceptions.AuthenticationWrongNumberOfArgsError, redis.exceptions.NoPermissionError)):
        return "auth"  # NoPermissionError: the ACL user may not run a command the collector needs
    if isinstance(exc, redis.ResponseError) and any(w in str(exc) for w in ("NOAUTH", "WRONGPASS", "NOPERM", "invalid password")):
        return "auth"
    if _raised_from(exc, ssl.SSLError):
        return "tls"
    if _tls_handshake_timed_out(exc):
        # A plain-text Redis usually never answers a ClientHello (it waits for a newline), exactly
        # like a hung server: only a plain-text question tells the two apart.
        return "tls" if settings is not None and speaks_plain_text(settings) else "timeout"
    if isinstance(exc, redis.TimeoutError):
        return "timeout"
    cause: BaseException | None = exc
    seen = 0
    while cause is not None and seen < 5:
        if isinstance(cause, socket.gaierror):
            return "dns"
        if isinstance(cause, ConnectionRefusedError):
            return "refused"
        if isinstance(cause, (socket.timeout, TimeoutError)):
            return "timeout"
        cause = cause.__cause__ or cause.__context__
        seen += 1
    text = str(exc)
    if "Name or service not known" in text or "nodename nor servname" in text or "Temporary failure in name resolution" in text:
        return "dns"
    if "SSL" in text or "certificate" in text.lower():
        return "tls"
    if "Connection refused" in text:
        return "refused"
    if "Timeout" in text or "timed out" in text:
        return "timeout"
    return "error"


def _causes(exc: BaseException, depth: int = 5):
    cause: BaseException | None = exc
    for _ in range(depth):
        if cause is None:
            return
        yield cause
        cause = cause.__cause__ or cause.__context__


def _raised_from(exc: BaseException, kind: type[BaseException]) -> bool:
    return any(isinstance(cause, kind) for cause in _causes(exc))


def _tls_handshake_timed_out(exc: BaseException) -> bool:
    """Whether the failure (or one it was raised from) is a timeout inside the TLS handshake."""
    import socket
    import traceback

    import redis

    for cause in _causes(exc):
        if not isinstance(cause, (redis.TimeoutError, socket.timeout, TimeoutError)):
            continue
        frames = traceback.extract_tb(cause.__traceback__) if cause.__traceback__ else []
        if frames and frames[-1].name == "do_handshake" and frames[-1].filename.endswith("ssl.py"):
            return True
    return False


def speaks_plain_text(settings: RedisSettings) -> bool:
    """Whether the server answers a plain-text PING with a RESP line (+PONG, -NOAUTH ...); read-only."""
    import socket

    timeout = min(PLAIN_TEXT_PROBE_SECONDS, settings.connect_timeout)
    try:
        with socket.create_connection((settings.host, settings.port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(1)[:1] in (b"+", b"-")
    except OSError:
        return False


def scrub(text: str, *secrets: Secret | None) -> str:
    """Remove every secret's value from a text before it is logged or raised."""
    for secret in secrets:
        if secret is not None and secret.reveal():
            text = text.replace(secret.reveal(), "***")
    return text
