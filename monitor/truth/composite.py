"""Composite alarms offline: AlarmRule expressions over other alarms' timelines, and actions suppression.

A composite is a PutCompositeAlarm parameter dict (AlarmName, AlarmRule, AlarmActions, OKActions,
InsufficientDataActions, ActionsEnabled, ActionsSuppressor, ActionsSuppressorWaitPeriod,
ActionsSuppressorExtensionPeriod). Its children's timelines come from monitor.truth.evaluator.

    rule = parse_rule('ALARM("a") AND NOT (OK(b) OR INSUFFICIENT_DATA(c))')
    lines = evaluate_composites(composites, metric_timelines)   # {composite name: [Evaluation, ...]}
    actions(alarm, timelines)                                   # when its actions ran or were suppressed

Semantics (shared/docs/aws-facts.md, "Composite alarms"; botocore's CloudWatch model):
- The rule is re-evaluated whenever a child is evaluated; TRUE means ALARM, FALSE means OK. A new
  composite is INSUFFICIENT_DATA until its first evaluation. Children may be composites too.
- Names in ALARM(...) may be bare or in double quotes, or alarm ARNs (the name is the part after
  ":alarm:"). NOT binds tighter than AND, AND tighter than OR (ASSUMPTION: the usual order; AWS
  documents the operators and parentheses, not their precedence; write parentheses when mixing).
- Limits: AlarmRule at most 10,240 characters, 100 child alarms and 500 elements.
- Actions run when the alarm enters a state that has actions (ActionsEnabled true). With an
  ActionsSuppressor they are held while the suppressor is in ALARM and for ExtensionPeriod after
  it leaves; when the composite changes state while its suppressor is not in ALARM, the actions
  wait up to WaitPeriod for the suppressor to go into ALARM, and run after it if it does not.
  Held actions run when the hold ends, if the composite is still in that state; if it has left
  that state by then, they never run (suppressed). ASSUMPTION: the same applies to OK and
  INSUFFICIENT_DATA actions as to ALARM actions (AWS describes suppression for "the composite
  alarm's actions" without naming states).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# The AlarmRule language lives in monitor.cloudwatch.rules (shared with the templates); re-exported.
from monitor.cloudwatch.rules import (  # noqa: F401
    MAX_RULE_CHILDREN,
    MAX_RULE_ELEMENTS,
    MAX_RULE_LENGTH,
    Both,
    Constant,
    Not,
    Operator,
    Rule,
    RuleSyntaxError,
    State,
    StateOf,
    alarm_name,
    children_of,
    is_composite,
    parse_rule,
)
from monitor.truth.evaluator import Evaluation, InvalidAlarm, NotSupported, state_at, transitions

ACTION_FIELDS = {State.ALARM: "AlarmActions", State.OK: "OKActions", State.INSUFFICIENT_DATA: "InsufficientDataActions"}
SUPPRESSOR_FIELDS = ("ActionsSuppressorWaitPeriod", "ActionsSuppressorExtensionPeriod")


def holds(rule: Rule, states: Mapping[str, State]) -> bool:
    """Whether the rule is TRUE with the children in these states."""
    if isinstance(rule, StateOf):
        return states[rule.alarm] is rule.state
    if isinstance(rule, Constant):
        return rule.value
    if isinstance(rule, Not):
        return not holds(rule.operand, states)
    results = (holds(r, states) for r in rule.operands)
    return all(results) if rule.operator is Operator.AND else any(results)


# ---------------------------------------------------------------- the composite


@dataclass(frozen=True)
class Suppressor:
    alarm: str
    wait: int  # seconds the actions wait for the suppressor to go into ALARM
    extension: int  # seconds suppression lasts after the suppressor leaves ALARM


@dataclass(frozen=True)
class CompositeConfig:
    name: str
    text: str
    rule: Rule
    suppressor: Suppressor | None


def parse_composite(params: Mapping) -> CompositeConfig:
    """The evaluation-relevant part of PutCompositeAlarm parameters; InvalidAlarm when they are not valid."""
    name = params.get("AlarmName") or "<unnamed>"
    rule = parse_rule(params.get("AlarmRule", ""), name)
    suppressor = None
    periods = [f for f in SUPPRESSOR_FIELDS if f in params]
    if params.get("ActionsSuppressor"):
        missing = [f for f in SUPPRESSOR_FIELDS if f not in params]
        if missing:
            raise InvalidAlarm(f"composite alarm {name}: ActionsSuppressor needs {' and '.join(missing)} (seconds)")
        values = [params[f] for f in SUPPRESSOR_FIELDS]
        for field_name, value in zip(SUPPRESSOR_FIELDS, values):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidAlarm(f"composite alarm {name}: {field_name} must be a whole number of seconds, 0 or more; found {value!r}")
        suppressor = Suppressor(alarm_name(params["ActionsSuppressor"]), *values)
    elif periods:
        raise InvalidAlarm(f"composite alarm {name}: {', '.join(periods)} given without ActionsSuppressor")
    return CompositeConfig(name, params["AlarmRule"], rule, suppressor)


def evaluate_composites(composites: Sequence[Mapping], timelines: Mapping[str, Sequence[Evaluation]]) -> dict[str, list[Evaluation]]:
    """Timelines of the composites, evaluated whenever one of their children is (children may be composites).

    Raises InvalidAlarm for an unknown child or suppressor, or composites that refer to each other
    in a cycle; NotSupported when a child is not modelled (it is missing from `timelines` and
    named in `not_modelled` of the caller).
    """
    configs = {c.name: c for c in map(parse_composite, composites)}
    known = set(timelines) | set(configs)
    for config in configs.values():
        unknown = sorted(children_of(config.rule) - known)
        if config.suppressor and config.suppressor.alarm not in known:
            unknown.append(config.suppressor.alarm)
        if unknown:
            raise InvalidAlarm(
                f"composite alarm {config.name}: unknown alarm(s) {', '.join(unknown)}; known: {', '.join(sorted(known)) or 'none'}"
            )
    done: dict[str, list[Evaluation]] = dict(timelines)

    def resolve(name: str, chain: tuple[str, ...] = ()) -> list[Evaluation]:
        if name in done:
            return done[name]
        if name in chain:
            raise InvalidAlarm(f"composite alarms refer to each other in a cycle: {' -> '.join(chain + (name,))}")
        config = configs[name]
        children = sorted(children_of(config.rule))
        lines = {child: resolve(child, chain + (name,)) for child in children}
        times = sorted({e.time for line in lines.values() for e in line})
        timeline = []
        for t in times:
            states = {child: state_at(lines[child], t) for child in children}
            truth = holds(config.rule, states)
            words = ", ".join(f"{child} {state.value}" for child, state in states.items()) or "no children"
            timeline.append(Evaluation(t, State.ALARM if truth else State.OK, (), f"{config.text} is {'TRUE' if truth else 'FALSE'}: {words}"))
        done[name] = timeline
        return timeline

    return {name: resolve(name) for name in configs}


def not_modelled_children(composite: Mapping, not_modelled: Mapping[str, str]) -> NotSupported | None:
    """NotSupported naming the first child (or suppressor) the evaluator cannot run, or None."""
    config = parse_composite(composite)
    names = sorted(children_of(config.rule)) + ([config.suppressor.alarm] if config.suppressor else [])
    for name in names:
        if name in not_modelled:
            return NotSupported(f"composite alarm {config.name}: its child {name} is not modelled ({not_modelled[name]})")
    return None


def rule_words(rule: Rule, top: bool = True) -> str:
    """The rule in words: 'queue-depth is in ALARM and not (redis-down is in ALARM)'."""
    if isinstance(rule, StateOf):
        return f"{rule.alarm} is in {rule.state.value}"
    if isinstance(rule, Constant):
        return "always" if rule.value else "never"
    if isinstance(rule, Not):
        return f"not ({rule_words(rule.operand)})"
    text = f" {rule.operator.value.lower()} ".join(rule_words(r, False) for r in rule.operands)
    return text if top else f"({text})"


def explain(params: Mapping) -> str:
    """When the composite is in ALARM, and what happens to its actions, in words."""
    config = parse_composite(params)
    words = f"ALARM when {rule_words(config.rule)}; OK otherwise (re-evaluated whenever one of its alarms is)."
    if params.get("ActionsEnabled", True) is False:
        return words + " Its actions are disabled."
    if config.suppressor:
        sup = config.suppressor
        words += (
            f" Its actions are held while {sup.alarm} is in ALARM and for {sup.extension}s after it leaves ALARM; after a change "
            f"they wait up to {sup.wait}s for {sup.alarm} to go into ALARM, and run when the hold ends if the state still holds."
        )
    return words


# ---------------------------------------------------------------- actions


class Outcome(str, enum.Enum):
    RAN = "ran"
    SUPPRESSED = "suppressed"


@dataclass(frozen=True)
class ActionEvent:
    """The actions of one state change: when the alarm entered the state, and when they ran or why not."""

    alarm: str
    state: State
    entered: int
    outcome: Outcome
    time: int  # when they ran, or when they were given up (the alarm left the state while they were held)
    actions: tuple[str, ...]
    why: str


def _alarm_spans(timeline: Sequence[Evaluation]) -> list[tuple[float, float]]:
    """[start, end) spans during which the alarm was in ALARM (end inf: until the end of the run)."""
    spans, since = [], None
    for evaluation in timeline:
        if evaluation.state is State.ALARM and since is None:
            since = evaluation.time
        elif evaluation.state is not State.ALARM and since is not None:
            spans.append((since, evaluation.time))
            since = None
    if since is not None:
        spans.append((since, math.inf))
    return spans


def _holds(spans: Sequence[tuple[float, float]], extension: int) -> list[tuple[float, float, float]]:
    """Merged suppression holds (start, end, when the suppressor left ALARM): ALARM spans plus ExtensionPeriod."""
    merged: list[list[float]] = []
    for start, end in spans:
        hold_end = end + extension
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hold_end)
            merged[-1][2] = end
        else:
            merged.append([start, hold_end, end])
    return [(a, b, c) for a, b, c in merged]


def actions(alarm: Mapping, timelines: Mapping[str, Sequence[Evaluation]]) -> list[ActionEvent]:
    """When the alarm's actions ran or were suppressed, for every state change that has actions.

    `timelines` holds this alarm's timeline and, for a composite with an ActionsSuppressor, the
    suppressor's. A metric alarm has no suppressor: its actions run at each change.
    """
    name = alarm["AlarmName"]
    if alarm.get("ActionsEnabled", True) is False:
        return []
    suppressor = parse_composite(alarm).suppressor if is_composite(alarm) else None
    holds = _holds(_alarm_spans(timelines[suppressor.alarm]), suppressor.extension) if suppressor else []
    changes = transitions(timelines[name])
    events = []
    for i, change in enumerate(changes):
        entered, target = change.time, change.state
        targets = tuple(alarm.get(ACTION_FIELDS[target]) or ())
        if not targets:
            continue
        left = changes[i + 1].time if i + 1 < len(changes) else math.inf
        if suppressor is None:
            events.append(ActionEvent(name, target, entered, Outcome.RAN, entered, targets, "no actions suppressor"))
            continue
        events.append(_suppressed_or_run(name, target, entered, left, targets, suppressor, holds))
    return events


def _suppressed_or_run(name, target, entered, left, targets, suppressor: Suppressor, holds) -> ActionEvent:
    """Follow one state change's actions through WaitPeriod, the suppressor's ALARM and ExtensionPeriod."""
    by = suppressor.alarm

    def ran(at: float, why: str) -> ActionEvent:
        return ActionEvent(name, target, entered, Outcome.RAN, int(at), targets, why)

    def suppressed(at: float, why: str) -> ActionEvent:
        return ActionEvent(name, target, entered, Outcome.SUPPRESSED, int(at), targets, why)

    current = next((h for h in holds if h[0] <= entered < h[1]), None)
    if current is None:
        # Not held now: wait up to WaitPeriod for the suppressor to go into ALARM.
        wait_end = entered + suppressor.wait
        current = next((h for h in holds if entered < h[0] <= wait_end), None)
        if current is None:
            if left <= wait_end:
                return suppressed(left, f"left {target.value} before WaitPeriod ({suppressor.wait}s) ended; {by} never went into ALARM")
            return ran(wait_end, f"WaitPeriod ({suppressor.wait}s) ended with {by} not in ALARM")
        if left <= current[0]:
            return suppressed(left, f"left {target.value} during WaitPeriod ({suppressor.wait}s)")
    start, hold_end, suppressor_left = current
    if start > entered:
        reason = f"{by} went into ALARM {int(start - entered)}s after the change, within WaitPeriod ({suppressor.wait}s)"
    elif entered < suppressor_left:
        reason = f"{by} was in ALARM"
    else:
        reason = f"{by} had left ALARM {int(entered - suppressor_left)}s before, within ExtensionPeriod ({suppressor.extension}s)"
    if left == math.inf and hold_end == math.inf:
        return suppressed(entered, f"{reason}, until the end of the run")
    if left <= hold_end:
        return suppressed(left, f"{reason}; the alarm left {target.value} before the suppression ended")
    return ran(hold_end, f"{reason}; ExtensionPeriod ({suppressor.extension}s) after {by} left ALARM ended")
