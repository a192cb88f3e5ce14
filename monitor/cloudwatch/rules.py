"""Composite alarm rules (pure): the AlarmRule language parsed into a tree, and what it refers to.

One parser for everything that reads an AlarmRule: rendering templates (monitor.cloudwatch.iac:
which alarms a composite depends on) and the offline evaluator (monitor.truth.composite).

    rule = parse_rule('ALARM("a") AND NOT (OK(b) OR INSUFFICIENT_DATA(arn:aws:cloudwatch:...:alarm:c))')
    rule_children(text)   # ["a", "b", "c"]: alarm names (ARNs reduced to names), in order of first mention

Names in ALARM(...) may be bare or in double quotes, or alarm ARNs (the name is the part after
":alarm:"). NOT binds tighter than AND, AND tighter than OR (ASSUMPTION: the usual order; AWS
documents the operators and parentheses, not their precedence; write parentheses when mixing).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass

from monitor.errors import UsageError

# botocore's CloudWatch model, PutCompositeAlarm AlarmRule: at most 10,240 characters, "as many
# as 100 children alarms" and "as many as 500 elements" (child alarms, TRUE/FALSE, parentheses).
MAX_RULE_LENGTH = 10240
MAX_RULE_CHILDREN = 100
MAX_RULE_ELEMENTS = 500
# An alarm ARN: arn:aws:cloudwatch:REGION:ACCOUNT:alarm:NAME.
_ARN = re.compile(r"arn:aws[a-z-]*:cloudwatch:[^:]*:[^:]*:alarm:(.+)")
_WORD = re.compile(r"[A-Z_]+")


class State(str, enum.Enum):
    """An alarm's state, as DescribeAlarms reports it and an AlarmRule names it."""

    OK = "OK"
    ALARM = "ALARM"
    INSUFFICIENT_DATA = "INSUFFICIENT_DATA"


class RuleSyntaxError(UsageError, ValueError):
    """An AlarmRule is not a valid expression, or goes over a documented limit."""


class Operator(str, enum.Enum):
    AND = "AND"
    OR = "OR"
    NOT = "NOT"


# ---------------------------------------------------------------- the rule


@dataclass(frozen=True)
class StateOf:
    """ALARM(x), OK(x) or INSUFFICIENT_DATA(x): true while alarm x is in that state."""

    state: State
    alarm: str


@dataclass(frozen=True)
class Constant:
    value: bool


@dataclass(frozen=True)
class Not:
    operand: "Rule"


@dataclass(frozen=True)
class Both:
    """AND (all) or OR (any) of two or more operands."""

    operator: Operator
    operands: tuple["Rule", ...]


Rule = StateOf | Constant | Not | Both


def alarm_name(reference: str) -> str:
    """The alarm name of a name or an alarm ARN."""
    match = _ARN.fullmatch(reference)
    return match.group(1) if match else reference


class _Parser:
    def __init__(self, text: str, composite: str):
        self.text, self.pos, self.composite, self.elements = text, 0, composite, 0

    def fail(self, message: str) -> RuleSyntaxError:
        return RuleSyntaxError(f"composite alarm {self.composite}: AlarmRule at character {self.pos + 1}: {message}")

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek_word(self) -> str | None:
        self.skip()
        match = _WORD.match(self.text, self.pos)
        return match.group() if match else None

    def take(self, char: str) -> None:
        self.skip()
        if not self.text.startswith(char, self.pos):
            found = repr(self.text[self.pos]) if self.pos < len(self.text) else "the end"
            raise self.fail(f"expected '{char}', found {found}")
        self.pos += 1

    def parse(self) -> Rule:
        rule = self.any_of()
        self.skip()
        if self.pos < len(self.text):
            raise self.fail(f"unexpected {self.text[self.pos:self.pos + 20]!r}; expected AND, OR or the end")
        return rule

    def any_of(self) -> Rule:
        return self.joined(Operator.OR, self.all_of)

    def all_of(self) -> Rule:
        return self.joined(Operator.AND, self.negated)

    def joined(self, operator: Operator, operand) -> Rule:
        parts = [operand()]
        while self.peek_word() == operator.value:
            self.pos += len(operator.value)
            parts.append(operand())
        return parts[0] if len(parts) == 1 else Both(operator, tuple(parts))

    def negated(self) -> Rule:
        if self.peek_word() == Operator.NOT.value:
            self.pos += len(Operator.NOT.value)
            return Not(self.negated())
        return self.atom()

    def atom(self) -> Rule:
        self.skip()
        if self.text.startswith("(", self.pos):
            self.pos += 1
            self.elements += 2  # the two parentheses
            rule = self.any_of()
            self.take(")")
            return rule
        word = self.peek_word()
        if word in ("TRUE", "FALSE"):
            self.pos += len(word)
            self.elements += 1
            return Constant(word == "TRUE")
        if word in State._value2member_map_:
            self.pos += len(word)
            self.take("(")
            name = self.name()
            self.take(")")
            self.elements += 1
            return StateOf(State(word), alarm_name(name))
        found = repr(self.text[self.pos:self.pos + 20]) if self.pos < len(self.text) else "the end"
        raise self.fail(f"found {found}; expected ALARM(name), OK(name), INSUFFICIENT_DATA(name), TRUE, FALSE, NOT or '('")

    def name(self) -> str:
        self.skip()
        if self.text.startswith('"', self.pos):
            end = self.text.find('"', self.pos + 1)
            if end < 0:
                raise self.fail("a quoted alarm name has no closing '\"'")
            name, self.pos = self.text[self.pos + 1 : end], end + 1
        else:
            end = self.text.find(")", self.pos)
            if end < 0:
                raise self.fail("an alarm name has no closing ')'")
            name, self.pos = self.text[self.pos : end].strip(), end
        if not name:
            raise self.fail("empty alarm name")
        return name


def parse_rule(text: str, composite: str = "<unnamed>") -> Rule:
    """The rule of an AlarmRule text; RuleSyntaxError with the position, or the limit broken."""
    if not isinstance(text, str) or not text.strip():
        raise RuleSyntaxError(f"composite alarm {composite}: AlarmRule is empty")
    if len(text) > MAX_RULE_LENGTH:
        raise RuleSyntaxError(f"composite alarm {composite}: AlarmRule is {len(text)} characters; at most {MAX_RULE_LENGTH} allowed")
    parser = _Parser(text, composite)
    rule = parser.parse()
    children = children_of(rule)
    if len(children) > MAX_RULE_CHILDREN:
        raise RuleSyntaxError(f"composite alarm {composite}: AlarmRule names {len(children)} alarms; at most {MAX_RULE_CHILDREN} allowed")
    if parser.elements > MAX_RULE_ELEMENTS:
        raise RuleSyntaxError(
            f"composite alarm {composite}: AlarmRule has {parser.elements} elements (alarms, TRUE/FALSE, parentheses); at most {MAX_RULE_ELEMENTS} allowed"
        )
    return rule


def children_of(rule: Rule) -> frozenset[str]:
    """Every alarm name the rule refers to."""
    if isinstance(rule, StateOf):
        return frozenset({rule.alarm})
    if isinstance(rule, Not):
        return children_of(rule.operand)
    if isinstance(rule, Both):
        return frozenset().union(*(children_of(r) for r in rule.operands))
    return frozenset()


def rule_children(text: str, composite: str = "<unnamed>") -> list[str]:
    """The alarm names an AlarmRule refers to, in order of first mention (ARNs reduced to names)."""
    found: list[str] = []

    def walk(rule: Rule) -> None:
        if isinstance(rule, StateOf):
            found.append(rule.alarm)
        elif isinstance(rule, Not):
            walk(rule.operand)
        elif isinstance(rule, Both):
            for operand in rule.operands:
                walk(operand)

    walk(parse_rule(text, composite))
    return list(dict.fromkeys(found))


def is_composite(alarm: Mapping) -> bool:
    """Whether a parameter dict is a PutCompositeAlarm request (it has an AlarmRule)."""
    return "AlarmRule" in alarm
