"""Interrupts the run can trust: SIGINT, SIGTERM and SIGHUP are recorded, not only raised.

nutpie, numba and PyMC each swallow ``KeyboardInterrupt`` somewhere: nutpie returns a truncated
trace, PyMC's predictive sampling leaves an empty group, and a numba callback prints
"Exception ignored" and carries on. So the handler records the signal as well as raising, and a
run calls :func:`check` at every step boundary and before it publishes anything. A recorded
signal always ends the run with nothing written.
"""

from __future__ import annotations

import _thread
import multiprocessing
import queue
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# How often a process waiting on another checks that the other still lives (a helper its
# main process, the main process its figure helper).
POLL_SECONDS = 0.2

SIGNALS = tuple(
    s for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s is not None
)


class Interrupted(BaseException):
    """A signal arrived; a BaseException, so no ``except Exception`` can swallow it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        """The shell's convention: 128 + the signal number (130 for SIGINT, 143 for SIGTERM)."""
        return 128 + self.signum


# How soon an interrupt that a callback swallowed is delivered again. A weakref callback or a
# ``__del__`` that the signal happened to land in is over within microseconds; without a second
# delivery the run went on to its next check, 44 s later in one compile (2026-12-02).
REDELIVER_SECONDS = 0.1


class _State:
    received: int | None = None
    # The open recorded_signals block (0: none). A second delivery is made only inside the
    # block that scheduled it, never into a later one.
    block: int = 0
    blocks_opened: int = 0
    lock = threading.Lock()


def received() -> int | None:
    """The first signal recorded since :func:`recorded_signals` began, if any."""
    return _State.received


@contextmanager
def recorded_signals() -> Iterator[None]:
    """Record (and raise on) SIGINT, SIGTERM and SIGHUP inside the block; restore afterwards.

    Signal handlers can only be set from the main thread; elsewhere the block runs unguarded.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    previous_hook = sys.unraisablehook
    _State.received = None

    def handler(signum, frame):
        if _State.received is None:
            _State.received = signum
        raise KeyboardInterrupt

    def unraisable(info):
        # Our own KeyboardInterrupt, raised inside a callback that cannot propagate it (numba's
        # ctypes callbacks, a weakref callback run by the garbage collector): it is recorded
        # already, so its "Exception ignored" traceback is noise. It is delivered again
        # shortly, outside the callback, so the run stops now rather than at its next check.
        # Anything else goes to the previous hook.
        if _State.received is not None and isinstance(info.exc_value, KeyboardInterrupt):
            _redeliver_soon(_State.received, _State.block)
        else:
            previous_hook(info)

    for s in SIGNALS:
        signal.signal(s, handler)
    sys.unraisablehook = unraisable
    with _State.lock:
        _State.blocks_opened += 1
        _State.block = _State.blocks_opened
    try:
        yield
    finally:
        with _State.lock:
            _State.block = 0
        for s, h in previous.items():
            signal.signal(s, h)
        sys.unraisablehook = previous_hook
        # The record belongs to this block: a later run in the same process starts clean.
        _State.received = None


def _redeliver_soon(signum: int, block: int) -> None:
    """Simulate ``signum`` arriving again in the main thread, unless ``block`` has closed."""

    def redeliver() -> None:
        with _State.lock:
            if block and _State.block == block:
                _thread.interrupt_main(signum)

    timer = threading.Timer(REDELIVER_SECONDS, redeliver)
    timer.daemon = True
    timer.start()


def check() -> None:
    """Raise :class:`Interrupted` if a signal arrived, even one a library swallowed."""
    if _State.received is not None:
        raise Interrupted(_State.received)


def start_ignoring_interrupts(process) -> None:
    """Start a helper process with Ctrl-C ignored from its first instruction.

    A spawned process imports the toolkit before its own code can ignore SIGINT, and Ctrl-C
    reaches the whole process group: it would print the helper's traceback. An ignored
    signal survives ``exec``, so it is ignored here for the moment of the start (only the
    main thread may change a handler; elsewhere the process is started as it is). The main
    process records the interrupt and stops its helpers.
    """
    if threading.current_thread() is not threading.main_thread():
        process.start()
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        process.start()
    finally:
        signal.signal(signal.SIGINT, previous)


class Orphaned(Exception):
    """A helper's main process died while the helper waited for its next job."""


def get_while_parent_lives(jobs):
    """The next item from ``jobs``, waited for only while this process's parent is alive.

    A main process killed outright (SIGKILL) sends nothing and never stops its helpers: a
    helper blocked in ``get`` would wait forever. Raises :class:`Orphaned` instead.
    """
    parent = multiprocessing.parent_process()
    while True:
        try:
            return jobs.get(timeout=POLL_SECONDS)
        except queue.Empty:
            if parent is None or not parent.is_alive():
                raise Orphaned from None
