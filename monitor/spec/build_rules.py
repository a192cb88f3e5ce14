"""Building alarm rules (tiers) and checking their thresholds against what CloudWatch allows."""

from __future__ import annotations

from monitor.spec.declaration import (
    DEFAULT_EVALUATION_PERIODS,
    DEFAULT_PERIOD,
    HIGH_RESOLUTION_PERIODS,
    MAX_EVALUATION_SECONDS,
    MAX_EVALUATION_SECONDS_SHORT,
)
from monitor.spec.kinds import (
    ANOMALY_KINDS,
    MAX_DRAIN_ESTIMATE_SECONDS,
    AlarmKind,
    Comparison,
    Severity,
    TreatMissingData,
)
from monitor.spec import runbooks as runbooks_ref
from monitor.spec.model import AlarmRule, Collector
from monitor.spec.sources import QueuePart
from monitor.spec.windows import WindowKind, timezone_problem, wall_clock_period_problem

# What a queue needs for each part a queue_depth tier may count (the queue field that must be set).
PART_NEEDS = {QueuePart.WAITING: None, QueuePart.IN_FLIGHT: "processing", QueuePart.RETRY: "retry"}

_PART_FIELDS = tuple(field for field in PART_NEEDS.values() if field)
_SEVERITIES = frozenset(s.value for s in Severity)


class AlarmRules:
    """Part of the spec builder (monitor.spec.load); uses its ok/error/doc."""

    unlinked_runbooks = 0  # tiers whose runbook is a #section of the shipped runbooks, not a URL

    def _runbook_warnings(self) -> None:
        """One warning for every tier whose runbook cannot be linked yet, not one per alarm."""
        if self.unlinked_runbooks:
            self.warnings.append(self.doc.problem(("runbooks",), runbooks_ref.unlinked_warning(self.unlinked_runbooks)))

    def _rules(self, path, defaults: dict, overrides: dict, kinds, runbooks: dict, collector: Collector, needs, has=None) -> list[AlarmRule]:
        """Merge default tiers with this queue's overrides, field by field, and check each result.

        `has(field)` says whether the queue sets a field (processing, retry) that a tier's `parts`
        needs; None for subjects that are not list queues, where `parts` is never allowed.
        """
        rules: list[AlarmRule] = []
        for kind in kinds:
            name = kind.value
            base = defaults.get(name) or {}
            own = overrides.get(name) or {}
            if own and not needs(kind):
                what = f"the queue's '{kind.info.needs}' list, which is not set" if kind.info.needs else "an enqueue time, which this queue's jobs do not carry"
                self.error(path + (name,), f"a {name} alarm needs {what}")
                continue
            if not needs(kind):
                continue
            for tier in list(base) + [t for t in own if t not in base]:
                if tier not in own:
                    # A default tier, untouched: the same rule (and the same problems, reported once)
                    # for every queue that has the same runbook. 10,000 queues build it once.
                    rule = self._default_rule(kind, tier, base, runbooks, collector, has)
                    if rule is not None:
                        rules.append(rule)
                    continue
                tier_path = path + (name, tier)
                if not self.ok(tier_path):
                    continue
                inherited = dict(base.get(tier) or {})
                if "evaluation_periods" in (own.get(tier) or {}):
                    # A new N resets M to "all N" unless the override says otherwise: an M
                    # inherited from a different N is almost never what was meant.
                    inherited.pop("datapoints_to_alarm", None)
                merged = {**inherited, **(own.get(tier) or {})}
                if merged.get("enabled", True) is False:
                    continue
                rule = self._rule(kind, tier, merged, tier_path, runbooks, collector, has)
                if rule is not None:
                    rules.append(rule)
        return rules

    def _default_rule(self, kind: AlarmKind, tier: str, base: dict, runbooks: dict, collector: Collector, has) -> AlarmRule | None:
        raw = base.get(tier) or {}
        # What else the rule depends on: the queue's fields, when the tier counts `parts`.
        fields = None if has is None else tuple(has(f) for f in _PART_FIELDS) if isinstance(raw, dict) and "parts" in raw else True
        key = (kind, tier, id(base), runbooks.get(kind.value), fields)
        cache = self.default_rules
        if key not in cache:
            tier_path = ("defaults", "alarms", kind.value, tier)
            usable = self.ok(tier_path) and isinstance(raw, dict) and raw.get("enabled", True) is not False
            cache[key] = self._rule(kind, tier, dict(raw), tier_path, runbooks, collector, has) if usable else None
        elif cache[key] is not None and cache[key].runbook and not runbooks_ref.is_link(cache[key].runbook):
            self.unlinked_runbooks += 1  # counted per tier, as _rule counts the first
        return cache[key]

    def _rule(self, kind: AlarmKind, tier: str, raw: dict, path, runbooks: dict, collector: Collector, has=None) -> AlarmRule | None:
        info = kind.info
        before = len(self.problems)
        parts = self._parts(kind, raw.get("parts"), path, has)
        idle = raw.get("only_when_idle", False)
        if idle and kind is not AlarmKind.IN_FLIGHT_DEPTH:
            self.error(path + ("only_when_idle",), f"'only_when_idle' is for in_flight_depth tiers only, not for {kind.value}")
        severity = raw.get("severity", tier)
        if severity not in _SEVERITIES:
            self.error(path, f"tier '{tier}' is not a severity name, so it needs 'severity: critical|warning|info'")
            return None
        if "threshold" not in raw:
            self.error(path, f"missing 'threshold' for the {kind.value} alarm (set it here or in defaults.alarms.{kind.value}.{tier})")
            return None
        period = raw.get("period", DEFAULT_PERIOD)
        evaluation_periods = raw.get("evaluation_periods", DEFAULT_EVALUATION_PERIODS)
        datapoints = raw.get("datapoints_to_alarm", evaluation_periods)
        comparison = Comparison.parse(raw["comparison"]) if "comparison" in raw else info.comparison
        threshold = float(raw["threshold"])
        if period not in HIGH_RESOLUTION_PERIODS and period % 60:
            self.error(path + ("period",), f"found {period}; CloudWatch allows 10, 20, 30 or a multiple of 60 seconds")
        elif period in HIGH_RESOLUTION_PERIODS and collector.storage_resolution != 1:
            self.error(
                path + ("period",),
                f"a {period}-second period needs high-resolution metrics, but collector.storage_resolution is {collector.storage_resolution}: use 60 or more, or set storage_resolution: 1",
            )
        limit = MAX_EVALUATION_SECONDS_SHORT if period < 3600 else MAX_EVALUATION_SECONDS
        if period * evaluation_periods > limit:
            self.error(
                path + ("evaluation_periods",),
                f"period x evaluation_periods = {period * evaluation_periods}s; CloudWatch allows at most {limit}s ({'1 day' if limit == MAX_EVALUATION_SECONDS_SHORT else '7 days'}) for a {period}s period",
            )
        if datapoints > evaluation_periods:
            self.error(path + ("datapoints_to_alarm",), f"found {datapoints}; must be at most evaluation_periods ({evaluation_periods})")
        window = WindowKind(raw.get("evaluation_window", WindowKind.SLIDING.value))
        timezone = raw.get("timezone")
        self._check_window(window, timezone, period, path)
        self._check_threshold(kind, comparison, threshold, path)
        if "min_depth" in raw and kind is not AlarmKind.TIME_TO_DRAIN:
            self.error(path + ("min_depth",), f"min_depth belongs to time_to_drain tiers; a {kind.value} alarm has no use for it")
        runbook = raw.get("runbook") or runbooks.get(kind.value)
        if not runbook:
            self.warnings.append(self.doc.problem(path, f"no runbook for this {kind.value} alarm (set runbooks.{kind.value})"))
        elif not runbooks_ref.is_link(runbook):
            self.unlinked_runbooks += 1
        if len(self.problems) > before:
            return None
        return AlarmRule(
            kind=kind,
            tier=tier,
            severity=Severity(severity),
            threshold=threshold,
            comparison=comparison,
            statistic=raw.get("statistic", info.statistic),
            period=period,
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=datapoints,
            treat_missing_data=TreatMissingData(raw.get("treat_missing_data", info.treat_missing_data.value)),
            runbook=runbook,
            description=raw.get("description", ""),
            min_depth=float(raw.get("min_depth", 0)),
            parts=parts,
            only_when_idle=bool(idle),
            evaluation_window=window,
            timezone=timezone,
        )

    def _parts(self, kind: AlarmKind, raw, path, has) -> tuple[QueuePart, ...]:
        """The parts a queue_depth tier counts, each checked against what the queue declares."""
        if raw is None:
            return ()
        if kind is not AlarmKind.QUEUE_DEPTH or has is None:
            self.error(path + ("parts",), f"'parts' is for queue_depth tiers of queues only, not for {kind.value}")
            return ()
        parts = tuple(dict.fromkeys(QueuePart(p) for p in raw))
        for part in parts:
            field = PART_NEEDS[part]
            if field and not has(field):
                self.error(path + ("parts",), f"counting '{part.value}' needs the queue's '{field}' key, which is not set")
        return parts if parts != (QueuePart.WAITING,) else ()

    def _check_window(self, window: WindowKind, timezone: str | None, period: int, path) -> None:
        """A wall-clock window needs one of its periods and a real time zone; a sliding one takes no time zone."""
        if window is WindowKind.SLIDING:
            if timezone is not None:
                self.error(
                    path + ("timezone",),
                    f"a time zone goes with evaluation_window: {WindowKind.WALL_CLOCK.value}; this tier's window is {window.value}",
                    key=True,
                )
            return
        problem = wall_clock_period_problem(period)
        if problem:
            self.error(path + ("evaluation_window",), problem)
        if timezone is not None and (problem := timezone_problem(timezone)):
            self.error(path + ("timezone",), problem)

    def _check_threshold(self, kind: AlarmKind, comparison: Comparison, threshold: float, path) -> None:
        """Reject thresholds that make an alarm always or never fire for the kind's metric."""
        where = path + ("threshold",)
        upward = comparison in (Comparison.GT, Comparison.GE)
        if kind is AlarmKind.COLLECTOR_HEARTBEAT:
            if upward:
                self.error(path + ("comparison",), "a heartbeat alarm fires when runs are missing: use < or <=")
            elif (comparison is Comparison.LT and threshold <= 0) or threshold < 0:
                self.error(where, f"found {threshold:g}; the heartbeat count is never below that, so the alarm could never fire (use < 1)")
            return
        if not upward:
            self.error(path + ("comparison",), f"a {kind.value} alarm fires when the value grows: use > or >=")
            return
        if kind in ANOMALY_KINDS:
            if threshold <= 0:
                self.error(where, f"found {threshold:g}; an anomaly band's width is a number of standard deviations above 0 (2 is usual)")
            return
        if kind is AlarmKind.TIME_TO_DRAIN and threshold >= MAX_DRAIN_ESTIMATE_SECONDS:
            self.error(
                where,
                f"found {threshold:g}; the estimate is capped at {MAX_DRAIN_ESTIMATE_SECONDS} seconds (a stalled or growing queue), so the alarm could never fire: use less",
            )
            return
        if kind is AlarmKind.CONNECTION_FAILURE and not (
            (comparison is Comparison.GE and 0 < threshold <= 1) or (comparison is Comparison.GT and 0 <= threshold < 1)
        ):
            self.error(where, f"found {threshold:g}; the failure signal is 0 or 1, so use >= 1 (or > 0)")
            return
        if threshold < 0 or (comparison is Comparison.GE and threshold <= 0):
            self.error(where, f"found {comparison.symbol} {threshold:g}; a {kind.value} value is never negative, so the alarm would always fire")
