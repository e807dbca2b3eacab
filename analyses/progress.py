"""Progress of long work: done out of total, and time left.

On a terminal one line is rewritten in place; anywhere else (a log file, CI) each step gets
a line of its own, so the record reads top to bottom.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO


class Progress:
    """Count steps of known number and say how long the rest should take.

    Parameters
    ----------
    total : int
        Steps to do.
    say : callable
        Where a line goes when the stream is not a terminal.
    stream : file, optional
        The terminal to draw on, if it is one (default ``sys.stderr``).
    """

    def __init__(self, total: int, say: Callable[[str], None], stream: TextIO | None = None):
        self.total, self.done, self.say = total, 0, say
        self.stream = stream or sys.stderr
        self.started = time.monotonic()
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())

    def step(self, label: str) -> None:
        """One step finished."""
        self.done += 1
        elapsed = time.monotonic() - self.started
        left = elapsed / self.done * (self.total - self.done)
        line = f"      [{self.done}/{self.total}] {label} ({_clock(left)} left)"
        if self.live:
            self.stream.write("\r\033[K" + line)
            if self.done == self.total:
                self.stream.write("\n")
            self.stream.flush()
        else:
            self.say(line)


def _clock(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds >= 60 else f"{seconds} s"
