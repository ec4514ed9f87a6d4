"""``search.ray_address``: hepopt joins a Ray cluster started beforehand with ``ray start --head``
(as on a cluster's head node) instead of starting its own."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from conftest import analysis_config, write_config

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _processes_mentioning(text: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if text.encode() in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
    return pids


@pytest.fixture(scope="module")
def ray_head() -> Iterator[str]:
    """A one-node Ray cluster in its own process group and temp folder (short: Ray's socket paths)."""
    ray_bin = Path(sys.executable).with_name("ray")
    temp = tempfile.mkdtemp(prefix="hr", dir="/tmp")
    port = free_port()
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    command = [
        str(ray_bin), "start", "--head", "--block", f"--port={port}", "--num-cpus=2",
        "--node-ip-address=127.0.0.1", "--include-dashboard=false", f"--temp-dir={temp}",
    ]  # fmt: skip
    log = Path(temp) / "ray-start.log"
    with log.open("w") as out:  # a file, not a pipe: a full pipe would block ray start
        head = subprocess.Popen(command, env=env, start_new_session=True, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while not list(Path(temp).glob("session_*/logs/raylet.out")):
            if head.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"ray start failed: {log.read_text()[-2000:]}")
            time.sleep(0.5)
        yield f"127.0.0.1:{port}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait(timeout=20)
        for pid in _processes_mentioning(temp):  # workers the raylet started in their own sessions
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_trials_run_on_the_cluster_given_by_ray_address(ray_head: str, samples_dir: Path, tmp_path: Path) -> None:
    raw = analysis_config(samples_dir, name="cluster")
    raw["search"] = {"backend": "ray", "workers": 2, "ray_address": ray_head, "n_trials": 4, "sampler": "random"}
    path = write_config(tmp_path, raw)
    done = subprocess.run(
        [sys.executable, "-m", "hepopt.cli", "optimize", str(path)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "RAY_AUTH_MODE": "disabled"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    study = optuna.load_study(
        study_name="cluster", storage=f"sqlite:///{tmp_path / 'results' / 'optimize' / 'study.db'}"
    )
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
    # Every trial ran on the cluster started above, not on a Ray the driver started itself.
    # (Ray reports the cluster under the node's address; the port, free when chosen, identifies it.)
    assert {t.user_attrs["ray_cluster"].rsplit(":", 1)[1] for t in trials} == {ray_head.rsplit(":", 1)[1]}
    assert len({t.user_attrs["worker_pid"] for t in trials}) == 2
