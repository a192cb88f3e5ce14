"""Property-based: hostile edits of the shipped spec and scenario files never crash the checker.

Each example takes alarms.yaml (or a shipped scenario), applies one to three hostile edits (a wrong
type at any path, a deletion, a duplication, a weird scalar, a stray byte or control character in
the text) and runs the command as a user would. The outcome is always "valid" (exit 0) or a list
of problems each placed at file:line:column (exit 2), never "internal error" (exit 1). A SIGALRM
guard turns a hang into a failure; there is no speed assertion. Examples are derandomized (fixed
seed) so CI sees the same cases every run; HOSTILE_EXAMPLES=2000 runs more, at random.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import io
import os
import re
import signal
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.commands.cli import main
from monitor.errors import ExitStatus

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "alarms.yaml"
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
HANG_GUARD_SECONDS = 60  # far above any real run: only a hang trips it

EXAMPLES = int(os.environ.get("HOSTILE_EXAMPLES", "120"))  # more, and random, for a longer run by hand
HOSTILE = settings(
    max_examples=EXAMPLES,
    derandomize="HOSTILE_EXAMPLES" not in os.environ,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

WEIRD = [
    None, True, False, 0, -1, 1.5, -0.0, float("nan"), float("inf"), 10**30, 2**63, "", " ", "x" * 300,
    "${UNSET_HOSTILE_VARIABLE}", "${X:-}", "$$", "é🙂", "\t", "a\nb", "null", "~", "yes", "0x1F", "1e3",
    dt.date(2026, 1, 1), dt.datetime(2026, 1, 1, 12, 0), [], {}, [None], [[]], {"": None}, {"x": {"y": [1]}},
    ["just-a-string"], [{"key": 1}], {"critical": []}, [{"threshold": 1}],
]
TEXT_INSERTS = ["\x00", "\x07", "\x1b", "\ufeff", "\t", "{", "}", "[", ":", "- ", "&a ", "*a", "!!python/object:os.system ", "<<: *x\n", "\n  ", "'", '"', "%", "\u2028"]


def _paths(value, path=()):
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, path + (index,))


def _parent(data, path):
    for part in path[:-1]:
        data = data[part]
    return data


@st.composite
def structural_edit(draw, data):
    """One edit of the parsed document: replace, delete, duplicate or wrap the value at some path."""
    paths = [p for p in _paths(data) if p]
    path = draw(st.sampled_from(paths))
    parent, last = _parent(data, path), path[-1]
    op = draw(st.sampled_from(["replace", "delete", "duplicate", "wrap_list", "wrap_map", "swap"]))
    if op == "replace":
        parent[last] = copy.deepcopy(draw(st.sampled_from(WEIRD)))
    elif op == "delete":
        del parent[last]
    elif op == "duplicate":
        if isinstance(parent, list):
            parent.insert(last, copy.deepcopy(parent[last]))
        else:
            parent[draw(st.sampled_from([f"{last}_copy", "critical", "key", "queues", str(last).upper()]))] = copy.deepcopy(parent[last])
    elif op == "wrap_list":
        parent[last] = [parent[last]]
    elif op == "wrap_map":
        parent[last] = {str(last): parent[last]}
    else:  # put another part of the document here
        other = draw(st.sampled_from(paths))
        if other[: len(path)] != path:
            parent[last] = copy.deepcopy(_parent(data, other)[other[-1]])
    return data


@st.composite
def text_edit(draw, text):
    """One edit of the text: a stray character or byte, a duplicated or dropped line."""
    op = draw(st.sampled_from(["insert", "duplicate_line", "drop_line", "bytes"]))
    lines = text.split("\n")
    if op == "insert":
        at = draw(st.integers(0, len(text)))
        return text[:at] + draw(st.sampled_from(TEXT_INSERTS)) + text[at:]
    at = draw(st.integers(0, len(lines) - 1))
    if op == "duplicate_line":  # often a duplicate key
        lines.insert(at, lines[at])
    elif op == "drop_line":
        del lines[at]
    else:
        return text.encode("utf-8")[: len(text) // 2] + draw(st.sampled_from([b"\xff", b"\xc3", b"\x00", b"\xed\xa0\x80"])) + text.encode("utf-8")[len(text) // 2 :]
    return "\n".join(lines)


@st.composite
def hostile_file(draw, source: Path):
    data = yaml.safe_load(source.read_text())
    for _ in range(draw(st.integers(1, 3))):
        if draw(st.booleans()) or not isinstance(data, dict):
            data = draw(structural_edit(data)) if isinstance(data, (dict, list)) and any(True for _ in _paths(data)) else data
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True) if data is not None else ""
    if draw(st.integers(0, 3)) == 0:
        text = draw(text_edit(text))
    return text


@contextlib.contextmanager
def hang_guard():
    def hung(*_):
        raise TimeoutError(f"no answer in {HANG_GUARD_SECONDS} s: a hang")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(HANG_GUARD_SECONDS)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with hang_guard(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(argv)
    return int(status), out.getvalue(), err.getvalue()


def assert_placed_problems(err: str, file: Path) -> None:
    """Every problem line names the file, a line and a column; the last line counts them."""
    lines = err.strip().split("\n")
    assert re.fullmatch(r"\d+ problems? found", lines[-1]), err
    problems = [line for line in lines[:-1] if not line.startswith("warning:")]
    assert problems, err
    placed = re.compile(re.escape(str(file)) + r":[1-9]\d*:[1-9]\d*: ")
    for line in problems:
        assert placed.match(line), f"problem not placed at file:line:col: {line!r}"


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@HOSTILE
@given(text=hostile_file(SPEC))
def test_hostile_spec_is_valid_or_reported_at_file_line_never_a_crash(tmp_path, monkeypatch, text):
    monkeypatch.delenv("UNSET_HOSTILE_VARIABLE", raising=False)
    path = write(tmp_path, "alarms.yaml", text)
    status, out, err = run(["validate", "--spec", str(path)])
    assert status in (ExitStatus.SUCCESS, ExitStatus.INVALID), err
    if status == ExitStatus.SUCCESS:
        assert ": valid (" in out
    else:
        assert_placed_problems(err, path)


@HOSTILE
@given(source=st.sampled_from(SCENARIOS).flatmap(lambda p: st.tuples(st.just(p), hostile_file(p))))
def test_hostile_scenario_passes_fails_or_is_reported_at_file_line_never_a_crash(tmp_path, source):
    scenario, text = source
    path = write(tmp_path, scenario.name, text)
    status, out, err = run(["test", str(path), "--spec", str(SPEC)])
    assert status in (ExitStatus.SUCCESS, ExitStatus.CHECK_FAILED, ExitStatus.INVALID), err
    if status == ExitStatus.INVALID:
        assert_placed_problems(err, path)
    else:
        assert scenario.name in out or "passed" in out or "failed" in out


@pytest.mark.parametrize(
    "edit, where",
    [
        (lambda t: t.replace("queues:\n", "queues:\n  - just-a-string\n  - 42\n  - null\n", 1), "queues[0]"),
        (lambda t: re.sub(r"(?m)^queues:\n(  .*\n|\n)*", "queues: 1.5\n", t), "queues"),
        (lambda t: t.replace("target_alarms:\n", "target_alarms: 7\nold_target_alarms:\n", 1), "target_alarms"),
        (lambda t: t.replace("  connection_failure:           #", "  connection_failure: 3\n  unused_kind:           #", 1), "target_alarms.connection_failure"),
        (lambda t: t.replace("runbooks:\n", "runbooks: [a, b]\nold_runbooks:\n", 1), "runbooks"),
        (lambda t: t.replace("    dead_letter: hokusai:mint_requests:dlq\n", "    dead_letter: hokusai:mint_requests:dlq\n    runbooks: a-string\n", 1), "queues[1].runbooks"),
        (lambda t: t.replace("  connection_failure:           #", "  connection_failure: [{critical: {threshold: 1}}]\n  unused_kind:           #", 1), "target_alarms.connection_failure"),
    ],
)
def test_each_crash_the_issue_found_is_now_a_placed_problem(tmp_path, edit, where):
    text = edit(SPEC.read_text())
    assert text != SPEC.read_text()
    path = write(tmp_path, "alarms.yaml", text)
    status, _, err = run(["validate", "--spec", str(path)])
    assert status == ExitStatus.INVALID, err
    assert_placed_problems(err, path)
    assert f": {where}" in err


def test_a_nul_byte_is_reported_at_its_line_and_column(tmp_path):
    text = SPEC.read_text()
    line = text.split("\n").index("namespace: Hokusai/RedisQueues") + 1
    path = write(tmp_path, "alarms.yaml", text.replace("namespace: Hokusai", "namespace: Hok\x00usai", 1))
    status, _, err = run(["validate", "--spec", str(path)])
    assert status == ExitStatus.INVALID
    assert err.startswith(f"{path}:{line}:15: not valid YAML: character U+0000 is not allowed")


def test_a_byte_that_is_not_utf8_is_reported_at_its_line(tmp_path):
    raw = SPEC.read_bytes().replace(b"name_prefix: hokusai", b"name_prefix: hoku\xffsai", 1)
    line = next(i for i, text in enumerate(raw.split(b"\n"), 1) if text.startswith(b"name_prefix: hoku\xff"))
    path = write(tmp_path, "alarms.yaml", raw)
    status, _, err = run(["validate", "--spec", str(path)])
    assert status == ExitStatus.INVALID
    assert err.startswith(f"{path}:{line}:18: the spec is not UTF-8 text (byte 0xFF)")


def test_a_value_with_newlines_is_quoted_on_the_one_line_of_its_problem(tmp_path):
    path = write(tmp_path, "alarms.yaml", SPEC.read_text().replace("version: 1", "version: 'a\n\n  b'", 1))
    status, _, err = run(["validate", "--spec", str(path)])
    assert status == ExitStatus.INVALID
    assert_placed_problems(err, path)
    assert "version: found 'a\\nb' (a string)" in err


def test_a_nul_byte_after_non_ascii_text_is_placed_by_character_not_byte(tmp_path):
    path = write(tmp_path, "alarms.yaml", SPEC.read_text().replace("team: hokusai-data-pipeline", "team: hokusaï-dätä\x00", 1))
    line = SPEC.read_text().split("\n").index("  team: hokusai-data-pipeline") + 1
    status, _, err = run(["validate", "--spec", str(path)])
    assert status == ExitStatus.INVALID
    assert err.startswith(f"{path}:{line}:21: not valid YAML: character U+0000")
