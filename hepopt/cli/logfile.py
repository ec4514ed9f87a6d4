"""The run's log file, ``<output>/hepopt.log``: what hepopt and Optuna say (stage by stage, trial
by trial, failures with their tracebacks), appended run after run, whatever the terminal showed."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOG_NAME = "hepopt.log"
FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


@contextmanager
def log_to_file(folder: Path) -> Iterator[Path]:
    """INFO and above from ``hepopt`` and ``optuna`` go to ``folder/hepopt.log`` while inside;
    Optuna's per-trial INFO lines stay off the terminal (the progress bar shows trials), its
    warnings still reach stderr. SQLAlchemy (Optuna's storage) logs the same way: a Ctrl-C or
    SIGTERM that lands while it returns a connection to its pool is logged with a traceback
    ("Exception during reset or similar"), which goes to the file, not the terminal."""
    import optuna

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOG_NAME
    to_file = QuietFileHandler(path, encoding="utf-8")
    to_file.setFormatter(logging.Formatter(FORMAT))
    to_file.setLevel(logging.INFO)
    to_terminal = logging.StreamHandler(sys.stderr)
    to_terminal.setFormatter(logging.Formatter("[%(levelname)s] %(message)s"))
    to_terminal.setLevel(logging.WARNING)
    to_terminal.addFilter(_not_an_interrupt)
    optuna.logging.disable_default_handler()
    optuna.logging.set_verbosity(optuna.logging.INFO)
    ours = logging.getLogger("hepopt")
    theirs = (logging.getLogger("optuna"), logging.getLogger("sqlalchemy"))
    previous = ours.level
    ours.setLevel(logging.INFO)
    for logger in (ours, *theirs):
        logger.addHandler(to_file)
    for logger in theirs:
        logger.addHandler(to_terminal)
    ours.info("hepopt %s", " ".join(sys.argv[1:]) or "(from Python)")
    try:
        yield path
    except BaseException:
        ours.exception("stopped by an error")
        raise
    finally:
        for logger in (ours, *theirs):
            logger.removeHandler(to_file)
        for logger in theirs:
            logger.removeHandler(to_terminal)
        ours.setLevel(previous)
        optuna.logging.enable_default_handler()
        to_file.close()


def _not_an_interrupt(record: logging.LogRecord) -> bool:
    """Keep Optuna's "trial failed" lines for Ctrl-C (and SIGTERM, a KeyboardInterrupt too) off the
    terminal (the log file has them): hepopt's own line says what happened, and a traceback would
    bury it."""
    interrupted = record.exc_info is not None and isinstance(record.exc_info[1], KeyboardInterrupt)
    return not (interrupted or record.getMessage().endswith("failed with value None."))


class QuietFileHandler(logging.FileHandler):
    """A log file that stops writing, silently, when it cannot (a full disk): the run's own error
    says what went wrong, in one line, instead of logging's traceback on stderr."""

    def handleError(self, record: logging.LogRecord) -> None:
        self.close()
        self.setLevel(logging.CRITICAL + 1)
