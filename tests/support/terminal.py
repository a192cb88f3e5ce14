"""Run a command with stdout and stderr on a pseudo-terminal, as a person at a terminal would."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import termios
from pathlib import Path
from typing import Mapping, Sequence


def run_on_pty(
    argv: Sequence[str], *, cwd: Path, env: Mapping[str, str] | None = None, columns: int | None = None,
    translate_newlines: bool = True, timeout: float = 60,
) -> tuple[int, str]:
    """(exit status, everything written); `columns` sets the terminal's width; without
    `translate_newlines` the terminal keeps "\\n" as is (no "\\r\\n"), so lines split as written."""
    master, slave = pty.openpty()
    if columns is not None:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    if not translate_newlines:
        attrs = termios.tcgetattr(slave)
        attrs[1] &= ~termios.ONLCR
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
    proc = subprocess.Popen(list(argv), cwd=cwd, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=None if env is None else dict(env))
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], timeout)
        if not ready:
            proc.kill()
            raise AssertionError(f"no output from the command within {timeout:g} s")
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    return proc.wait(timeout=timeout), b"".join(chunks).decode()
