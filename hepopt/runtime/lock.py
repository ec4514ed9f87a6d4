"""One run at a time per output folder, and per study file: a second ``hepopt optimize`` (or
``hepopt.optimize``) pointed at a folder or a ``search.storage`` file in use is refused with a
clear error instead of interleaving its writes.

The lock is ``flock`` on ``<output>/.hepopt.lock`` (and ``<study file>.hepopt-lock``): the kernel
drops it when the process dies (SIGKILL included), so a killed run never leaves a stale lock. It
holds between processes on one machine and on most shared file systems; for runs on several
machines sharing a study, use a ``search.storage`` database and one output folder per machine.
"""

from __future__ import annotations

import datetime
import fcntl
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hepopt.errors import HepoptError

LOCK_NAME = ".hepopt.lock"


class OutputInUseError(HepoptError):
    """Another hepopt run holds the output folder (or the study file)."""


@contextmanager
def output_lock(folder: Path) -> Iterator[None]:
    """Hold ``folder`` for this process while inside.

    Raises:
        OutputInUseError: naming the folder and the run (pid, host, start time) that holds it.
    """
    folder.mkdir(parents=True, exist_ok=True)
    advice = "wait for it to finish, or give this run another 'output'"
    with file_lock(folder / LOCK_NAME, str(folder), advice, "this output folder"):
        yield


@contextmanager
def file_lock(path: Path, what: str, advice: str, used: str = "it") -> Iterator[None]:
    """Hold the lock file ``path`` (guarding ``what``) while inside; refuse with ``advice``."""
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            msg = f"{what}: another hepopt run is using {used} ({holder}); {advice}"
            raise OutputInUseError(msg) from None
        started = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
        handle.truncate(0)
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}, started {started}\n")
        handle.flush()
        try:
            yield
        finally:
            handle.truncate(0)
            fcntl.flock(handle, fcntl.LOCK_UN)
