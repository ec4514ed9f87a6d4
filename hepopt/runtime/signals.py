"""SIGTERM, what batch systems (Slurm, HTCondor) send before they kill a job, handled like Ctrl-C:
the trial in flight is marked interrupted, the stage ``interrupted``, and the rerun resumes."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

_received: list[str] = []  # what stopped the run, while hepopt's handlers are in place


class Terminated(KeyboardInterrupt):
    """The process got SIGTERM; raised where Ctrl-C's KeyboardInterrupt would be, so every place
    that saves work on Ctrl-C saves it on SIGTERM too."""


def interrupt_reason(error: BaseException | None) -> str:
    """How the run was stopped, for the interrupted trial's ``fail_reason``."""
    return "SIGTERM" if isinstance(error, Terminated) else "Ctrl-C"


def interrupt_in(error: BaseException) -> KeyboardInterrupt | None:
    """The Ctrl-C (or SIGTERM) behind ``error``: found in its chain of causes (a library turned it
    into its own error, as Optuna's storage does when it lands during a commit), or, under
    :func:`sigterm_as_interrupt`, known from the signal itself when a library swallowed it whole."""
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        cause = pending.pop()
        if id(cause) in seen:
            continue
        seen.add(id(cause))
        if isinstance(cause, KeyboardInterrupt):
            return cause
        pending += [c for c in (cause.__cause__, cause.__context__) if c is not None]
    if _received:
        return Terminated(_received[-1]) if _received[-1] == "SIGTERM" else KeyboardInterrupt()
    return None


def _raise_terminated(signum: int, _frame: FrameType | None) -> None:
    _received.append("SIGTERM")
    raise Terminated(signal.Signals(signum).name)


def _raise_interrupt(_signum: int, _frame: FrameType | None) -> None:
    _received.append("Ctrl-C")
    raise KeyboardInterrupt


@contextmanager
def handler_kept() -> Iterator[None]:
    """Put hepopt's SIGTERM handler back after code that replaces it (``ray.init`` installs one
    that exits at once); any other handler is left to that code."""
    main = threading.current_thread() is threading.main_thread()
    before = signal.getsignal(signal.SIGTERM) if main else None
    try:
        yield
    finally:
        if main and before is _raise_terminated:
            signal.signal(signal.SIGTERM, before)


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While inside, SIGTERM raises :class:`Terminated` in the main thread, and both it and Ctrl-C
    are remembered (see :func:`interrupt_in`); the previous handlers come back afterwards. A
    SIGINT that is ignored (a job started in the background) stays ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    _received.clear()
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    signal.signal(signal.SIGTERM, _raise_terminated)
    if previous[signal.SIGINT] is signal.default_int_handler:
        signal.signal(signal.SIGINT, _raise_interrupt)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            if handler is not None:
                signal.signal(signum, handler)
