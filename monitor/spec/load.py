"""`load_spec`, the only way in: read the file safely, check it against SPEC_SCHEMA, run the CloudWatch and
consistency rules, and either return a frozen `Spec` or raise SpecError with every problem."""

from __future__ import annotations

import contextlib
import gc
import os
from typing import Iterator, Mapping

from monitor.errors import SpecError
from monitor.spec.build_queues import QueueParts
from monitor.spec.build_rules import AlarmRules
from monitor.spec.build_targets import Targets
from monitor.spec.checks import CrossChecks
from monitor.spec.declaration import DEFAULT_SPEC_PATH, SPEC_SCHEMA
from monitor.spec.kinds import (
    TARGET_KINDS,
    Severity,
)
from monitor.spec.model import AlarmRule, Collector, Discovery, Incidents, Notify, Spec
from monitor.spec.schema import accepted_view
from monitor.spec.yamlload import (
    Document,
    LoadError,
    Problem,
    format_path,
    load_document,
)


def load_spec(path: str = DEFAULT_SPEC_PATH, *, env: str | None = None, environ: Mapping[str, str] | None = None) -> Spec:
    """Read, validate and build the spec; raise SpecError with every problem found."""
    with _cycle_collection_paused():
        return _load_spec(path, env=env, environ=environ)


@contextlib.contextmanager
def _cycle_collection_paused() -> Iterator[None]:
    """Python's cycle collector off while the spec's objects are made: they form no garbage cycles,
    and at 10,000 queues its passes over them were 40 % of the load's CPU time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _load_spec(path: str, *, env: str | None, environ: Mapping[str, str] | None) -> Spec:
    try:
        doc = load_document(path, os.environ if environ is None else environ)
    except LoadError as exc:
        raise SpecError(exc.problems) from None
    problems = list(doc.problems)
    # A value whose ${VAR} is unset is reported as exactly that, not also as a wrong type.
    unresolved = {format_path(p) for p in doc.unset_vars}
    checked, view = accepted_view(SPEC_SCHEMA, doc, empty={})
    problems += [p for p in checked if p.path not in unresolved]
    if env is not None and isinstance(doc.data, dict):
        envs = doc.data.get("environments")
        if isinstance(envs, dict) and env not in envs:
            problems.append(doc.problem(("environments",), f"no environment '{env}' (--env); the spec has: {', '.join(map(str, envs)) or 'none'}"))
    unusable: set[str] = set()  # other environments with unset variables: left out of this run's spec
    for var_path, name in doc.unset_vars.items():
        if env is not None and len(var_path) > 1 and var_path[0] == "environments" and var_path[1] != env:
            unusable.add(var_path[1])
            continue  # another environment's variables need not be set to use this one
        problems.append(
            doc.problem(var_path, f"environment variable {name} is not set and has no default (write ${{{name}:-value}} to give one)")
        )
    builder = _SpecBuilder(doc, view, problems, skip_environments=unusable)
    spec = builder.build()
    if builder.problems:
        raise SpecError(sorted(builder.problems, key=lambda p: (p.line, p.column)))
    return spec


class _SpecBuilder(QueueParts, AlarmRules, Targets, CrossChecks):
    """Builds typed objects from the schema-accepted view of a document, skipping parts that have problems."""

    def __init__(self, doc: Document, data: dict, problems: list[Problem], *, skip_environments: set[str] = frozenset()):
        self.doc = doc
        self.skip_environments = skip_environments
        self.data = data  # only values of their declared types: see schema.accepted_view
        self.problems = problems
        self.warnings: list[Problem] = []
        # Every path that has a problem at or below it: one set lookup per ok(), not a scan of all
        # problems (10,000 broken queues would otherwise cost 10^8 comparisons).
        self._bad = {prefix for p in problems for prefix in _prefixes(p.path)}
        self._any_bad = bool(problems)
        self.default_rules: dict[tuple, AlarmRule | None] = {}  # see AlarmRules._default_rule

    def ok(self, path: tuple) -> bool:
        return format_path(path) not in self._bad if path else not self._any_bad

    def error(self, path: tuple, message: str, *, key: bool = False) -> None:
        self.problems.append(self.doc.problem(path, message, key=key))

    def build(self) -> Spec | None:
        data = self.data
        collector = self._collector(data.get("collector") or {}) if self.ok(("collector",)) else Collector()
        runbooks = data.get("runbooks") or {}
        defaults = data.get("defaults") or {}
        default_alarms = defaults.get("alarms") or {} if isinstance(defaults, dict) else {}
        queue_defaults = defaults.get("queue") or {} if isinstance(defaults, dict) else {}
        queues = self._queues(data.get("queues") or [], queue_defaults, default_alarms, runbooks, collector)
        patterns = self._patterns(data.get("patterns") or [], queue_defaults, default_alarms, runbooks, collector)
        streams = self._streams(data.get("streams") or [], default_alarms, runbooks, collector)
        delayed = self._delayed(data.get("delayed") or [], default_alarms, runbooks, collector)
        self._check_retry_sets(data.get("queues") or [], delayed)
        target_alarms = tuple(
            self._rules(("target_alarms",), {}, data.get("target_alarms") or {}, TARGET_KINDS, runbooks, collector, needs=lambda _: True)
        )
        self._runbook_warnings()
        incidents = self._incidents(data.get("incidents")) if self.ok(("incidents",)) else None
        environments = self._environments(data.get("environments") or {})
        self._check_tags(data.get("tags") or {})
        self._check_targets(data, queues, patterns, environments, streams, delayed)
        if self.ok(()):
            self._check_names(data, queues, target_alarms, environments)
            self._check_typed_names(data, queues, streams, delayed, environments)
            self._check_pattern_names(data, queues, streams, delayed, patterns)
        if self.problems:
            return None
        return Spec(
            path=self.doc.file,
            namespace=data["namespace"],
            name_prefix=data["name_prefix"],
            tags=dict(data.get("tags") or {}),
            collector=collector,
            environments=environments,
            queues=tuple(queues),
            patterns=tuple(patterns),
            target_alarms=target_alarms,
            warnings=tuple(self.warnings),
            streams=tuple(streams),
            delayed=tuple(delayed),
            incidents=incidents,
        )

    def _incidents(self, raw: dict | None) -> Incidents | None:
        if raw is None:
            return None
        base = Incidents()
        return Incidents(
            severities=tuple(dict.fromkeys(Severity(s) for s in raw.get("severities", [s.value for s in base.severities]))),
            notify=Notify(raw.get("notify", base.notify.value)),
            suppress_while_target_down=raw.get("suppress_while_target_down", base.suppress_while_target_down),
            suppress_wait_seconds=raw.get("suppress_wait_seconds", base.suppress_wait_seconds),
            suppress_extension_seconds=raw.get("suppress_extension_seconds", base.suppress_extension_seconds),
            runbook=raw.get("runbook") or None,
        )

    def _collector(self, raw: dict) -> Collector:
        disc = raw.get("discovery") or {}
        base = Collector()
        collector = Collector(
            function_name=raw.get("function_name", base.function_name),
            schedule=raw.get("schedule", base.schedule),
            publish=raw.get("publish", base.publish),
            storage_resolution=raw.get("storage_resolution", base.storage_resolution),
            connect_timeout_seconds=raw.get("connect_timeout_seconds", base.connect_timeout_seconds),
            read_timeout_seconds=raw.get("read_timeout_seconds", base.read_timeout_seconds),
            discovery=Discovery(
                scan_count=disc.get("scan_count", base.discovery.scan_count),
                max_keys=disc.get("max_keys", base.discovery.max_keys),
                time_budget_seconds=disc.get("time_budget_seconds", base.discovery.time_budget_seconds),
            ),
        )
        if collector.storage_resolution not in (1, 60):
            self.error(("collector", "storage_resolution"), f"found {collector.storage_resolution}; expected 1 (high resolution) or 60")
        return collector


def _prefixes(rendered: str) -> list[str]:
    """'queues[3].alarms' -> ['queues', 'queues[3]', 'queues[3].alarms'] (as format_path renders paths)."""
    cuts = [i for i, c in enumerate(rendered) if c in ".["] + [len(rendered)]
    return [rendered[:i] for i in cuts if i]


def problems_text(error: SpecError) -> str:
    count = len(error.problems)
    return "\n".join(str(p) for p in error.problems) + f"\n{count} problem{'s' if count != 1 else ''} found"
