"""The scenario series notation."""

import pytest

from monitor.truth.series import SeriesSyntaxError, parse_series


def test_repeats_and_missing_periods():
    samples = parse_series("0x2 1500x3 _x2 7", start=600, period=60)
    assert samples == [
        (600, 0.0), (660, 0.0),
        (720, 1500.0), (780, 1500.0), (840, 1500.0),
        # 900 and 960 are missing periods: no sample at all
        (1020, 7.0),
    ]


def test_plain_numbers_and_single_missing():
    assert parse_series("5 _ -1.5", start=0, period=300) == [(0, 5.0), (600, -1.5)]


def test_ramp_is_linear_and_ends_exactly_on_its_last_value():
    assert [v for _, v in parse_series("0..1500x6", 0, 60)] == [0.0, 300.0, 600.0, 900.0, 1200.0, 1500.0]
    assert [v for _, v in parse_series("10..0x3", 0, 60)] == [10.0, 5.0, 0.0]


def test_whitespace_and_empty_text():
    assert parse_series("  1\n\t2  ", 0, 60) == [(0, 1.0), (60, 2.0)]
    assert parse_series("", 0, 60) == []


@pytest.mark.parametrize(
    "text, position, words",
    [
        ("0x10 abc", 6, "'abc' is not a number"),
        ("1 2x", 3, "repeat count '' is not a whole number"),
        ("1 2xy", 3, "repeat count 'y' is not a whole number"),
        ("5x0", 1, "at least 1"),
        ("0..10", 1, "ramp needs a count of at least 2"),
        ("0..10x1", 1, "ramp needs a count of at least 2"),
        ("1 nan", 3, "NaN and infinities"),
        ("__", 1, "'__' is not a number"),
    ],
)
def test_errors_name_the_token_and_its_position(text, position, words):
    with pytest.raises(SeriesSyntaxError) as caught:
        parse_series(text, 0, 60)
    message = str(caught.value)
    assert f"at position {position} " in message
    assert words in message


def test_syntax_error_is_a_value_error():
    with pytest.raises(ValueError):
        parse_series("?", 0, 60)
