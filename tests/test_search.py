"""Quoting names for SEARCH exact-match terms (monitor/cloudwatch/search.py), property-based:
whatever a key, group, pattern or target is called, parsing what was quoted gives it back."""

from __future__ import annotations

import json
import string

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from monitor.cloudwatch import search
from tests.support.dashboard_rules import SearchSyntaxError, parse_query, parse_search, read_exact

PRINTABLE_ASCII = st.text(alphabet=string.printable, max_size=80)
SPECIALS = st.text(alphabet='"\\()\'{}=, ', min_size=1, max_size=40)
UNICODE = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60)
LONG = st.text(alphabet=string.printable + "é€ü", min_size=255, max_size=1024)
NAMES = st.one_of(PRINTABLE_ASCII, SPECIALS, UNICODE, LONG)


@given(NAMES)
@example('audit:(eu) "west"')
@example("\\")
@example("")
@example("a\\(b\\)")
@settings(max_examples=400)
def test_an_exact_term_unquotes_to_the_original(value):
    quoted = search.exact(value)
    assert read_exact(quoted) == (value, len(quoted))


@given(NAMES)
def test_an_exact_term_has_no_unescaped_special_inside(value):
    inner = search.exact(value)[1:-1]
    i = 0
    while i < len(inner):
        if inner[i] == "\\":
            assert inner[i + 1] in '"\\()'
            i += 2
        else:
            assert inner[i] not in '"()'
            i += 1


@given(st.lists(NAMES, min_size=3, max_size=3))
def test_a_query_parses_back_into_its_names(values):
    group, key, env = values
    text = search.query("Test/Queues", ("Environment", "Queue", "ConsumerGroup"), {"MetricName": "ConsumerGroupLag", "Environment": env, "Queue": key, "ConsumerGroup": group})
    schema, terms = parse_query(text)
    assert schema == ["Test/Queues", "Environment", "Queue", "ConsumerGroup"]
    assert terms == {"MetricName": "ConsumerGroupLag", "Environment": env, "Queue": key, "ConsumerGroup": group}


@given(NAMES)
@settings(max_examples=300)
def test_a_search_survives_the_json_layer_or_says_why_it_cannot_exist(key):
    terms = {"MetricName": "StreamLength", "Environment": "prod", "Queue": key}
    try:
        expression = search.search("Test/Queues", ("Environment", "Queue"), terms, "Maximum", 60)
    except search.Unsearchable as exc:
        assert "'" in key or len(search.query("Test/Queues", ("Environment", "Queue"), terms)) > search.MAX_SEARCH_QUERY, exc
        return
    through_json = json.loads(json.dumps([{"expression": expression}]))[0]["expression"]
    assert parse_search(through_json) == (["Test/Queues", "Environment", "Queue"], terms, "Maximum", 60)


def test_the_documented_example():
    # AWS's page: to find `Europe\France Traffic(Network)` use "Europe\\France Traffic\(Network\)".
    assert search.exact("Europe\\France Traffic(Network)") == '"Europe\\\\France Traffic\\(Network\\)"'


def test_limits_are_the_documented_ones():
    fits = "k" * (search.MAX_SEARCH_QUERY - len(search.query("N", ("Queue",), {"Queue": ""})))
    assert len(search.query("N", ("Queue",), {"Queue": fits})) == 1024
    search.search("N", ("Queue",), {"Queue": fits}, "Maximum", 60)
    with pytest.raises(search.Unsearchable, match="1025 characters; AWS allows 1024"):
        search.search("N", ("Queue",), {"Queue": fits + "k"}, "Maximum", 60)
    with pytest.raises(search.Unsearchable, match="has no escape"):
        search.search("N", ("Queue",), {"Queue": "o'brien"}, "Maximum", 60)


@pytest.mark.parametrize("bad", ['"a(b"', '"a\\b"', '"ab', 'ab"', '"a)"'])
def test_the_term_parser_rejects_what_aws_would_misread(bad):
    with pytest.raises(SearchSyntaxError):
        read_exact(bad)
