"""Collector settings from the spec and the hokusai environment variables; the token never shows."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from monitor.collect.connection import (
    ConfigError,
    Secret,
    TokenProvider,
    TokenSource,
    resolve_settings,
)
from monitor.spec.load import load_spec

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "s3cr3t-T0ken-value-1234567890"


@pytest.fixture(scope="module")
def spec():
    return load_spec(str(ROOT / "alarms.yaml"), environ={})


def settings(spec, **environ):
    return resolve_settings(spec.environment("development"), spec.collector, environ)


def test_spec_values_by_default(spec):
    s = settings(spec)
    assert (s.host, s.port, s.tls, s.target) == ("master.hokusai-redis-development.lenvj6.use1.cache.amazonaws.com", 6379, True, "primary")
    assert s.token.secret_arn.endswith("auth-token-0GWWJx") and s.token.literal is None
    assert (s.connect_timeout, s.read_timeout) == (3, 3)


def test_host_port_tls_token_variables_override(spec):
    s = settings(spec, REDIS_HOST="127.0.0.1", REDIS_PORT="7001", REDIS_TLS_ENABLED="false", REDIS_AUTH_TOKEN=TOKEN, REDIS_USERNAME="monitor")
    assert (s.host, s.port, s.tls, s.username) == ("127.0.0.1", 7001, False, "monitor")
    assert s.token.literal.reveal() == TOKEN and s.token.secret_arn is None


def test_redis_url_overrides_everything(spec):
    s = settings(spec, REDIS_URL=f"rediss://user:{TOKEN}@10-0-0-1.example:6380/2", REDIS_HOST="ignored")
    assert (s.host, s.port, s.tls, s.db, s.username) == ("10-0-0-1.example", 6380, True, 2, "user")
    assert s.token.literal.reveal() == TOKEN
    plain = settings(spec, REDIS_URL="redis://localhost")
    assert (plain.port, plain.tls) == (6379, False)


def test_bare_host_redis_url_takes_tls_port_and_token_from_their_variables(spec):
    host = "master.hokusai-redis-staging.x1y2z3.use1.cache.amazonaws.com"
    s = settings(spec, REDIS_URL=host, REDIS_TLS_ENABLED="true", REDIS_PORT="6380", REDIS_AUTH_TOKEN=TOKEN, REDIS_HOST="ignored")
    assert (s.host, s.port, s.tls, s.db) == (host, 6380, True, 0)
    assert s.address == f"rediss://{host}:6380/0" and s.token.literal.reveal() == TOKEN
    plain = settings(spec, REDIS_URL="127.0.0.3", REDIS_TLS_ENABLED="false")
    assert (plain.host, plain.port, plain.tls) == ("127.0.0.3", 6379, False)
    assert plain.token.secret_arn.endswith("auth-token-0GWWJx")  # no REDIS_AUTH_TOKEN: the spec's secret
    assert settings(spec, REDIS_URL=" redis-host ").tls is True  # no REDIS_TLS_ENABLED: the spec's tls


def test_secret_arn_variable_with_json_key(spec):
    s = settings(spec, REDIS_AUTH_TOKEN_SECRET_ARN="arn:aws:secretsmanager:us-east-1:123456789012:secret:x", REDIS_AUTH_TOKEN_SECRET_KEY="token")
    assert (s.token.secret_arn, s.token.secret_json_key) == ("arn:aws:secretsmanager:us-east-1:123456789012:secret:x", "token")


@pytest.mark.parametrize(
    "environ, message",
    [
        ({"REDIS_PORT": "abc"}, "REDIS_PORT='abc' is not a port number"),
        ({"REDIS_TLS_ENABLED": "maybe"}, "REDIS_TLS_ENABLED='maybe' is not a boolean"),
        ({"REDIS_URL": "http://x"}, "REDIS_URL must look like redis://"),
        ({"REDIS_URL": "redis://h/abc"}, "database number"),
        ({"REDIS_URL": "host:6380"}, "or a bare host name"),
        ({"REDIS_URL": f"user:{TOKEN}@host"}, "or a bare host name"),
    ],
)
def test_bad_variables_are_clear_errors(spec, environ, message):
    with pytest.raises(ConfigError, match=message):
        settings(spec, **environ)


def test_secret_never_shows_itself():
    secret = Secret(TOKEN)
    source = TokenSource(literal=secret)
    for text in (repr(secret), str(secret), repr(source), f"{secret}", str([secret])):
        assert TOKEN not in text


@mock_aws
def test_token_is_fetched_once_and_refreshed_on_demand():
    client = boto3.client("secretsmanager", region_name="us-east-1")
    arn = client.create_secret(Name="redis/token", SecretString=TOKEN)["ARN"]
    provider = TokenProvider(TokenSource(secret_arn=arn), lambda: client)
    assert provider.get().reveal() == TOKEN
    assert provider.get().reveal() == TOKEN
    assert provider.fetches == 1
    client.put_secret_value(SecretId=arn, SecretString="rotated-token-abcdefghijkl")
    assert provider.get().reveal() == TOKEN  # cached until told otherwise
    assert provider.refresh() and provider.get().reveal() == "rotated-token-abcdefghijkl"
    assert provider.fetches == 2


@mock_aws
def test_json_secret_with_named_key_and_errors():
    client = boto3.client("secretsmanager", region_name="us-east-1")
    arn = client.create_secret(Name="redis/json", SecretString=json.dumps({"auth": TOKEN, "host": "x"}))["ARN"]
    assert TokenProvider(TokenSource(secret_arn=arn, secret_json_key="auth"), lambda: client).get().reveal() == TOKEN
    with pytest.raises(ConfigError, match="set secret_json_key"):
        TokenProvider(TokenSource(secret_arn=arn), lambda: client).get()
    with pytest.raises(ConfigError, match="not JSON with the key 'nope'"):
        TokenProvider(TokenSource(secret_arn=arn, secret_json_key="nope"), lambda: client).get()
    missing = arn.replace("redis/json", "redis/missing")
    with pytest.raises(ConfigError, match="ResourceNotFoundException") as info:
        TokenProvider(TokenSource(secret_arn=missing), lambda: client).get()
    assert TOKEN not in str(info.value)
