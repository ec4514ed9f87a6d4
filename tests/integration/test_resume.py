"""The driver killed with SIGKILL mid-study, then the same command again: nothing lost or doubled."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from helpers import analysis_config, write_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # ROOT files, coffea, trainings: seconds each


def complete_trials(db: Path) -> int:
    if not db.is_file():
        return 0
    try:
        with sqlite3.connect(db, timeout=1) as conn:
            return conn.execute("SELECT COUNT(*) FROM trials WHERE state = 'COMPLETE'").fetchone()[0]
    except sqlite3.OperationalError:  # tables not created yet
        return 0


def test_sigkill_then_resume(samples_dir: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path, analysis_config(samples_dir, name="killed", seed=11))
    command = [sys.executable, "-m", "hepopt.cli", "optimize", str(config), "--n-trials", "6", "--quiet"]
    db = tmp_path / "results" / "optimize" / "study.db"
    driver = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while complete_trials(db) < 2 and driver.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert driver.poll() is None, "the study finished before it could be killed"
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait()

    storage = f"sqlite:///{db}"
    before = {
        t.number: (t.value, t.params)
        for t in optuna.load_study(study_name="killed", storage=storage).trials
        if t.state == TrialState.COMPLETE
    }
    assert len(before) >= 2

    resumed = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert resumed.returncode == 0, resumed.stderr
    trials = optuna.load_study(study_name="killed", storage=storage).trials
    complete = {t.number: (t.value, t.params) for t in trials if t.state == TrialState.COMPLETE}
    for number, kept in before.items():
        assert complete[number] == kept  # no finished trial lost or changed
    assert len(complete) == 6  # the target is met: interrupted trials are made up for, not counted
    interrupted = [t for t in trials if t.state == TrialState.FAIL]
    assert all(t.user_attrs["fail_reason"].startswith("interrupted") for t in interrupted)
    assert len(trials) == 6 + len(interrupted)  # and nothing ran twice


@pytest.mark.parametrize(
    ("stop", "code", "line", "why"),
    [
        (signal.SIGINT, 130, "hepopt: interrupted; finished trials", "Ctrl-C"),
        # What Slurm and HTCondor send before they kill a job: the same clean stop.
        (signal.SIGTERM, 143, "hepopt: stopped by SIGTERM; finished trials", "SIGTERM"),
    ],
)
def test_ctrl_c_or_sigterm_stops_cleanly_and_the_same_command_resumes(
    samples_dir: Path, tmp_path: Path, stop: signal.Signals, code: int, line: str, why: str
) -> None:
    config = write_config(tmp_path, analysis_config(samples_dir, name="ctrl_c", seed=12))
    # Five trials: after the first one there is work left for the signal to interrupt, even when
    # the machine is busy and this test notices the first trial late.
    command = [sys.executable, "-m", "hepopt.cli", "optimize", str(config), "--n-trials", "5", "--quiet"]
    results = tmp_path / "results"
    db = results / "optimize" / "study.db"
    # A terminal's Ctrl-C, however this test was started: a job a script put in the background
    # (`cmd &`) ignores SIGINT, and so would the driver it starts.
    driver = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # noqa: PLW1509 - no threads start before exec
    )
    deadline = time.monotonic() + 240
    while complete_trials(db) < 1 and driver.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert driver.poll() is None, "the study finished before the signal"
    driver.send_signal(stop)
    _, err = driver.communicate(timeout=120)
    assert driver.returncode == code, f"{complete_trials(db)} trials complete at exit; {err[-2000:]}"
    assert err.strip().splitlines()[-1] == (f"{line} and stages are saved. Run the same command again to resume.")
    assert "Traceback" not in err
    manifest = json.loads((results / "optimize" / "manifest.json").read_text())
    assert (manifest["state"], manifest["error"]) == ("interrupted", why)
    assert f"stage optimize: interrupted ({why})" in (results / "hepopt.log").read_text()

    storage = f"sqlite:///{db}"
    before = {t.number: t.value for t in optuna.load_study(study_name="ctrl_c", storage=storage).trials if t.value}
    resumed = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert resumed.returncode == 0, resumed.stderr
    trials = optuna.load_study(study_name="ctrl_c", storage=storage).trials
    complete = {t.number: t.value for t in trials if t.state == TrialState.COMPLETE}
    assert {n: complete.get(n) for n in before} == before  # nothing finished was lost or changed
    assert len(complete) == 5
    stopped = [t for t in trials if t.state == TrialState.FAIL]
    # Marked with the reason; or, when the interrupt cut the storage off mid-statement and the
    # driver said it could not mark them, by the next run (documented: "process stopped").
    reasons = {f"interrupted ({why})"}
    if "could not mark the interrupted trials" in (results / "hepopt.log").read_text():
        reasons.add("interrupted (process stopped)")
    assert {t.user_attrs.get("fail_reason") for t in stopped} <= reasons
    assert len(trials) == 5 + len(stopped)
