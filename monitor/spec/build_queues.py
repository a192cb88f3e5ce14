"""Building queues, streams, delayed sets and patterns from a checked document."""

from __future__ import annotations

from monitor.spec import naming, presets
from monitor.spec.kinds import (
    DELAYED_KINDS,
    PATTERN_KINDS,
    QUEUE_KINDS,
    STREAM_KINDS,
    AlarmKind,
)
from monitor.spec.model import DelayedQueue, Pattern, Queue, Stream
from monitor.spec.sources import (
    DelayedSource,
    OldestEnd,
    QueueSource,
    ScoreUnit,
    TimeKind,
    TimestampFormat,
)


def raw_queue_key(raw) -> str | None:
    """The key a raw queue entry names: its `key`, or its preset's main waiting key."""
    if not isinstance(raw, dict):
        return None
    if "framework" in raw:
        source = raw_preset(raw)
        return source.key if source else None
    return raw.get("key")


def raw_preset(raw: dict) -> QueueSource | None:
    """What a raw preset entry expands to; None when it cannot (the schema check reports why)."""
    try:
        return presets.expand(raw["framework"], raw["queue"], raw.get("prefix"))
    except (KeyError, ValueError, TypeError, AttributeError):
        return None


class QueueParts:
    """Part of the spec builder (monitor.spec.load); uses its ok/error/doc."""

    def _read_fields(self, raw: dict, queue_defaults: dict) -> dict:
        def pick(name: str, default: str) -> str:
            return raw.get(name, queue_defaults.get(name, default))

        return {
            "oldest_end": OldestEnd(pick("oldest_end", OldestEnd.TAIL.value)),
            "timestamp_field": pick("timestamp_field", "timestamp"),
            "timestamp_format": TimestampFormat(pick("timestamp_format", TimestampFormat.AUTO.value)),
        }

    def _queues(self, raw_queues, queue_defaults, default_alarms, runbooks, collector) -> list[Queue]:
        if not self.ok(("defaults",)) or not isinstance(raw_queues, list):
            return []
        queues: list[Queue] = []
        seen_keys: dict[str, int] = {}
        for index, raw in enumerate(raw_queues):
            path = ("queues", index)
            preset = isinstance(raw, dict) and "framework" in raw
            expanded = None
            if preset and self.ok(path):
                expanded = raw_preset(raw)
                raw = dict(raw, key=expanded.key if expanded else None)
            if not isinstance(raw, dict) or not isinstance(raw.get("key"), str):
                continue
            key = raw["key"]
            if key in seen_keys:
                self.error(path + ("queue" if preset else "key",), f"queue '{key}' is declared twice (first at queues[{seen_keys[key]}]); each queue once")
                continue
            seen_keys[key] = index
            if not self.ok(path):
                if self.ok(path + ("alarms",)) and isinstance(raw.get("alarms"), dict):
                    # Elsewhere broken, but its alarm tiers can still be checked: report all in one run.
                    self._rules(path + ("alarms",), default_alarms, raw["alarms"], QUEUE_KINDS, runbooks, collector, lambda kind: True, has=lambda _: True)
                continue
            for role in ("processing", "dead_letter", "retry"):
                if raw.get(role) == key:
                    self.error(path + (role,), f"the {role} key cannot be the queue itself ('{key}')")
            if expanded is not None:
                source = expanded
                default_name = naming.slug(f"{raw['framework']}-{raw['queue']}")
            else:
                source = QueueSource(
                    key=key, processing_key=raw.get("processing"), dead_letter_key=raw.get("dead_letter"), **self._read_fields(raw, queue_defaults)
                )
                default_name = naming.slug(key)
            queue_runbooks = {**runbooks, **(raw.get("runbooks") or {})}
            parts = source.parts()
            measured = {"processing": bool(parts.in_flight), "dead_letter": bool(parts.dead)}

            def needs(kind: AlarmKind) -> bool:
                if kind is AlarmKind.PROCESSING_LAG:
                    return parts.time.kind is not TimeKind.NONE
                return kind.info.needs is None or measured[kind.info.needs]

            def has(name: str, raw=raw) -> bool:
                """Whether the queue has the part a queue_depth tier's `parts` names (a preset: if it keeps one)."""
                return measured[name] if name in measured else bool(raw.get(name))

            rules = self._rules(
                path + ("alarms",), default_alarms, raw.get("alarms") or {}, QUEUE_KINDS, queue_runbooks, collector, needs, has=has
            )
            queues.append(
                Queue(
                    key=key,
                    name=raw.get("name") or default_name,
                    source=source,
                    alarms=tuple(rules),
                    description=raw.get("description", ""),
                    target=raw.get("target"),
                    retry=raw.get("retry"),
                    framework=raw["framework"] if preset else None,
                )
            )
        return queues

    def _streams(self, raw_streams, default_alarms, runbooks, collector) -> list[Stream]:
        streams: list[Stream] = []
        if not isinstance(raw_streams, list) or not self.ok(("defaults",)):
            return streams
        seen: set[str] = set()
        for index, raw in enumerate(raw_streams):
            path = ("streams", index)
            if not self.ok(path) or not self._first(path, raw["key"], seen):
                continue
            groups = tuple(raw.get("groups") or ())
            for position, group in enumerate(groups):
                if group in groups[:position]:
                    self.error(path + ("groups", position), f"consumer group '{group}' is listed twice; list each group once")
            own_runbooks = {**runbooks, **(raw.get("runbooks") or {})}
            rules = self._rules(path + ("alarms",), default_alarms, raw.get("alarms") or {}, STREAM_KINDS, own_runbooks, collector, lambda _: bool(groups))
            if not groups and any(default_alarms.get(k.value) for k in STREAM_KINDS):
                self.warnings.append(
                    self.doc.problem(path, f"stream '{raw['key']}' lists no consumer groups: its groups are measured but get no alarms (list them under 'groups')")
                )
            streams.append(
                Stream(key=raw["key"], name=raw.get("name") or naming.slug(raw["key"]), groups=groups, alarms=tuple(rules), description=raw.get("description", ""), target=raw.get("target"))
            )
        return streams

    def _delayed(self, raw_delayed, default_alarms, runbooks, collector) -> list[DelayedQueue]:
        delayed: list[DelayedQueue] = []
        if not isinstance(raw_delayed, list) or not self.ok(("defaults",)):
            return delayed
        seen: set[str] = set()
        for index, raw in enumerate(raw_delayed):
            path = ("delayed", index)
            if not self.ok(path) or not self._first(path, raw["key"], seen):
                continue
            source = DelayedSource(raw["key"], ScoreUnit(raw.get("score_unit", ScoreUnit.SECONDS.value)), float(raw.get("grace_seconds", 0)))
            own_runbooks = {**runbooks, **(raw.get("runbooks") or {})}
            rules = self._rules(path + ("alarms",), default_alarms, raw.get("alarms") or {}, DELAYED_KINDS, own_runbooks, collector, lambda _: True)
            delayed.append(
                DelayedQueue(key=raw["key"], name=raw.get("name") or naming.slug(raw["key"]), source=source, alarms=tuple(rules), description=raw.get("description", ""), target=raw.get("target"))
            )
        return delayed

    def _check_retry_sets(self, raw_queues, delayed: list[DelayedQueue]) -> None:
        """A queue's retry set must be declared under `delayed`, or nothing reads it."""
        declared = {item.key for item in delayed}
        for index, raw in enumerate(raw_queues if isinstance(raw_queues, list) else []):
            retry = raw.get("retry") if isinstance(raw, dict) else None
            if isinstance(retry, str) and retry not in declared and self.ok(("delayed",)):
                self.error(("queues", index, "retry"), f"the retry set '{retry}' is not declared under 'delayed' (add it there with its score_unit)")

    def _first(self, path: tuple, key: str, seen: set[str]) -> bool:
        """False (and an error) when this section already declared the key."""
        if key in seen:
            self.error(path + ("key",), f"'{key}' is declared twice in {path[0]}; each key once")
            return False
        seen.add(key)
        return True

    def _patterns(self, raw_patterns, queue_defaults, default_alarms, runbooks, collector) -> list[Pattern]:
        patterns = []
        if not isinstance(raw_patterns, list) or not self.ok(("defaults",)):
            return patterns
        seen: set[str] = set()
        for index, raw in enumerate(raw_patterns):
            path = ("patterns", index)
            if not self.ok(path):
                continue
            name = raw.get("name") or naming.slug(raw["pattern"])
            if name in seen:
                self.error(path + ("name",) if "name" in raw else path + ("pattern",), f"two patterns are named '{name}' in alarm names; give one a different 'name'")
                continue
            seen.add(name)
            fields = self._read_fields(raw, queue_defaults)
            own_runbooks = {**runbooks, **(raw.get("runbooks") or {})}
            rules = self._rules(path + ("alarms",), default_alarms, raw.get("alarms") or {}, PATTERN_KINDS, own_runbooks, collector, lambda _: True)
            patterns.append(
                Pattern(
                    pattern=raw["pattern"],
                    processing=raw.get("processing"),
                    dead_letter=raw.get("dead_letter"),
                    max_keys=raw.get("max_keys", collector.discovery.max_keys),
                    **fields,
                    target=raw.get("target"),
                    name=name,
                    alarms=tuple(rules),
                )
            )
        return patterns
