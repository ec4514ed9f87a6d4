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
