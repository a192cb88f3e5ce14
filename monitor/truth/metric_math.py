"""A small, safe subset of CloudWatch metric math: parse an expression, evaluate it over period series.

Supported: numbers, query ids, + - * / ^ with CloudWatch precedence, unary minus, parentheses, the
comparisons == != < <= > >= (1 or 0, below every arithmetic operator), and the functions DIFF, RATE,
ABS, FILL(series, number | series | REPEAT | LINEAR) and IF(condition, value, value).
A series is a mapping {period start (epoch seconds): value}; a period with no value is absent.
Arithmetic between two series keeps only the timestamps present in both; a division by zero
leaves that timestamp without a value. DIFF and RATE have no value at a series' first point.
No `eval`: the text is tokenized and parsed by hand.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Union

from monitor.errors import ExitStatus, MonitorError

Series = dict[int, float]
Value = Union[Series, float]


class ExpressionError(MonitorError, ValueError):
    """A metric math expression is invalid, or refers to something that does not exist."""

    exit_status = ExitStatus.INVALID


class UnsupportedFunction(ExpressionError):
    """A valid CloudWatch function that this evaluator does not model."""


class Function(str, enum.Enum):
    DIFF = "DIFF"
    RATE = "RATE"
    ABS = "ABS"
    FILL = "FILL"
    IF = "IF"


class FillMode(str, enum.Enum):
    REPEAT = "REPEAT"
    LINEAR = "LINEAR"


SUPPORTED = ", ".join(f.value for f in Function)


@dataclass(frozen=True)
class Number:
    value: float


@dataclass(frozen=True)
class Ref:
    name: str


@dataclass(frozen=True)
class Keyword:
    mode: FillMode


@dataclass(frozen=True)
class Negate:
    operand: "Node"


@dataclass(frozen=True)
class BinaryOp:
    op: str
    left: "Node"
    right: "Node"


@dataclass(frozen=True)
class Call:
    function: Function
    args: tuple["Node", ...]


Node = Union[Number, Ref, Keyword, Negate, BinaryOp, Call]

_TOKENS = re.compile(
    r"\s*(?:(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>==|!=|<=|>=|[-+*/^(),<>]))"
)
COMPARISONS = ("==", "!=", "<=", ">=", "<", ">")
ARITY = {Function.FILL: 2, Function.IF: 3}


@dataclass(frozen=True)
class _Token:
    kind: str  # number | name | op | end
    text: str
    position: int  # 1-based column in the expression


def _tokenize(text: str) -> list[_Token]:
    """Tokens of `text`, ending with an `end` token."""
    tokens, at = [], 0
    while at < len(text):
        if text[at:].strip() == "":
            break
        match = _TOKENS.match(text, at)
        if not match:
            skipped = len(text[at:]) - len(text[at:].lstrip())
            raise ExpressionError(f"unexpected {text[at + skipped]!r} at position {at + skipped + 1} in {text!r}")
        kind = match.lastgroup
        tokens.append(_Token(kind, match.group(kind), match.start(kind) + 1))
        at = match.end()
    tokens.append(_Token("end", "", len(text) + 1))
    return tokens


class _Parser:
    """Recursive descent: comparison := sum (cmp sum)?, sum := product (+|- product)*,
    product := unary (*|/ unary)*, unary := - unary | power, power := atom (^ unary)?,
    atom := number | id | CALL(comparison, ...) | (comparison)."""

    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokenize(text)
        self.at = 0

    def fail(self, token: _Token, problem: str) -> ExpressionError:
        found = "the end" if token.kind == "end" else repr(token.text)
        return ExpressionError(f"{problem}, found {found} at position {token.position} in {self.text!r}")

    def peek(self) -> _Token:
        return self.tokens[self.at]

    def take(self) -> _Token:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def expect(self, text: str) -> None:
        token = self.take()
        if token.text != text or token.kind != "op":
            raise self.fail(token, f"expected {text!r}")

    def parse(self) -> Node:
        node = self.comparison()
        if self.peek().kind != "end":
            raise self.fail(self.peek(), "expected an operator")
        return node

    def comparison(self) -> Node:
        node = self.sum()
        if self.peek().kind == "op" and self.peek().text in COMPARISONS:
            node = BinaryOp(self.take().text, node, self.sum())
        return node

    def sum(self) -> Node:
        node = self.product()
        while self.peek().kind == "op" and self.peek().text in "+-":
            node = BinaryOp(self.take().text, node, self.product())
        return node

    def product(self) -> Node:
        node = self.unary()
        while self.peek().kind == "op" and self.peek().text in "*/":
            node = BinaryOp(self.take().text, node, self.unary())
        return node

    def unary(self) -> Node:
        if self.peek().kind == "op" and self.peek().text == "-":
            self.take()
            return Negate(self.unary())
        return self.power()

    def power(self) -> Node:
        node = self.atom()
        if self.peek().kind == "op" and self.peek().text == "^":
            self.take()
            node = BinaryOp("^", node, self.unary())
        return node

    def atom(self) -> Node:
        token = self.take()
        if token.kind == "number":
            return Number(float(token.text))
        if token.kind == "op" and token.text == "(":
            node = self.comparison()
            self.expect(")")
            return node
        if token.kind != "name":
            raise self.fail(token, "expected a number, an id, a function or '('")
        if self.peek().kind == "op" and self.peek().text == "(":
            return self.call(token)
        if token.text in FillMode.__members__:
            return Keyword(FillMode(token.text))
        return Ref(token.text)

    def call(self, name: _Token) -> Call:
        if name.text not in Function.__members__:
            raise UnsupportedFunction(
                f"function {name.text} at position {name.position} in {self.text!r} is not supported "
                f"by the offline evaluator; supported: {SUPPORTED}"
            )
        self.expect("(")
        args = [self.comparison()]
        while self.peek().kind == "op" and self.peek().text == ",":
            self.take()
            args.append(self.comparison())
        self.expect(")")
        function = Function(name.text)
        arity = ARITY.get(function, 1)
        if len(args) != arity:
            raise ExpressionError(
                f"{function.value} takes {arity} argument{'s' if arity > 1 else ''}, got {len(args)} "
                f"at position {name.position} in {self.text!r}"
            )
        for arg in args[:1] if function is Function.FILL else args:
            if isinstance(arg, Keyword):
                raise ExpressionError(f"{arg.mode.value} is only valid as the second argument of FILL in {self.text!r}")
        return Call(function, tuple(args))


def parse(text: str) -> Node:
    """The syntax tree of a metric math expression."""
    return _Parser(text).parse()


def references(node: Node) -> frozenset[str]:
    """The query ids an expression reads."""
    if isinstance(node, Ref):
        return frozenset([node.name])
    if isinstance(node, Negate):
        return references(node.operand)
    if isinstance(node, BinaryOp):
        return references(node.left) | references(node.right)
    if isinstance(node, Call):
        return frozenset().union(*(references(a) for a in node.args))
    return frozenset()


def evaluate(node: Node, env: Mapping[str, Value], grid: Sequence[int]) -> Value:
    """The value of `node`: a series (period start -> value) or a number; `grid` is every period start."""
    if isinstance(node, Number):
        return node.value
    if isinstance(node, Ref):
        if node.name not in env:
            raise ExpressionError(f"unknown id {node.name!r}; known: {', '.join(sorted(env)) or 'none'}")
        return env[node.name]
    if isinstance(node, Keyword):
        raise ExpressionError(f"{node.mode.value} is only valid as the second argument of FILL")
    if isinstance(node, Negate):
        return _combine("*", -1.0, evaluate(node.operand, env, grid))
    if isinstance(node, BinaryOp):
        return _combine(node.op, evaluate(node.left, env, grid), evaluate(node.right, env, grid))
    return _call(node, env, grid)


def _apply(op: str, a: float, b: float) -> float | None:
    """a op b, or None where CloudWatch would have no value (division by zero, overflow)."""
    try:
        if op == "+":
            result = a + b
        elif op == "-":
            result = a - b
        elif op == "*":
            result = a * b
        elif op == "/":
            result = a / b
        elif op in COMPARISONS:
            result = float({"==": a == b, "!=": a != b, "<=": a <= b, ">=": a >= b, "<": a < b, ">": a > b}[op])
        else:
            result = a**b
    except (ZeroDivisionError, OverflowError, ValueError):
        return None
    if isinstance(result, complex) or not math.isfinite(result):
        return None
    return result


def _combine(op: str, left: Value, right: Value) -> Value:
    """Arithmetic on numbers and series, aligned on timestamps."""
    if not isinstance(left, dict) and not isinstance(right, dict):
        result = _apply(op, left, right)
        if result is None:
            raise ExpressionError(f"{left} {op} {right} has no value")
        return result
    if not isinstance(left, dict):
        pairs = {t: (left, v) for t, v in right.items()}
    elif not isinstance(right, dict):
        pairs = {t: (v, right) for t, v in left.items()}
    else:
        pairs = {t: (left[t], right[t]) for t in sorted(left.keys() & right.keys())}
    out = {t: _apply(op, a, b) for t, (a, b) in pairs.items()}
    return {t: v for t, v in out.items() if v is not None}


def _series_arg(function: Function, value: Value) -> Series:
    if not isinstance(value, dict):
        raise ExpressionError(f"{function.value} needs a time series, got the number {value}")
    return value


def _call(node: Call, env: Mapping[str, Value], grid: Sequence[int]) -> Value:
    if node.function is Function.FILL:
        return _fill(_series_arg(Function.FILL, evaluate(node.args[0], env, grid)), node.args[1], env, grid)
    if node.function is Function.IF:
        return _if(*(evaluate(arg, env, grid) for arg in node.args))
    value = evaluate(node.args[0], env, grid)
    if node.function is Function.ABS:
        return abs(value) if not isinstance(value, dict) else {t: abs(v) for t, v in value.items()}
    series = _series_arg(node.function, value)
    times = sorted(series)
    if node.function is Function.DIFF:
        return {t: series[t] - series[p] for p, t in zip(times, times[1:])}
    return {t: (series[t] - series[p]) / (t - p) for p, t in zip(times, times[1:])}  # RATE: per second


def _if(condition: Value, when_true: Value, when_false: Value) -> Value:
    """IF: per timestamp of the condition, the first value where it is non-zero, else the second."""

    def at(value: Value, t: int) -> float | None:
        return value.get(t) if isinstance(value, dict) else value

    if not isinstance(condition, dict):
        return when_true if condition else when_false
    out = {t: at(when_true if c else when_false, t) for t, c in condition.items()}
    return {t: v for t, v in out.items() if v is not None}


def _fill(series: Series, how: Node, env: Mapping[str, Value], grid: Sequence[int]) -> Series:
    """FILL: give every period of `grid` without a value one, from a number, a series, or the neighbours."""
    filled = dict(series)
    if isinstance(how, Keyword):
        known = sorted(series)
        for t in grid:
            if t in series:
                continue
            before = [k for k in known if k < t]
            after = [k for k in known if k > t]
            if how.mode is FillMode.REPEAT and before:
                filled[t] = series[before[-1]]
            elif how.mode is FillMode.LINEAR and before and after:
                a, b = before[-1], after[0]
                filled[t] = series[a] + (series[b] - series[a]) * (t - a) / (b - a)
        return dict(sorted(filled.items()))
    value = evaluate(how, env, grid)
    for t in grid:
        if t not in filled:
            if not isinstance(value, dict):
                filled[t] = value
            elif t in value:
                filled[t] = value[t]
    return dict(sorted(filled.items()))


_OPERATOR_WORDS = {
    "+": "plus",
    "-": "minus",
    "*": "times",
    "/": "divided by",
    "^": "to the power of",
    "==": "is",
    "!=": "is not",
    "<": "is below",
    "<=": "is at most",
    ">": "is above",
    ">=": "is at least",
}


def describe(node: Node, describe_ref: Callable[[str], str], number: Callable[[float], str] = str) -> str:
    """The expression in words; `describe_ref` names a query id."""

    def words(n: Node) -> str:
        if isinstance(n, Number):
            return number(n.value)
        if isinstance(n, Ref):
            return describe_ref(n.name)
        if isinstance(n, Keyword):
            return n.mode.value
        if isinstance(n, Negate):
            return f"minus {nested(n.operand)}"
        if isinstance(n, BinaryOp):
            return f"{nested(n.left)} {_OPERATOR_WORDS[n.op]} {nested(n.right)}"
        inner = words(n.args[0])
        if n.function is Function.IF:
            return f"{nested(n.args[1])} while {inner}, else {nested(n.args[2])}"
        if n.function is Function.DIFF:
            return f"the increase of {inner} between periods"
        if n.function is Function.RATE:
            return f"the rate of change of {inner} per second"
        if n.function is Function.ABS:
            return f"the absolute value of {inner}"
        how = n.args[1]
        if isinstance(how, Keyword) and how.mode is FillMode.REPEAT:
            return f"{inner} (gaps filled with the previous value)"
        if isinstance(how, Keyword):
            return f"{inner} (gaps filled by linear interpolation)"
        return f"{inner} (missing periods taken as {words(how)})"

    def nested(n: Node) -> str:
        return f"({words(n)})" if isinstance(n, BinaryOp) else words(n)

    return words(node)
