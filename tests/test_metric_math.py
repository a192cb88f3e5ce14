"""The metric math subset: parser, series arithmetic, DIFF, RATE, ABS, FILL, descriptions."""

import pytest

from monitor.truth.metric_math import (
    BinaryOp,
    Call,
    ExpressionError,
    Function,
    Negate,
    Number,
    Ref,
    UnsupportedFunction,
    describe,
    evaluate,
    parse,
    references,
)

GRID = [0, 60, 120, 180, 240]


def calc(text, **env):
    return evaluate(parse(text), env, GRID)


def test_precedence_and_parentheses():
    assert parse("a + b * 2") == BinaryOp("+", Ref("a"), BinaryOp("*", Ref("b"), Number(2.0)))
    assert parse("(a + b) * 2") == BinaryOp("*", BinaryOp("+", Ref("a"), Ref("b")), Number(2.0))
    assert parse("a - b - c") == BinaryOp("-", BinaryOp("-", Ref("a"), Ref("b")), Ref("c"))
    assert parse("-DIFF(m1)") == Negate(Call(Function.DIFF, (Ref("m1"),)))
    assert calc("2 + 3 * 4 ^ 2 / 8") == 8.0
    assert calc("-2 ^ 2") == -4.0
    assert calc("1.5e2 - .5") == 149.5


def test_references():
    assert references(parse("FILL(a, b) + DIFF(c) * 2")) == {"a", "b", "c"}


def test_series_and_scalars_align_on_timestamps():
    a = {0: 1.0, 60: 2.0, 120: 3.0}
    b = {60: 10.0, 120: 20.0, 180: 30.0}
    assert calc("a + b", a=a, b=b) == {60: 12.0, 120: 23.0}
    assert calc("a * 10", a=a) == {0: 10.0, 60: 20.0, 120: 30.0}
    assert calc("100 / a", a=a) == {0: 100.0, 60: 50.0, 120: 100 / 3}
    assert calc("-a", a=a) == {0: -1.0, 60: -2.0, 120: -3.0}


def test_division_by_zero_leaves_that_period_empty():
    assert calc("a / b", a={0: 1.0, 60: 1.0}, b={0: 0.0, 60: 4.0}) == {60: 0.25}
    with pytest.raises(ExpressionError, match="no value"):
        calc("1 / 0")


def test_diff_and_rate_skip_the_first_point_and_span_gaps():
    s = {0: 5.0, 60: 7.0, 180: 4.0}
    assert calc("DIFF(s)", s=s) == {60: 2.0, 180: -3.0}
    assert calc("RATE(s)", s=s) == {60: 2 / 60, 180: -3 / 120}
    assert calc("DIFF(s)", s={}) == {}


def test_abs():
    assert calc("ABS(DIFF(s))", s={0: 5.0, 60: 2.0}) == {60: 3.0}
    assert calc("ABS(-3)") == 3.0


def test_fill_with_a_number_a_series_repeat_and_linear():
    s = {60: 2.0, 180: 6.0}
    assert calc("FILL(s, 0)", s=s) == {0: 0.0, 60: 2.0, 120: 0.0, 180: 6.0, 240: 0.0}
    assert calc("FILL(s, o)", s=s, o={0: 9.0, 120: 8.0}) == {0: 9.0, 60: 2.0, 120: 8.0, 180: 6.0}
    # REPEAT carries the previous value forward; nothing before the first point
    assert calc("FILL(s, REPEAT)", s=s) == {60: 2.0, 120: 2.0, 180: 6.0, 240: 6.0}
    # LINEAR interpolates inside gaps only
    assert calc("FILL(s, LINEAR)", s=s) == {60: 2.0, 120: 4.0, 180: 6.0}


@pytest.mark.parametrize(
    "text, words",
    [
        ("DIFF(m1", "expected ')', found the end at position 8"),
        ("m1 +", "found the end at position 5"),
        ("m1 m2", "expected an operator, found 'm2' at position 4"),
        ("m1 $ 2", "unexpected '$' at position 4"),
        ("DIFF(m1, 2)", "DIFF takes 1 argument, got 2"),
        ("FILL(m1)", "FILL takes 2 arguments, got 1"),
        ("FILL(REPEAT, 0)", "REPEAT is only valid as the second argument of FILL"),
        ("m1 + REPEAT", "only valid as the second argument"),
    ],
)
def test_syntax_errors_say_where(text, words):
    with pytest.raises(ExpressionError) as caught:
        calc(text, m1={0: 1.0}, m2={0: 1.0})
    assert words in str(caught.value)


def test_unsupported_functions_list_the_supported_ones():
    with pytest.raises(UnsupportedFunction, match="SEARCH.*supported: DIFF, RATE, ABS, FILL, IF"):
        parse("SEARCH(x) + 1")


def test_unknown_ids_and_type_errors():
    with pytest.raises(ExpressionError, match="unknown id 'nope'"):
        calc("nope + 1")
    with pytest.raises(ExpressionError, match="DIFF needs a time series"):
        calc("DIFF(3)")


def test_comparisons_give_one_or_zero_below_arithmetic():
    assert calc("m1 == 0", m1={0: 0.0, 60: 2.0}) == {0: 1.0, 60: 0.0}
    assert calc("m1 + 1 > 2", m1={0: 1.0, 60: 2.0}) == {0: 0.0, 60: 1.0}  # (m1 + 1) > 2
    assert calc("2 >= 2") == 1.0 and calc("1 != 1") == 0.0 and calc("1 < 2") == 1.0 and calc("3 <= 2") == 0.0
    assert isinstance(parse("a - 1 < b * 2"), BinaryOp) and parse("a - 1 < b * 2").op == "<"


def test_if_picks_per_timestamp_of_the_condition():
    waiting = {0: 0.0, 60: 3.0, 120: 0.0}
    in_flight = {0: 1.0, 60: 2.0, 180: 5.0}
    # The idle-only in-flight alarm: the in-flight count of periods in which nothing waited, else 0.
    assert calc("IF(waiting == 0, in_flight, 0)", waiting=waiting, in_flight=in_flight) == {0: 1.0, 60: 0.0}  # 120: no in-flight value
    assert calc("IF(FILL(waiting, 0) == 0, in_flight, 0)", waiting=waiting, in_flight=in_flight) == {0: 1.0, 60: 0.0, 180: 5.0}  # a period without waiting data counts as idle
    assert calc("IF(1, m1, 7)", m1={0: 4.0}) == {0: 4.0} and calc("IF(0, m1, 7)", m1={0: 4.0}) == 7.0
    with pytest.raises(ExpressionError, match="IF takes 3 arguments, got 2"):
        parse("IF(m1, 1)")


def test_describe_in_words():
    names = {"depth": "DeadLetterDepth", "a": "A", "b": "B"}.__getitem__
    assert describe(parse("DIFF(depth)"), names) == "the increase of DeadLetterDepth between periods"
    assert describe(parse("RATE(a)"), names) == "the rate of change of A per second"
    assert describe(parse("(a + b) / 2"), names, lambda x: str(int(x))) == "(A plus B) divided by 2"
    assert describe(parse("FILL(a, REPEAT)"), names) == "A (gaps filled with the previous value)"
    assert describe(parse("ABS(-a)"), names) == "the absolute value of minus A"
    assert describe(parse("IF(a == 0, b, 0)"), names, lambda x: str(int(x))) == "B while A is 0, else 0"
