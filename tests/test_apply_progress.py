"""apply's progress: one updating line on a terminal (a real pseudo-terminal), plain lines in a pipe,
nothing extra around --output json; the Progress renderer itself with a fake clock."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support import terminal
from test_reliability import CHANGES, big_spec_text

from monitor.commands.progress import (
    PIPE_EVERY_CHANGES,
    PIPE_EVERY_SECONDS,
    Progress,
    duration_words,
)

ROOT = Path(__file__).resolve().parent.parent
LINE = re.compile(r"apply: +(\d+)/(\d+) done, (\d+) failed(, [\d.]+ changes/s, (about .+ left|took .+))?")


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_in_a_pipe_a_plain_line_every_n_changes_or_every_few_seconds_and_at_the_end():
    clock, out = Clock(), io.StringIO()
    progress = Progress(out, 120, terminal=False, clock=clock)
    for done in range(1, 121):
        clock.now += 0.01 if done < 100 else PIPE_EVERY_SECONDS  # fast, then slow
        progress(done, failed=1 if done > 60 else 0)
    progress.close()
    lines = out.getvalue().splitlines()
    assert [LINE.fullmatch(line).group(1) for line in lines][:2] == [str(PIPE_EVERY_CHANGES), str(2 * PIPE_EVERY_CHANGES)]
    assert len(lines) == 2 + 20  # then one a change, each PIPE_EVERY_SECONDS apart
    assert lines[-1].startswith("apply: 120/120 done, 1 failed,") and "took" in lines[-1]
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f]", out.getvalue())  # no control characters at all


def test_on_a_terminal_one_line_redrawn_in_place_with_rate_and_time_left():
    clock, out = Clock(), io.StringIO()
    progress = Progress(out, 30, terminal=True, clock=clock)
    for done in range(1, 31):
        clock.now += 0.125  # exact in binary: no rounding at the 0.2 s refresh
        progress(done, failed=0)
    progress.close()
    text = out.getvalue()
    frames = text.split("\r\x1b[K")[1:]
    assert len(frames) == 15  # at most one per 0.2 s: every other change, the last among them
    assert frames[0] == "apply:  2/30 done, 0 failed, 8.0 changes/s, about 4 s left"
    assert frames[-1] == "apply: 30/30 done, 0 failed, 8.0 changes/s, took 4 s\n"  # close() ends the line


def test_duration_words():
    assert [duration_words(s) for s in (0.4, 59, 61, 3725)] == ["0 s", "59 s", "1 min 01 s", "1 h 02 min"]


# ---------------------------------------------------------------- the command, as a user runs it


@pytest.fixture
def spec(tmp_path) -> Path:
    path = tmp_path / "alarms.yaml"
    path.write_text(big_spec_text())
    return path


def apply_args(spec: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "monitor", "apply", "--spec", str(spec), "--env", "development", "--yes", "--write-rate", "0", "--no-metric-check", *extra]


def test_apply_in_a_pipe_prints_plain_progress_lines_on_stderr(moto_server, spec):
    result = subprocess.run(apply_args(spec), cwd=ROOT, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("apply:")]
    assert len(lines) >= CHANGES // PIPE_EVERY_CHANGES + 1 and all(LINE.fullmatch(line) for line in lines)
    assert lines[-1].startswith(f"apply: {CHANGES}/{CHANGES} done, 0 failed")
    assert "\r" not in result.stderr and "\x1b" not in result.stderr + result.stdout
    assert f"Apply: {CHANGES} succeeded, 0 failed" in result.stdout


def test_apply_with_json_output_in_a_pipe_prints_only_the_document(moto_server, spec):
    result = subprocess.run(apply_args(spec, "--output", "json"), cwd=ROOT, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["report"]) == CHANGES
    assert [line for line in result.stderr.splitlines() if not line.startswith("warning:")] == []  # no progress lines


def test_apply_on_a_terminal_redraws_one_progress_line(moto_server, spec):
    code, text = terminal.run_on_pty(apply_args(spec), cwd=ROOT, timeout=300)
    assert code == 0
    frames = [f.split("\r\n")[0] for f in text.split("\r\x1b[K")[1:]]
    assert frames and all(LINE.fullmatch(frame) for frame in frames)
    assert frames[-1].startswith(f"apply: {CHANGES}/{CHANGES} done, 0 failed")
    assert f"Apply: {CHANGES} succeeded, 0 failed" in text
