"""A run's state and its inputs cannot be turned against the user: a study, an event cache or a
model file is never reused for other inputs or read when damaged, nothing a file names is
imported, and the caller's process is left as it was."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
import torch

import hepopt
from hepopt.errors import StateError
from hepopt.search.identity import KEY_ATTR
from hepopt.training import Classifier

from helpers import flat_config, write_config, write_flat
from helpers import hepopt as run_cli

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # ROOT files, coffea, trainings: seconds each


@pytest.fixture(scope="module")
def flat_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("flat")
    return write_flat(folder / "sig.root", n=400, seed=1), write_flat(folder / "bkg.root", n=400, seed=2)


def small_config(files: tuple[Path, Path], **overrides: Any) -> dict[str, Any]:
    raw = flat_config(*files, name="trust", export=None)
    raw["model"] = {
        "space": {"max_epochs": 2, "learning_rate": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True}}
    }
    raw["search"] = {"bootstrap": 10, "n_trials": 2}
    raw.update(overrides)
    return raw


def studies(db: Path) -> dict[str, optuna.study.StudySummary]:
    return {s.study_name: s for s in optuna.get_all_study_summaries(f"sqlite:///{db}")}


def test_a_changed_config_starts_a_new_study_and_keeps_the_old_one(
    flat_files: tuple[Path, Path], tmp_path: Path
) -> None:
    path = write_config(tmp_path, small_config(flat_files))
    first = hepopt.optimize(path, progress=False)
    assert first is not None
    assert first.trials_run == 2
    db = tmp_path / "results" / "optimize" / "study.db"
    old_key = studies(db)["trust"].user_attrs[KEY_ATTR]

    # One feature fewer: the old trials' models would not even take these events.
    raw = small_config(flat_files)
    raw["features"] = raw["features"][:2]
    changed = write_config(tmp_path, raw, "fewer.yaml")
    notes: list[str] = []
    second = hepopt.optimize(changed, progress=False, on_stage=notes.append)
    assert second is not None
    assert second.trials_run == 2
    assert second.n_complete == 2
    assert second.model.feature_names == ("MET_pt", "lead_jet_pt")
    found = studies(db)
    kept = f"trust@{old_key[:8]}"
    assert set(found) == {"trust", kept}
    assert found[kept].user_attrs[KEY_ATTR] == old_key
    assert found[kept].n_trials == 2
    assert found["trust"].user_attrs[KEY_ATTR] != old_key
    assert (tmp_path / "results" / "optimize" / "earlier" / kept / "trials" / "trial_0000.pt").is_file()
    assert [n for n in notes if n.startswith("note:")] == [
        (
            f"note:optimize: study 'trust' not resumed: its search inputs changed (events); it is kept as '{kept}' "
            f"(its files in {tmp_path / 'results' / 'optimize' / 'earlier' / kept}), and a new study starts"
        )
    ]
    # hepopt status lists both studies, and which one this config resumes.
    status = run_cli("status", str(changed), "--json")
    assert status.returncode == 0, status.stderr
    rows = {r["stage"]: r for r in json.loads(status.stdout)}
    listed = {s["name"]: s for s in rows["optimize"]["studies"]}
    assert listed["trust"]["current"]
    assert not listed[kept]["current"]
    assert (listed["trust"]["complete"], listed[kept]["complete"]) == (2, 2)

    # The objective changed to a minimised one: a new study again, whose best is its lowest value.
    raw["objective"] = {"name": "bce"}
    third = hepopt.optimize(write_config(tmp_path, raw, "bce.yaml"), progress=False)
    assert third is not None
    assert third.trials_run == 2
    values = [t.value for t in optuna.load_study(study_name="trust", storage=f"sqlite:///{db}").trials]
    assert third.best.validation[0] == pytest.approx(min(values))

    # Back to the first config: its own study is resumed, nothing runs again.
    again = hepopt.optimize(path, progress=False)
    assert again is not None
    assert again.trials_run == 0
    assert again.n_complete == 2
    assert studies(db)["trust"].user_attrs[KEY_ATTR] == old_key

    # --force: a fresh study, the finished one kept.
    forced = hepopt.optimize(path, progress=False, force=True)
    assert forced is not None
    assert forced.trials_run == 2
    found = studies(db)
    assert found[kept].n_trials == 2
    assert found["trust"].n_trials == 2
    assert len(found) == 4


def test_the_same_inputs_resume_whatever_decides_only_how_many_trials_run(
    flat_files: tuple[Path, Path], tmp_path: Path
) -> None:
    path = write_config(tmp_path, small_config(flat_files))
    assert hepopt.optimize(path, progress=False) is not None
    raw = small_config(flat_files, search={"n_trials": 3, "sampler": "random", "timeout": 600})
    more = hepopt.optimize(write_config(tmp_path, raw), progress=False)
    assert more is not None
    assert more.trials_run == 1
    assert more.n_complete == 3
    assert set(studies(tmp_path / "results" / "optimize" / "study.db")) == {"trust"}


def test_damaged_state_is_one_clear_error_naming_the_file(flat_files: tuple[Path, Path], tmp_path: Path) -> None:
    path = write_config(tmp_path, small_config(flat_files))
    assert hepopt.optimize(path, progress=False) is not None
    results = tmp_path / "results"
    db = results / "optimize" / "study.db"
    (cache,) = (results / "prepare").glob("events-*.npz")
    intact_db, intact_cache = db.read_bytes(), cache.read_bytes()

    def fails(expected: str, *args: str) -> None:
        done = run_cli("optimize", str(path), "--quiet", *args)
        assert done.returncode == 1
        (line,) = done.stderr.strip().splitlines()
        assert line.startswith("hepopt: error: "), line
        assert expected in line, line

    db.write_bytes(intact_db[: len(intact_db) // 2])  # truncated
    fails(f"{db}: not a readable study", "--n-trials", "3")
    db.write_bytes(os.urandom(4096))  # not SQLite at all
    fails(f"{db}: not a readable study (not an SQLite database)", "--n-trials", "3")
    db.write_bytes(b"")  # emptied: the trials it held are lost, not silently a new study
    fails(f"{db}: the study database is empty", "--n-trials", "3")
    db.write_bytes(intact_db)

    cache.write_bytes(intact_cache[: len(intact_cache) // 2])  # truncated
    fails(f"{cache}: unreadable event cache (BadZipFile", "--n-trials", "3")
    with np.load(_write(tmp_path / "copy.npz", intact_cache)) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["weight"] = arrays["weight"][:-5]  # arrays of different lengths
    np.savez(cache, **arrays)
    fails(f"{cache}: damaged event cache ('weight' has shape", "--n-trials", "3")
    # --force reads the ROOT files again instead of loading the cache, and replaces it.
    forced = run_cli("optimize", str(path), "--quiet", "--force")
    assert forced.returncode == 0, forced.stderr
    with np.load(cache) as npz:
        assert len(npz["weight"]) == len(npz["label"]) == 800


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_two_output_folders_cannot_share_one_journal_file_at_once(
    flat_files: tuple[Path, Path], tmp_path: Path
) -> None:
    journal = tmp_path / "shared.journal"
    paths = []
    for name in ("a", "b"):
        raw = small_config(flat_files, output=f"results_{name}")
        raw["search"] = {"bootstrap": 10, "n_trials": 6, "storage": f"journal:{journal}"}
        raw["model"]["space"]["max_epochs"] = 30
        paths.append(write_config(tmp_path, raw, f"{name}.yaml"))
    first = subprocess.Popen(
        [sys.executable, "-m", "hepopt.cli", "optimize", str(paths[0]), "--quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lock = journal.with_name(journal.name + ".hepopt-lock")
    deadline = time.monotonic() + 120
    while not (lock.is_file() and lock.read_text().startswith("pid")) and time.monotonic() < deadline:
        assert first.poll() is None, first.stderr.read() if first.stderr else ""
        time.sleep(0.05)
    second = run_cli("optimize", str(paths[1]), "--quiet")
    assert first.poll() is None, "the first run ended before the second started"
    assert second.returncode == 1
    (line,) = second.stderr.strip().splitlines()
    assert line.startswith(f"hepopt: error: search.storage {journal}: another hepopt run is using it (pid {first.pid} ")
    _, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    trials = optuna.load_study(study_name="trust", storage=storage).trials
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 6  # nothing failed by the other run


def test_a_model_file_never_imports_what_it_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "imported"
    (tmp_path / "planted.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    from hepopt.models.params import TrainParams
    from hepopt.training.scaler import Standardizer

    model = torch.nn.Linear(2, 1)
    params = TrainParams.from_mapping({})
    Classifier(model, Standardizer(np.zeros(2), np.ones(2)), ("a", "b"), params).save(tmp_path / "ok.pt")
    payload = torch.load(tmp_path / "ok.pt", weights_only=True)
    for name in ("planted:Net", "this:X"):
        payload["params"]["family"] = payload["family"] = name
        torch.save(payload, tmp_path / "crafted.pt")
        with pytest.raises(
            StateError, match=f"the model's family '{name}' is a module path, and loading a file imports nothing"
        ):
            Classifier.load(tmp_path / "crafted.pt")
        assert name.partition(":")[0] not in sys.modules
    assert not marker.exists()
    # A module-path family is loaded when the caller names it.
    user_models = Path(__file__).parents[1] / "data" / "user_models"
    monkeypatch.syspath_prepend(str(user_models))
    from hep_nets import ResidualNet

    from hepopt.models import model_family
    from hepopt.training.trainer import train_classifier  # noqa: F401 - the trainer builds families

    team = TrainParams.from_mapping({"family": "hep_nets:ResidualNet"})
    net = model_family("hep_nets:ResidualNet").build(2, team.arch)
    Classifier(net, Standardizer(np.zeros(2), np.ones(2)), ("a", "b"), team).save(tmp_path / "team.pt")
    x = np.random.default_rng(0).normal(size=(10, 2)).astype(np.float32)
    by_class = Classifier.load(tmp_path / "team.pt", family=ResidualNet)
    by_path = Classifier.load(tmp_path / "team.pt", family="hep_nets:ResidualNet")
    np.testing.assert_array_equal(by_class.predict(x), by_path.predict(x))
    with pytest.raises(StateError, match="holds a model of family 'hep_nets:ResidualNet', not 'mlp'"):
        Classifier.load(tmp_path / "team.pt", family="mlp")


def test_the_callers_process_is_left_as_it_was(flat_files: tuple[Path, Path], tmp_path: Path) -> None:
    import matplotlib

    matplotlib.rcParams["font.size"] = 10.0
    backend = matplotlib.get_backend()
    rc = dict(matplotlib.rcParams)
    torch.set_num_threads(2)
    environment, path = dict(os.environ), list(sys.path)
    raw = small_config(flat_files, training={"threads": 1})
    raw["features"].append({"callable": "team_features:extra"})
    (tmp_path / "team_features.py").write_text(
        "import numpy as np\n\ndef extra(events):\n    return {'met_squared': np.asarray(events['MET_pt']) ** 2}\n"
    )
    result = hepopt.optimize(write_config(tmp_path, raw), progress=False)
    assert result is not None
    assert "met_squared" in result.model.feature_names
    assert torch.get_num_threads() == 2
    assert dict(os.environ) == environment
    assert sys.path == path
    assert matplotlib.get_backend() == backend
    assert {k: v for k, v in matplotlib.rcParams.items() if rc.get(k) != v} == {}
    assert matplotlib.rcParams["font.size"] == 10.0


def test_status_runs_none_of_the_feature_code(flat_files: tuple[Path, Path], tmp_path: Path) -> None:
    """``hepopt status`` reads manifests: it must not import the module a feature callable names
    (its top-level code is the analysis team's), and still know the stage is up to date."""
    marker = tmp_path / "imported"
    (tmp_path / "team_code.py").write_text(
        f"open({str(marker)!r}, 'a').write('imported ')\n"
        "import numpy as np\n\n"
        "def extra(events):\n    return {'met2': np.asarray(events['MET_pt']) ** 2}\n"
    )
    raw = small_config(flat_files)
    raw["features"].append({"callable": "team_code:extra"})
    path = write_config(tmp_path, raw)
    done = run_cli("optimize", str(path), "--quiet")
    assert done.returncode == 0, done.stderr
    assert marker.is_file()  # the run imports it, as it must
    marker.unlink()
    status = run_cli("status", str(path), "--json")
    assert status.returncode == 0, status.stderr
    assert not marker.exists()
    assert [(r["stage"], r["up_to_date"]) for r in json.loads(status.stdout)] == [("prepare", True), ("optimize", True)]


def test_other_objective_definitions_start_a_new_study(
    flat_files: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A study made by a release whose objectives computed other numbers (the same config) is not
    resumed: its values would sit beside the new ones under one name."""
    from hepopt.objectives import base as objective_base

    path = write_config(tmp_path, small_config(flat_files))
    with monkeypatch.context() as old_release:
        old_release.setattr(objective_base, "DEFINITIONS", objective_base.DEFINITIONS - 1)
        assert hepopt.optimize(path, progress=False) is not None
    notes: list[str] = []
    now = hepopt.optimize(path, progress=False, on_stage=notes.append)
    assert now is not None
    assert now.trials_run == 2  # the optimize stage ran again, on a new study
    db = tmp_path / "results" / "optimize" / "study.db"
    assert len(studies(db)) == 2
    assert any("its search inputs changed (hepopt_definitions)" in n for n in notes)
