"""Two ``hepopt optimize`` drivers share one study on a PostgreSQL server (Debian's postgresql,
started here): the study is filled to its target once, by both, with nothing lost or doubled."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
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

from helpers import analysis_config, hepopt, write_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # ROOT files, coffea, trainings: seconds each


def _postgres_bin(name: str) -> str | None:
    """On PATH, else where Debian's postgresql package puts it (not on PATH)."""
    installed = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    return shutil.which(name) or (str(installed[-1]) if installed else None)


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL server on a free loopback port (as the ``postgres`` user when the
    tests run as root: the server refuses root)."""
    initdb, pg_ctl = _postgres_bin("initdb"), _postgres_bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    folder = Path(tempfile.mkdtemp(prefix="hepopt-pg"))
    data = folder / "data"
    if as_user:
        shutil.chown(folder, "postgres")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = [*as_user, initdb, "-D", str(data), "--auth=trust", "-U", "postgres", "--no-sync"]
    subprocess.run(run, check=True, capture_output=True)
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    start = [*as_user, pg_ctl, "-D", str(data), "-o", options, "-l", str(folder / "server.log"), "-w", "start"]
    subprocess.run(start, check=True, capture_output=True)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            subprocess.run(
                [*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], check=True, capture_output=True
            )
        shutil.rmtree(folder, ignore_errors=True)


def test_two_drivers_fill_one_study_on_postgresql(postgres_url: str, samples_dir: Path, tmp_path: Path) -> None:
    drivers = []
    for name in ("a", "b"):  # two analysts' machines: their own output folders, one study
        raw = analysis_config(samples_dir, name="shared", output=f"results_{name}", export=None)
        # One trial at a time per driver: each may finish the one it has in flight at the target.
        raw["search"] = {"bootstrap": 10, "storage": postgres_url, "sampler": "random", "n_trials": 6, "workers": 1}
        path = write_config(tmp_path / name, raw)
        command = [sys.executable, "-m", "hepopt.cli", "optimize", str(path), "--quiet"]
        drivers.append(subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for driver in drivers:
        _, err = driver.communicate(timeout=600)
        assert driver.returncode == 0, err[-3000:]

    study = optuna.load_study(study_name="shared", storage=postgres_url)
    trials = study.get_trials()
    assert all(t.state == TrialState.COMPLETE for t in trials)
    # Each driver stops once the study holds the target; the other may finish the trial it has
    # in flight then, so 6 or 7 (never 12: the drivers do not each run 6).
    assert 6 <= len(trials) <= 7
    ran = {t.user_attrs["driver"] for t in trials}
    assert len(ran) == 2  # both drivers ran trials ...
    assert len({tuple(sorted(t.params.items())) for t in trials}) == len(trials)  # ... different ones
    # Each driver's summary is the shared study's: the driver that ended last saw every trial.
    summaries = [json.loads((tmp_path / n / f"results_{n}" / "optimize" / "summary.json").read_text()) for n in "ab"]
    assert max(s["n_complete"] for s in summaries) == len(trials)
    best = max(trials, key=lambda t: t.value)
    for summary in summaries:
        if summary["best_is_defaults"]:  # hepopt's defaults (outside the space) beat every trial ...
            by_completion = sorted(trials, key=lambda t: t.datetime_complete)
            seen = [t.value for t in by_completion[: summary["n_complete"]]]  # ... this driver had seen
            assert summary["best"]["validation"][0] > max(seen)
            continue
        assert summary["best"]["validation"][0] == pytest.approx(
            next(t.value for t in trials if t.number == summary["best"]["number"])
        )
    assert any(s["best"]["number"] == best.number or s["best_is_defaults"] for s in summaries)


def test_a_trial_whose_driver_died_is_marked_and_not_counted(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The heartbeat path, with a 1 s beat and a 2 s grace: a RUNNING trial whose driver went
    silent is failed by the next driver and not counted (the study makes up for it)."""
    from hepopt.search import storage as storage_module
    from hepopt.search import study as study_module

    monkeypatch.setattr(storage_module, "HEARTBEAT", 1)
    monkeypatch.setattr(storage_module, "GRACE", 2)
    study = optuna.create_study(study_name="stale", storage=storage_module.open_storage(postgres_url))
    study.tell(study.ask(), 1.0)  # one finished trial
    lost = study.ask()
    study._storage.record_heartbeat(lost._trial_id)  # its driver beat once, then died
    time.sleep(3)
    optuna.storages.fail_stale_trials(study)  # what the next driver does before each trial
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.FAIL]
    assert "fail_reason" not in trials[1].user_attrs  # Optuna's doing, not a reason of hepopt's
    assert study_module._counted(study) == 1  # the lost trial is made up for, not counted


def test_a_driver_with_other_search_inputs_is_refused(postgres_url: str, samples_dir: Path, tmp_path: Path) -> None:
    """A study on a shared server belongs to one set of search inputs: a driver whose config
    differs (here the objective) is refused in one line and the study is left as it was; --force
    cannot restart what other drivers may be using."""
    raw = analysis_config(samples_dir, name="one_key", export=None)
    raw["search"] = {"bootstrap": 10, "storage": postgres_url, "sampler": "random", "n_trials": 1}
    first = write_config(tmp_path / "a", raw)
    done = hepopt("optimize", str(first), "--quiet")
    assert done.returncode == 0, done.stderr
    raw["objective"] = {"name": "roc_auc"}
    other = write_config(tmp_path / "b", raw)
    refused = hepopt("optimize", str(other), "--quiet")
    assert refused.returncode == 1
    (line,) = refused.stderr.strip().splitlines()
    assert line == (
        "hepopt: error: search.storage: study 'one_key' holds trials made with other search inputs (changed: "
        "objectives); drivers share a study only with the same inputs: use that study's config, or give this "
        "run another 'name'"
    )
    forced = hepopt("optimize", str(first), "--quiet", "--force")
    assert forced.returncode == 1
    assert "--force cannot start study 'one_key' anew on a database server" in forced.stderr
    study = optuna.load_study(study_name="one_key", storage=postgres_url)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE]  # untouched
    # (A driver with the same inputs joins: test_two_drivers_fill_one_study_on_postgresql.)
