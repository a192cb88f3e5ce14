"""Cross-checks over the whole spec: tags, and names that must be unique or fit CloudWatch's limits."""

from __future__ import annotations

from monitor.spec import naming
from monitor.spec.build_queues import raw_queue_key
from monitor.spec.declaration import MAX_ALARM_TAGS
from monitor.spec.model import group_subject


class CrossChecks:
    """Part of the spec builder (monitor.spec.load); uses its ok/error/doc."""

    def _check_tags(self, tags) -> None:
        if not isinstance(tags, dict):
            return
        for key in tags:
            if key in naming.RESERVED_TAG_KEYS:
                self.error(("tags", key), f"tag '{key}' is set by provision-alarms itself (ownership); choose another key", key=True)
        limit = MAX_ALARM_TAGS - len(naming.RESERVED_TAG_KEYS)
        if len(tags) > limit:
            self.error(("tags",), f"{len(tags)} tags; at most {limit} (CloudWatch allows {MAX_ALARM_TAGS} per alarm, {len(naming.RESERVED_TAG_KEYS)} are ours)")

    def _alarm_names_fit(self, path, prefix, longest_env, subject, rules, shorten) -> bool:
        """Whether every alarm name of `subject` fits CloudWatch's limit; reports the first that does not."""
        for rule in rules:
            name = naming.alarm_name(prefix, longest_env, subject, rule.kind, rule.tier)
            if len(name) > naming.MAX_ALARM_NAME:
                self.error(path, f"alarm name '{name[:60]}...' would be {len(name)} characters; CloudWatch allows {naming.MAX_ALARM_NAME} (shorten {shorten})")
                return False
        return True

    def _check_names(self, data, queues, target_alarms, environments) -> None:
        prefix = data["name_prefix"]
        index_of = {raw_queue_key(q): i for i, q in enumerate(data.get("queues") or [])}
        seen: dict[str, str] = {}
        for queue in queues:
            path = ("queues", index_of[queue.key])
            if queue.name in seen:
                self.error(
                    path + (next(f for f in ("name", "key", "queue") if f in data["queues"][path[1]]),),
                    f"queue name '{queue.name}' (used in alarm names) is also the name of queue '{seen[queue.name]}'; give one a distinct 'name'",
                )
            seen[queue.name] = queue.key
        longest_env = max(environments, key=len, default="")
        subjects = [(("queues", index_of[q.key]), q.name, q.alarms) for q in queues]
        subjects += [(("environments", e), naming.target_subject(t.name), target_alarms) for e in environments for t in environments[e].targets]
        for path, subject, rules in subjects:
            self._alarm_names_fit(path, prefix, longest_env, subject, rules, "name_prefix or the 'name'")

    def _check_pattern_names(self, data, queues, streams, delayed, patterns) -> None:
        """A pattern's name (in its alarm names) is no queue's, stream's or delayed set's name."""
        taken = {item.name: f"{section}[{i}]" for section, items in (("queues", queues), ("streams", streams), ("delayed", delayed)) for i, item in enumerate(items)}
        raw_items = data.get("patterns") or []
        for index, pattern in enumerate(patterns):
            if pattern.name in taken:
                position = next(i for i, r in enumerate(raw_items) if r.get("pattern") == pattern.pattern)
                where = "name" if "name" in raw_items[position] else "pattern"
                self.error(("patterns", position, where), f"name '{pattern.name}' (used in alarm names) is also the name at {taken[pattern.name]}; give the pattern a distinct 'name'")

    def _check_typed_names(self, data, queues, streams, delayed, environments) -> None:
        """Keys and names of streams and delayed sets: each once across every section; alarm names fit."""
        keys = {q.key: f"queues[{i}]" for i, q in enumerate(queues)}
        names = {q.name: f"queues[{i}]" for i, q in enumerate(queues)}
        longest_env = max(environments, key=len, default="")
        group_subjects: dict[str, str] = {}
        for section, items in (("streams", streams), ("delayed", delayed)):
            raw_items = data.get(section) or []
            index_of = {r.get("key"): i for i, r in enumerate(raw_items)}
            for item in items:
                index = index_of[item.key]
                path = (section, index)
                if item.key in keys:
                    self.error(path + ("key",), f"key '{item.key}' is also declared at {keys[item.key]}; each key once, as one type")
                elif item.name in names:
                    field_name = "name" if "name" in raw_items[index] else "key"
                    self.error(path + (field_name,), f"name '{item.name}' (used in alarm names) is also the name at {names[item.name]}; give one a distinct 'name'")
                keys.setdefault(item.key, f"{section}[{index}]")
                names.setdefault(item.name, f"{section}[{index}]")
                subjects = [group_subject(item.name, g) for g in item.groups] if section == "streams" else [item.name]
                if section == "streams" and item.alarms:
                    for group, subject in zip(item.groups, subjects):
                        if subject in group_subjects:
                            self.error(path + ("groups",), f"group '{group}' gives alarm names ending '{subject}-KIND-TIER', as {group_subjects[subject]} does; rename the stream or the group")
                        group_subjects.setdefault(subject, f"group '{group}' of streams[{index}]")
                for subject in subjects:
                    if not self._alarm_names_fit(path, data["name_prefix"], longest_env, subject, item.alarms, "name_prefix, the 'name' or the group"):
                        return
