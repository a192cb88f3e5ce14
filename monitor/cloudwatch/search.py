"""CloudWatch SEARCH expressions for dashboard graphs, with every name quoted as AWS's syntax asks (pure).

AWS's "CloudWatch search expression syntax" page: inside an exact-match term (double quotes) the
characters `"`, `\\`, `(` and `)` must be escaped with a backslash; the whole query (metric schema
and search terms) sits between single quotes and may be at most 1024 characters. The JSON layer
around the expression (the dashboard body) is json.dumps' job, not this module's.
"""

from __future__ import annotations

from typing import Mapping, Sequence

MAX_SEARCH_QUERY = 1024  # "The maximum search expression query size is 1024 characters" (AWS)
ESCAPED = ('\\', '"', "(", ")")  # must be backslash-escaped inside an exact-match term (AWS)
QUERY_QUOTE = "'"  # encloses the query; AWS documents no escape for it inside


class Unsearchable(ValueError):
    """A SEARCH query that AWS's syntax cannot express (too long, or holding the query's own quote)."""


def exact(value: str) -> str:
    """`value` as an exact-match term: in double quotes, with `"`, `\\`, `(` and `)` backslash-escaped."""
    out = []
    for char in value:
        out.append("\\" + char if char in ESCAPED else char)
    return '"' + "".join(out) + '"'


def query(namespace: str, schema: Sequence[str], terms: Mapping[str, str]) -> str:
    """`{"namespace",Dim,...} Name="value" ...`: the part of SEARCH(...) between the single quotes."""
    names = ",".join((exact(namespace), *schema))
    return "{" + names + "} " + " ".join(f"{name}={exact(value)}" for name, value in terms.items())


def search(namespace: str, schema: Sequence[str], terms: Mapping[str, str], stat: str, period: int) -> str:
    """SEARCH('<query>', '<stat>', <period>); Unsearchable when the query cannot be written."""
    text = query(namespace, schema, terms)
    if QUERY_QUOTE in text:
        raise Unsearchable(f"a name holds {QUERY_QUOTE}, which AWS's search syntax has no escape for inside the query")
    if len(text) > MAX_SEARCH_QUERY:
        raise Unsearchable(f"the search query would be {len(text)} characters; AWS allows {MAX_SEARCH_QUERY}")
    return f"SEARCH('{text}', '{stat}', {period})"
