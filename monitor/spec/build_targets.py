"""Building environments and their Redis targets, and checking that every target named exists."""

from __future__ import annotations

from monitor.spec.build_queues import raw_queue_key
from monitor.spec.kinds import (
    Severity,
)
from monitor.spec.model import AuthToken, Environment, Notifications, RedisTarget


class Targets:
    """Part of the spec builder (monitor.spec.load); uses its ok/error/doc."""

    def _environments(self, raw_envs) -> dict[str, Environment]:
        environments: dict[str, Environment] = {}
        if not isinstance(raw_envs, dict):
            return environments
        for name, raw in raw_envs.items():
            path = ("environments", name)
            if not self.ok(path) or name in self.skip_environments:
                continue
            raw_targets = ([("redis",), raw["redis"]],) if "redis" in raw else ()
            raw_targets += tuple([("redis_targets", i), t] for i, t in enumerate(raw.get("redis_targets") or ()))
            if not raw_targets:
                self.error(path, "missing 'redis' (one Redis target) or 'redis_targets' (several)")
                continue
            targets = [self._target(path + where, redis) for where, redis in raw_targets]
            if None in targets:
                continue
            names: dict[str, tuple] = {}
            for (where, _), target in zip(raw_targets, targets):
                if target.name in names:
                    self.error(path + where, f"Redis target '{target.name}' is named twice in this environment; give each a distinct 'name'")
                names.setdefault(target.name, where)
            notifications = {
                Severity(sev): Notifications(*(tuple(actions.get(state) or ()) for state in ("alarm", "ok", "insufficient_data")))
                for sev, actions in (raw.get("notifications") or {}).items()
            }
            environments[name] = Environment(
                name=name,
                redis=targets[0],
                notifications=notifications,
                region=raw.get("region"),
                description=raw.get("description", ""),
                targets=tuple(targets),
            )
        return environments

    def _target(self, path: tuple, redis: dict) -> RedisTarget | None:
        auth = redis.get("auth_token")
        token = None
        if auth is not None:
            sources = [k for k in ("secret_arn", "env") if auth.get(k)]
            if len(sources) != 1:
                self.error(path + ("auth_token",), "give exactly one of secret_arn or env")
                return None
            if auth.get("secret_json_key") and not auth.get("secret_arn"):
                self.error(path + ("auth_token", "secret_json_key"), "secret_json_key goes with secret_arn")
                return None
            token = AuthToken(auth.get("secret_arn"), auth.get("secret_json_key"), auth.get("env"))
        if redis.get("cluster") and redis.get("db", 0) != 0:
            self.error(path + ("db",), "a Redis Cluster has only database 0")
            return None
        return RedisTarget(
            name=redis.get("name", "primary"),
            host=redis["host"],
            port=redis.get("port", 6379),
            db=redis.get("db", 0),
            tls=redis.get("tls", True),
            ca_bundle=redis.get("ca_bundle"),
            username=redis.get("username"),
            auth_token=token,
            cluster=redis.get("cluster", False),
        )

    def _check_targets(self, data: dict, queues, patterns, environments, streams=(), delayed=()) -> None:
        """Every target a queue, pattern, stream or delayed set names exists in every environment (each deploys them all)."""
        index_of = {raw_queue_key(q): i for i, q in enumerate(data.get("queues") or [])}  # a preset names no key
        named = [(("queues", index_of[q.key], "target"), q.target) for q in queues if q.target]
        named += [(("patterns", i, "target"), p.target) for i, p in enumerate(patterns) if p.target]
        for section, items in (("streams", streams), ("delayed", delayed)):
            if any(item.target for item in items):  # then the section is a list of mappings
                index_of = {}
                for i, raw in enumerate(data[section]):
                    if isinstance(raw, dict):
                        index_of.setdefault(raw.get("key"), i)
                named += [((section, index_of[item.key], "target"), item.target) for item in items if item.target]
        for path, target in named:
            missing = [e.name for e in environments.values() if target not in {t.name for t in e.targets}]
            for env in missing:
                have = ", ".join(t.name for t in environments[env].targets)
                self.error(path, f"no Redis target '{target}' in environment '{env}' (it has: {have})")
