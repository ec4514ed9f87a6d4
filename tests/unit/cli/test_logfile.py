"""The run's log: Optuna's failure lines for a Ctrl-C go to the log file, not the terminal."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from hepopt.cli.logfile import log_to_file


def test_an_interrupted_trial_is_logged_to_the_file_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    optuna_log = logging.getLogger("optuna")
    ctrl_c = (KeyboardInterrupt, KeyboardInterrupt(), None)  # what Optuna passes as exc_info
    with log_to_file(tmp_path) as path:
        optuna_log.warning("Trial 1 failed with parameters: {} because of KeyboardInterrupt()", exc_info=ctrl_c)
        optuna_log.warning("Trial 1 failed with value None.")
        optuna_log.warning("Trial 2 failed with value nan.")  # a diverged trial: worth seeing
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "Trial 1" not in err
    assert "Trial 2 failed with value nan." in err
    logged = path.read_text()
    assert "KeyboardInterrupt" in logged
    assert "Trial 1 failed with value None." in logged


def test_sqlalchemy_logging_a_sigterm_in_its_pool_stays_off_the_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SIGTERM raised while SQLAlchemy resets a pooled connection: SQLAlchemy logs it with a
    traceback, which without a handler Python prints on stderr (seen once in CI's SIGTERM test)."""
    from hepopt.runtime.signals import Terminated

    pool_log = logging.getLogger("sqlalchemy.pool.impl.NullPool")
    sigterm = (Terminated, Terminated("SIGTERM"), None)  # what logging gets from exc_info=True there
    with log_to_file(tmp_path) as path:
        pool_log.error("Exception during reset or similar", exc_info=sigterm)
        pool_log.warning("a pool warning worth seeing")
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "Exception during reset" not in err
    assert "a pool warning worth seeing" in err
    logged = path.read_text()
    assert "Exception during reset or similar" in logged
    assert "Terminated: SIGTERM" in logged
