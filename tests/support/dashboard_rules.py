"""AWS's "Dashboard Body Structure and Syntax" page as checks: `problems(body)` lists what breaks it.

The emulator stores any body, so this is what tells a dashboard real CloudWatch would draw from one
it would reject or draw wrong. Each rule names the part of the page it comes from; a few come from
the "CloudWatch search expression syntax" page (SEARCH inside a graph) and PutMetricData limits.
Written from the pages, independently of monitor/cloudwatch, so that it can disagree with it.
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterator

# Overall structure / widgets array structure.
MAX_WIDGETS = 500  # "an array of between 0 and 500 widget objects"
GRID_COLUMNS = 24  # x: 0-23, width: 1-24 on "the 24-column dashboard grid"
MAX_HEIGHT = 1000  # height: 1-1000
WIDGET_TYPES = {"metric", "text", "log", "alarm", "explorer"}
TOP_LEVEL_FIELDS = {"widgets", "variables", "start", "end", "periodOverride"}
WIDGET_FIELDS = {"type", "x", "y", "width", "height", "properties"}
# Properties of a metric widget object.
METRIC_FIELDS = {"accountId", "annotations", "liveData", "legend", "metrics", "period", "region", "sparkline", "stacked", "stat", "table", "timezone", "title", "view", "yAxis"}
VIEWS = {"timeSeries", "singleValue", "gauge", "bar", "pie", "table"}
LEGEND_POSITIONS = {"right", "bottom", "hidden"}
MAX_METRICS = 500  # "One metrics array can include 0-500 metrics and expressions"
STAT = re.compile(r"SampleCount|Average|Sum|Minimum|Maximum|p(100(\.0+)?|\d{1,2}(\.\d+)?)")
# Metric widget: format for each metric in the array; rendering properties object.
RENDERING_FIELDS = {"accountId", "color", "id", "label", "period", "region", "stat", "visible", "yAxis"}
EXPRESSION_FIELDS = {"expression", "label", "id"} | RENDERING_FIELDS
METRIC_ID = re.compile(r"[a-z][A-Za-z0-9_]*")  # "The Id must start with a lowercase letter"
COLOUR = re.compile(r"#[0-9a-fA-F]{6}")  # "The six-digit HTML hex color code"
Y_AXES = {"left", "right"}
Y_AXIS_FIELDS = {"label", "min", "max", "showUnits"}
# Annotation properties.
ANNOTATION_FIELDS = {"alarms", "horizontal", "vertical"}
HORIZONTAL_FIELDS = {"value", "label", "color", "fill", "yAxis", "visible"}
VERTICAL_FIELDS = {"value", "label", "color", "fill", "visible"}
HORIZONTAL_FILLS = {"above", "below", "none"}
VERTICAL_FILLS = {"before", "after", "none"}
# Text widget and alarm status widget.
TEXT_FIELDS = {"markdown", "background"}
TEXT_BACKGROUNDS = {"solid", "transparent"}
ALARM_FIELDS = {"alarms", "sortBy", "states", "title"}
MAX_ALARM_ARNS = 100  # "The array can have 1-100 ARNs"
ALARM_SORTS = {"default", "stateUpdatedTimestamp", "timestamp"}
ALARM_STATES = {"ALARM", "INSUFFICIENT_DATA", "OK"}
ALARM_ARN = re.compile(r"arn:aws[a-z-]*:cloudwatch:[a-z0-9-]+:\d{12}:alarm:.+", re.S)
# Search expression syntax; PutMetricData.
MAX_SEARCH_QUERY = 1024  # "The maximum search expression query size is 1024 characters"
MAX_SEARCHES_PER_GRAPH = 100  # "as many as 100 search expressions on one graph"
MAX_DIMENSION_VALUE = 1024  # a dimension value is 1-1024 characters
ESCAPABLE = set('"\\()')  # in an exact-match term these "must be escaped with a backslash"
SEARCH = re.compile(r"SEARCH\('(?P<query>[^']*)',\s*'(?P<stat>[^']*)',\s*(?P<period>\d+)\)", re.S)


class SearchSyntaxError(ValueError):
    pass


def read_exact(text: str, start: int = 0) -> tuple[str, int]:
    """The value of the exact-match term at text[start] (a double quote) and the index after it."""
    if start >= len(text) or text[start] != '"':
        raise SearchSyntaxError(f"no exact-match term at {start}")
    value, i = [], start + 1
    while i < len(text):
        char = text[i]
        if char == "\\":
            if i + 1 >= len(text) or text[i + 1] not in ESCAPABLE:
                raise SearchSyntaxError(f"backslash before {text[i + 1:i + 2]!r} at {i}: only \" \\ ( ) are escaped")
            value.append(text[i + 1])
            i += 2
        elif char == '"':
            return "".join(value), i + 1
        elif char in "()":
            raise SearchSyntaxError(f"unescaped {char!r} at {i} inside an exact-match term")
        else:
            value.append(char)
            i += 1
    raise SearchSyntaxError("exact-match term not closed")


def parse_query(query: str) -> tuple[list[str], dict[str, str]]:
    """(metric schema names, {designator: exact value}) of a query like `{"ns",Dim} Name="v" ...`."""
    i, schema, terms = 0, [], {}

    def skip() -> None:
        nonlocal i
        while i < len(query) and query[i] in " ,":
            i += 1

    skip()
    if query[i:i + 1] == "{":
        i += 1
        while True:
            skip()
            if query[i:i + 1] == "}":
                i += 1
                break
            if query[i:i + 1] == '"':
                name, i = read_exact(query, i)
            else:
                match = re.compile(r"[A-Za-z0-9_./#:-]+").match(query, i)
                if not match:
                    raise SearchSyntaxError(f"bad metric schema at {i}")
                name, i = match[0], match.end()
            schema.append(name)
    while True:
        skip()
        if i >= len(query):
            return schema, terms
        match = re.compile(r"([A-Za-z][A-Za-z0-9_]*)=").match(query, i)
        if not match:
            raise SearchSyntaxError(f"expected Name=\"value\" at {i}: {query[i:i + 20]!r}")
        value, i = read_exact(query, match.end())
        terms[match[1]] = value


def parse_search(expression: str) -> tuple[list[str], dict[str, str], str, int]:
    """(schema, terms, stat, period) of a whole SEARCH('...', 'stat', period) expression."""
    match = SEARCH.fullmatch(expression)
    if not match:
        raise SearchSyntaxError(f"not SEARCH('<query>', '<stat>', <period>): {expression[:60]!r}")
    if len(match["query"]) > MAX_SEARCH_QUERY:
        raise SearchSyntaxError(f"search query of {len(match['query'])} characters; at most {MAX_SEARCH_QUERY}")
    schema, terms = parse_query(match["query"])
    return schema, terms, match["stat"], int(match["period"])


# ---------------------------------------------------------------- the checks


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _period_problem(value: Any) -> str | None:
    if not _is_int(value) or value < 60 or value % 60:
        return f"period {value!r}: must be a multiple of 60, at least 60"
    return None


def _stat_problem(value: Any) -> str | None:
    if not isinstance(value, str) or not STAT.fullmatch(value):
        return f"stat {value!r}: SampleCount, Average, Sum, Minimum, Maximum or pNN"
    return None


def _unknown(fields: dict, allowed: set[str], where: str) -> Iterator[str]:
    for name in sorted(set(fields) - allowed):
        yield f"{where}: unknown field {name!r} (allowed: {', '.join(sorted(allowed))})"


def _rendering(options: Any, where: str, allowed: set[str]) -> Iterator[str]:
    if not isinstance(options, dict):
        yield f"{where}: rendering properties must be an object"
        return
    yield from _unknown(options, allowed, where)
    if "id" in options and not (isinstance(options["id"], str) and METRIC_ID.fullmatch(options["id"])):
        yield f"{where}: id {options['id']!r} must start with a lowercase letter (letters, digits, _)"
    if "color" in options and not (isinstance(options["color"], str) and COLOUR.fullmatch(options["color"])):
        yield f"{where}: color {options['color']!r} is not a six-digit hex colour"
    if "period" in options and (p := _period_problem(options["period"])):
        yield f"{where}: {p}"
    if "stat" in options and (p := _stat_problem(options["stat"])):
        yield f"{where}: {p}"
    if "visible" in options and not isinstance(options["visible"], bool):
        yield f"{where}: visible must be true or false"
    if "yAxis" in options and options["yAxis"] not in Y_AXES:
        yield f"{where}: yAxis {options['yAxis']!r} must be left or right"
    if "label" in options and not isinstance(options["label"], str):
        yield f"{where}: label must be a string"


def _expression_ids(expression: str) -> set[str]:
    """Ids a math expression refers to: lowercase-led names outside quotes (functions are upper case)."""
    unquoted = re.sub(r"'[^']*'", "", expression)
    return set(re.findall(r"(?<![A-Za-z0-9_])[a-z][A-Za-z0-9_]*", unquoted))


def _metric_lines(lines: Any, where: str) -> Iterator[str]:
    if not isinstance(lines, list):
        yield f"{where}: metrics must be an array of arrays"
        return
    if len(lines) > MAX_METRICS:
        yield f"{where}: {len(lines)} metrics and expressions; at most {MAX_METRICS}"
    ids: list[str] = []
    references: set[str] = set()
    searches = 0
    previous: list[str] | None = None
    for number, line in enumerate(lines):
        at = f"{where} metrics[{number}]"
        if not isinstance(line, list) or not line:
            yield f"{at}: each metric is a non-empty array"
            continue
        options = line[-1] if isinstance(line[-1], dict) else None
        if options is not None and "id" in options:
            ids.append(options["id"])
        if isinstance(line[0], dict):  # an expression: [ {"expression": ..., "label": ..., "id": ...} ]
            if len(line) != 1:
                yield f"{at}: an expression entry holds exactly one object"
            yield from _rendering(line[0], at, EXPRESSION_FIELDS)
            expression = line[0].get("expression")
            if not isinstance(expression, str) or not expression:
                yield f"{at}: an expression object needs a non-empty expression"
                continue
            if "SEARCH(" in expression:
                searches += 1
                try:
                    _, _, stat, period = parse_search(expression)
                except SearchSyntaxError as exc:
                    yield f"{at}: {exc}"
                else:
                    yield from (f"{at}: SEARCH {p}" for p in filter(None, (_stat_problem(stat), _period_problem(period))))
            else:
                references |= _expression_ids(expression)
            continue
        parts = line[:-1] if options is not None else line
        if not all(isinstance(p, str) for p in parts):
            yield f"{at}: namespace, metric name and dimensions are strings, then one optional options object"
            continue
        if len(parts) < 2 or len(parts) % 2:
            yield f"{at}: [namespace, metric name, (dimension name, dimension value)...] has {len(parts)} strings"
            continue
        for index, part in enumerate(parts):
            if part == "." and (previous is None or index >= len(previous)):
                yield f"{at}: '.' repeats the previous metric's part, and there is none"
            elif not part:
                yield f"{at}: empty {('namespace', 'metric name')[index] if index < 2 else 'dimension'}"
        for value in parts[3::2]:
            if len(value) > MAX_DIMENSION_VALUE:
                yield f"{at}: dimension value of {len(value)} characters; at most {MAX_DIMENSION_VALUE}"
        if options is not None:
            yield from _rendering(options, at, RENDERING_FIELDS)
        previous = parts
    if len(ids) != len(set(ids)):
        yield f"{where}: metric ids repeat: {sorted(i for i in set(ids) if ids.count(i) > 1)}"
    for missing in sorted(references - set(ids)):
        yield f"{where}: an expression refers to id {missing!r}, which no metric has"
    if searches > MAX_SEARCHES_PER_GRAPH:
        yield f"{where}: {searches} search expressions; at most {MAX_SEARCHES_PER_GRAPH}"


def _y_axis(axis: Any, where: str) -> Iterator[str]:
    if not isinstance(axis, dict):
        yield f"{where}: yAxis must be an object"
        return
    yield from _unknown(axis, Y_AXES, f"{where} yAxis")
    for side, settings in axis.items():
        if not isinstance(settings, dict):
            yield f"{where} yAxis.{side}: must be an object"
            continue
        yield from _unknown(settings, Y_AXIS_FIELDS, f"{where} yAxis.{side}")
        for bound in ("min", "max"):
            if bound in settings and not _is_number(settings[bound]):
                yield f"{where} yAxis.{side}.{bound}: must be a number"
        if "label" in settings and not isinstance(settings["label"], str):
            yield f"{where} yAxis.{side}.label: must be a string"
        if "showUnits" in settings and not isinstance(settings["showUnits"], bool):
            yield f"{where} yAxis.{side}.showUnits: must be true or false"


def _annotation(item: Any, where: str, fields: set[str], fills: set[str], horizontal: bool) -> Iterator[str]:
    band = isinstance(item, list)
    for part in item if band else [item]:
        if not isinstance(part, dict):
            yield f"{where}: an annotation is an object (or a band: two objects)"
            continue
        yield from _unknown(part, fields, where)
        value = part.get("value")
        if horizontal and not _is_number(value):
            yield f"{where}: value {value!r} must be a number"
        if not horizontal and not isinstance(value, str):
            yield f"{where}: value {value!r} must be an ISO 8601 time"
        if "fill" in part and part["fill"] not in fills:
            yield f"{where}: fill {part['fill']!r}; one of {', '.join(sorted(fills))}"
        if "color" in part and not (isinstance(part["color"], str) and COLOUR.fullmatch(part["color"])):
            yield f"{where}: color {part['color']!r} is not a six-digit hex colour"
        if "visible" in part and not isinstance(part["visible"], bool):
            yield f"{where}: visible must be true or false"
        if "yAxis" in part and part["yAxis"] not in Y_AXES:
            yield f"{where}: yAxis must be left or right"
    if band and len(item) != 2:
        yield f"{where}: a band annotation is two objects"


def _annotations(annotations: Any, has_metrics: bool, where: str) -> Iterator[str]:
    if not isinstance(annotations, dict):
        yield f"{where}: annotations must be an object"
        return
    yield from _unknown(annotations, ANNOTATION_FIELDS, f"{where} annotations")
    if "alarms" in annotations:
        alarms = annotations["alarms"]
        if not isinstance(alarms, list) or len(alarms) > 1:
            yield f"{where}: an alarm annotation holds 0-1 alarm ARNs"
        if has_metrics:
            yield f"{where}: a widget with an alarm annotation cannot also have a metrics array"
        if "horizontal" in annotations or "vertical" in annotations:
            yield f"{where}: a widget cannot have both an alarm and horizontal or vertical annotations"
    for key, fields, fills, horizontal in (("horizontal", HORIZONTAL_FIELDS, HORIZONTAL_FILLS, True), ("vertical", VERTICAL_FIELDS, VERTICAL_FILLS, False)):
        if key in annotations:
            if not isinstance(annotations[key], list):
                yield f"{where}: annotations.{key} must be an array"
                continue
            for number, item in enumerate(annotations[key]):
                yield from _annotation(item, f"{where} annotations.{key}[{number}]", fields, fills, horizontal)


def _metric_widget(properties: dict, where: str) -> Iterator[str]:
    yield from _unknown(properties, METRIC_FIELDS, where)
    if not isinstance(properties.get("region"), str) or not properties["region"]:
        yield f"{where}: region is required"
    has_metrics = "metrics" in properties
    if not has_metrics and "alarms" not in properties.get("annotations", {}):
        yield f"{where}: metrics is required unless an alarm annotation is given"
    if has_metrics:
        yield from _metric_lines(properties["metrics"], where)
    if "annotations" in properties:
        yield from _annotations(properties["annotations"], has_metrics, where)
    if "period" in properties and (p := _period_problem(properties["period"])):
        yield f"{where}: {p}"
    if "stat" in properties and (p := _stat_problem(properties["stat"])):
        yield f"{where}: {p}"
    view = properties.get("view", "timeSeries")
    if view not in VIEWS:
        yield f"{where}: view {view!r}; one of {', '.join(sorted(VIEWS))}"
    if "legend" in properties:
        legend = properties["legend"]
        if not isinstance(legend, dict) or set(legend) != {"position"} or legend["position"] not in LEGEND_POSITIONS:
            yield f"{where}: legend is {{\"position\": right | bottom | hidden}}"
    if "yAxis" in properties:
        yield from _y_axis(properties["yAxis"], where)
    if view == "gauge" and not {"min", "max"} <= set(properties.get("yAxis", {}).get("left", {})):
        yield f"{where}: a gauge needs yAxis.left min and max"
    for flag in ("stacked", "liveData", "sparkline"):
        if flag in properties and not isinstance(properties[flag], bool):
            yield f"{where}: {flag} must be true or false"
    if "title" in properties and not isinstance(properties["title"], str):
        yield f"{where}: title must be a string"


def _text_widget(properties: dict, where: str) -> Iterator[str]:
    yield from _unknown(properties, TEXT_FIELDS, where)
    if not isinstance(properties.get("markdown"), str):
        yield f"{where}: markdown is required"
    if "background" in properties and properties["background"] not in TEXT_BACKGROUNDS:
        yield f"{where}: background {properties['background']!r}; solid or transparent"


def _alarm_widget(properties: dict, where: str) -> Iterator[str]:
    yield from _unknown(properties, ALARM_FIELDS, where)
    alarms = properties.get("alarms")
    if not isinstance(alarms, list) or not 1 <= len(alarms) <= MAX_ALARM_ARNS:
        yield f"{where}: alarms is 1-{MAX_ALARM_ARNS} alarm ARNs (got {len(alarms) if isinstance(alarms, list) else alarms!r})"
    else:
        for arn in alarms:
            if not isinstance(arn, str) or not ALARM_ARN.fullmatch(arn):
                yield f"{where}: {arn!r} is not an alarm ARN"
    if "sortBy" in properties and properties["sortBy"] not in ALARM_SORTS:
        yield f"{where}: sortBy {properties['sortBy']!r}; one of {', '.join(sorted(ALARM_SORTS))}"
    if "states" in properties and not (isinstance(properties["states"], list) and set(properties["states"]) <= ALARM_STATES):
        yield f"{where}: states is a list of ALARM, INSUFFICIENT_DATA, OK"


_BY_TYPE = {"metric": _metric_widget, "text": _text_widget, "alarm": _alarm_widget}


def _widget(widget: Any, where: str) -> Iterator[str]:
    if not isinstance(widget, dict):
        yield f"{where}: a widget is an object"
        return
    yield from _unknown(widget, WIDGET_FIELDS, where)
    kind = widget.get("type")
    if kind not in WIDGET_TYPES:
        yield f"{where}: type {kind!r}; one of {', '.join(sorted(WIDGET_TYPES))}"
    if ("x" in widget) != ("y" in widget):
        yield f"{where}: x and y come together"
    x, y = widget.get("x", 0), widget.get("y", 0)
    width, height = widget.get("width", 6), widget.get("height", 6)
    if not _is_int(x) or not 0 <= x < GRID_COLUMNS:
        yield f"{where}: x {x!r} must be 0-{GRID_COLUMNS - 1}"
    if not _is_int(y) or y < 0:
        yield f"{where}: y {y!r} must be 0 or more"
    if not _is_int(width) or not 1 <= width <= GRID_COLUMNS:
        yield f"{where}: width {width!r} must be 1-{GRID_COLUMNS}"
    if not _is_int(height) or not 1 <= height <= MAX_HEIGHT:
        yield f"{where}: height {height!r} must be 1-{MAX_HEIGHT}"
    if _is_int(x) and _is_int(width) and x + width > GRID_COLUMNS:
        yield f"{where}: x {x} + width {width} runs past the {GRID_COLUMNS} columns"
    properties = widget.get("properties")
    if not isinstance(properties, dict):
        yield f"{where}: properties is required (an object)"
    elif kind in _BY_TYPE:
        yield from _BY_TYPE[kind](properties, f"{where} ({kind} {properties.get('title', '')!r})")


def problems(body: Any) -> list[str]:
    """Everything in a dashboard body that breaks AWS's dashboard body syntax; [] when it is valid."""
    found: list[str] = []
    try:
        body = json.loads(json.dumps(body, allow_nan=False))  # what PutDashboard would receive
    except (TypeError, ValueError) as exc:
        return [f"not JSON: {exc}"]
    if not isinstance(body, dict):
        return ["the body is a JSON object"]
    found += _unknown(body, TOP_LEVEL_FIELDS, "body")
    widgets = body.get("widgets")
    if not isinstance(widgets, list):
        return found + ["body: a widgets array is required"]
    if len(widgets) > MAX_WIDGETS:
        found.append(f"body: {len(widgets)} widgets; at most {MAX_WIDGETS}")
    if "periodOverride" in body and body["periodOverride"] not in ("auto", "inherit"):
        found.append("body: periodOverride is auto or inherit")
    cells: dict[tuple[int, int], int] = {}
    for number, widget in enumerate(widgets):
        where = f"widgets[{number}]"
        found += _widget(widget, where)
        if isinstance(widget, dict) and all(_is_int(widget.get(k)) for k in ("x", "y", "width", "height")):
            for cx in range(widget["x"], min(widget["x"] + widget["width"], GRID_COLUMNS)):
                for cy in range(widget["y"], widget["y"] + widget["height"]):
                    if (cx, cy) in cells:  # not on AWS's page: overlapping widgets hide each other
                        found.append(f"{where}: overlaps widgets[{cells[(cx, cy)]}] at x={cx}, y={cy}")
                        break
                    cells[(cx, cy)] = number
                else:
                    continue
                break
    return found
