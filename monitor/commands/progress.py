"""apply's progress while it writes: one updating line on a terminal, plain lines in a pipe or CI.

On a terminal the line is redrawn in place (carriage return + erase to end of line) at most
TTY_REFRESH_SECONDS apart. Anywhere else a plain line is written every PIPE_EVERY_SECONDS or every
PIPE_EVERY_CHANGES changes, whichever comes first, and never a control character, so CI logs stay
readable. Both say: done/total, failed so far, rate, time left.
"""

from __future__ import annotations

import time
from typing import Callable, TextIO

TTY_REFRESH_SECONDS = 0.2
PIPE_EVERY_SECONDS = 5.0
PIPE_EVERY_CHANGES = 50
_ERASE_LINE = "\r\x1b[K"


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def duration_words(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class Progress:
    """Call with (done, failed) after each change; `close()` when the run ends or stops."""

    def __init__(self, stream: TextIO, total: int, *, terminal: bool | None = None, clock: Callable[[], float] = time.monotonic):
        self.stream, self.total, self.clock = stream, total, clock
        self.terminal = _isatty(stream) if terminal is None else terminal
        self.started = clock()
        self._last_time = self.started
        self._last_done = 0
        self._drawn = False

    def line(self, done: int, failed: int) -> str:
        elapsed = self.clock() - self.started
        width = len(str(self.total))
        text = f"apply: {done:>{width}}/{self.total} done, {failed} failed"
        if done and elapsed > 0:
            rate = done / elapsed
            left = (self.total - done) / rate
            text += f", {rate:.1f} changes/s, about {duration_words(left)} left" if done < self.total else f", {rate:.1f} changes/s, took {duration_words(elapsed)}"
        return text

    def __call__(self, done: int, failed: int) -> None:
        now = self.clock()
        last = done >= self.total
        if self.terminal:
            if last or now - self._last_time >= TTY_REFRESH_SECONDS:
                self.stream.write(_ERASE_LINE + self.line(done, failed))
                self.stream.flush()
                self._drawn, self._last_time = True, now
        elif last or now - self._last_time >= PIPE_EVERY_SECONDS or done - self._last_done >= PIPE_EVERY_CHANGES:
            self.stream.write(self.line(done, failed) + "\n")
            self.stream.flush()
            self._last_time, self._last_done = now, done

    def close(self) -> None:
        """End the updating line, so what follows starts on a line of its own."""
        if self.terminal and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
