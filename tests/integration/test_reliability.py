"""Faults a real run meets, in real processes: two runs on one output folder, an output path that
cannot be written, a full disk. Each ends in one clear line and exit code 1, and nothing is lost."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from helpers import analysis_config, hepopt, write_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # ROOT files, coffea, trainings: seconds each


def test_a_second_run_on_the_same_output_folder_is_refused(samples_dir: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path, analysis_config(samples_dir, name="shared_output", seed=4))
    lock = tmp_path / "results" / ".hepopt.lock"
    command = [sys.executable, "-m", "hepopt.cli", "optimize", str(config), "--n-trials", "2", "--quiet"]
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (lock.is_file() and lock.read_text().startswith("pid")) and time.monotonic() < deadline:
        time.sleep(0.05)
    second = hepopt("optimize", str(config), "--n-trials", "2", "--quiet")
    assert first.poll() is None, "the first run ended before the second started"
    assert second.returncode == 1
    (line,) = second.stderr.strip().splitlines()
    assert line.startswith(
        f"hepopt: error: {tmp_path / 'results'}: another hepopt run is using this output folder (pid {first.pid} on "
    )
    assert line.endswith("wait for it to finish, or give this run another 'output'")
    _, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    study = optuna.load_study(
        study_name="shared_output", storage=f"sqlite:///{tmp_path / 'results' / 'optimize' / 'study.db'}"
    )
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2  # the refused run touched nothing
    again = hepopt("optimize", str(config), "--n-trials", "2", "--quiet")  # the lock went with its holder
    assert again.returncode == 0, again.stderr


def test_an_output_path_through_a_file_is_one_clear_line(samples_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("a file, not a folder")
    config = write_config(tmp_path, analysis_config(samples_dir, name="bad_output", output="notes.txt/results"))
    done = hepopt("optimize", str(config), "--quiet")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        (
            f"hepopt: error: {tmp_path / 'notes.txt' / 'results'}: Not a directory "
            "(a part of this path is a file, not a folder; check 'output')"
        )
    ]


@contextlib.contextmanager
def small_disk(mountpoint: Path, size: str) -> Iterator[None]:
    mountpoint.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mountpoint)], capture_output=True, check=False
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {mounted.stderr.decode().strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("mount"), reason="a full disk is simulated with a tmpfs mount (root)"
)
def test_a_full_disk_is_one_clear_line_and_the_rerun_resumes(samples_dir: Path, tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    with small_disk(disk, "2m"):
        (disk / "ballast").write_bytes(b"\0" * (2 * 1024 * 1024 - 64 * 1024))  # 64 kB left
        config = write_config(tmp_path, analysis_config(samples_dir, name="full_disk", output="disk/results"))
        done = hepopt("optimize", str(config), "--n-trials", "2", "--quiet")
        assert done.returncode == 1
        (line,) = done.stderr.strip().splitlines()
        assert line.startswith(f"hepopt: error: {disk / 'results'}")
        assert line.endswith("No space left on device (the disk is full; free space or set 'output' to another disk)")
        (disk / "ballast").unlink()  # space again: the same command finishes the job
        done = hepopt("optimize", str(config), "--n-trials", "2", "--quiet")
        assert done.returncode == 0, done.stderr
