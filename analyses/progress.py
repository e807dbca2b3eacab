"""Progress of long work: done out of total, and time left.

On a terminal one line is rewritten in place; anywhere else (a log file, CI) each step gets
a line of its own, so the record reads top to bottom.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
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
    parallel : int
        Steps that run at once, for the time left from reported durations.
    """

    def __init__(
        self,
        total: int,
        say: Callable[[str], None],
        stream: TextIO | None = None,
        parallel: int = 1,
    ):
        self.total, self.done, self.say, self.parallel = total, 0, say, parallel
        self.stream = stream or sys.stderr
        self.started = time.monotonic()
        self.started_at = time.time()  # wall clock: a step done in another process says when
        self.spent = 0.0  # the reported durations of the steps so far
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())

    def step(
        self, label: str, seconds: float | None = None, finished_at: float | None = None
    ) -> None:
        """One step finished; ``seconds`` is what it took, where the clock here cannot tell.

        Steps that ran in a process started before this counter (the suite's early refits)
        arrive together; their own durations then estimate the time left, not the time
        since the counter started. ``finished_at`` (wall clock) marks a step that was already
        done before the counter started: its line says so, without a time left that would
        only repeat the next line's.
        """
        self.done += 1
        if seconds is not None:
            self.spent += seconds
            left = self.spent / self.done * (self.total - self.done) / self.parallel
        else:
            elapsed = time.monotonic() - self.started
            left = elapsed / self.done * (self.total - self.done)
        earlier = finished_at is not None and finished_at < self.started_at
        when = "done in the background" if earlier else f"{_clock(left)} left"
        line = f"      [{self.done}/{self.total}] {label} ({when})"
        if self.live and isinstance(self.say, RunLog):
            self.say.record(line)  # drawn below, kept in run.log
            if self.say.verbosity == 0:
                return
        if self.live:
            self.stream.write("\r\033[K" + line)
            if self.done == self.total:
                self.stream.write("\n")
            self.stream.flush()
        else:
            self.say(line)


class RunLog:
    """A run's lines: to the console as its verbosity says, every one of them to ``run.log``.

    Parameters
    ----------
    verbosity : int
        0 (``-q``): only results; 1: every step and progress line; 2 (``-v``): the same, each
        stamped with the seconds since the run started, and PyMC's own progress messages
        (its warnings show at every level).
    out : callable, optional
        Where console lines go (default: print, flushed).
    """

    def __init__(self, verbosity: int = 1, out: Callable[[str], None] | None = None) -> None:
        self.verbosity = verbosity
        self.out = out or (lambda line: print(line, flush=True))
        self.started = time.monotonic()
        self.lines: list[str] = []

    def record(self, line: str) -> float:
        """Keep a line for run.log only; returns the seconds since the start."""
        elapsed = time.monotonic() - self.started
        self.lines.append(f"{elapsed:8.1f} s  {line}")
        return elapsed

    def __call__(self, line: str) -> None:
        """A step or progress line."""
        elapsed = self.record(line)
        if self.verbosity >= 2:
            self.out(f"[{elapsed:7.1f} s] {line}")
        elif self.verbosity == 1:
            self.out(line)

    def result(self, line: str) -> None:
        """A line of the result, shown at every verbosity."""
        self.record(line)
        self.out(line)

    def write(self, path: Path) -> None:
        """Every line so far, to ``path`` (the run folder's run.log)."""
        path.write_text("\n".join(self.lines) + "\n")


def _clock(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds >= 60 else f"{seconds} s"
