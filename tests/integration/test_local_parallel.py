"""The local backend on a shared machine: trials side by side in worker processes with one torch
thread each, as many as the cores this process is given; a worker that dies fails its trial
only; the best trials cross-validated; hepopt's defaults competing with the trials."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest

import hepopt
from hepopt.config import load_config
from hepopt.data.stage import prepare_data
from hepopt.models.params import TrainParams
from hepopt.objectives import Objective, ObjectiveInputs, ObjectiveResult
from hepopt.scoring.trial import trial_model_path
from hepopt.search.parallel_trials import WORKER_DIED
from hepopt.training import Classifier
from hepopt.training.trainer import predict_proba

from helpers import analysis_config, auc_by_pairs, flat_branches, flat_config, write_branches, write_config, write_flat

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # ROOT files, coffea, trainings: seconds each


def study_of(folder: Path, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{folder / 'results' / 'optimize' / 'study.db'}")


def test_trials_run_side_by_side_in_worker_processes(samples_dir: Path, tmp_path: Path) -> None:
    raw = analysis_config(samples_dir, name="side_by_side", export=None, objective={"name": "roc_auc"})
    raw["search"] = {"bootstrap": 10, "n_trials": 4, "workers": 2, "sampler": "random"}
    path = write_config(tmp_path, raw)
    result = hepopt.optimize(path, progress=False)
    assert result is not None
    assert result.n_complete == 4
    trials = study_of(tmp_path, "side_by_side").trials
    pids = {t.user_attrs["worker_pid"] for t in trials}
    assert len(pids) == 2
    assert os.getpid() not in pids
    config = load_config(path)
    from hepopt.stages.plan import make_plan

    runner = make_plan(config).search_runner(prepare_data(config, progress=False), None)
    val = runner.sets.validation
    for t in trials:  # each value is its saved model's, recomputed here
        model = Classifier.load(trial_model_path(config.search_dir, t.number)).model
        assert t.value == pytest.approx(
            auc_by_pairs(predict_proba(model, val.x_tensor), val.labels, val.weights), abs=1e-9
        )


class KillsItsWorker(Objective):
    """Kills the process it runs in the first time (a worker out of memory, say)."""

    name = "kills_its_worker"
    direction = "maximize"

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def evaluate(self, inputs: ObjectiveInputs) -> ObjectiveResult:
        if not Path(self.marker).exists():
            Path(self.marker).touch()
            os.kill(os.getpid(), signal.SIGKILL)
        return ObjectiveResult(float(np.mean(inputs.scores)))


def test_a_worker_that_dies_fails_its_trial_only(samples_dir: Path, tmp_path: Path) -> None:
    from hepopt.config import config_from_dict
    from hepopt.scoring.trial import TrialRunner
    from hepopt.search.space import SearchSpace
    from hepopt.search.study import run_search
    from hepopt.training.sets import TrainingSets

    raw = analysis_config(samples_dir, name="dying_worker")
    raw["search"] = {"bootstrap": 10, "n_trials": 4, "workers": 2, "sampler": "random"}
    config = config_from_dict(raw, tmp_path / "hepopt.yaml")
    sets = TrainingSets.from_table(prepare_data(config, progress=False), (0.6, 0.2, 0.2), config.seed)
    runner = TrialRunner(sets, (KillsItsWorker(str(tmp_path / "killed")),), "abs", config.seed)
    study = run_search(config, SearchSpace.from_config(config.model), runner).study
    states = sorted(t.state.name for t in study.trials)
    assert states == ["COMPLETE", "COMPLETE", "COMPLETE", "FAIL"]
    (failed,) = [t for t in study.trials if t.state == optuna.trial.TrialState.FAIL]
    assert failed.user_attrs["fail_reason"] == WORKER_DIED


def test_cores_are_those_the_process_is_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hepopt.runtime import cpus

    one_core = subprocess.run(
        [sys.executable, "-c", "import os; os.sched_setaffinity(0, {0}); from hepopt.runtime.cpus import usable_cpus; print(usable_cpus())"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert one_core.stdout.strip() == "1"  # a batch slot of one core, whatever the node has
    quota = tmp_path / "cpu.max"
    monkeypatch.setattr(cpus, "CGROUP_V2", quota)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(64)))
    quota.write_text("400000 100000\n")  # a cgroup allowed 4 CPUs on a 64-core node
    assert cpus.usable_cpus() == 4
    quota.write_text("150000 100000\n")
    assert cpus.usable_cpus() == 2
    quota.write_text("max 100000\n")
    assert cpus.usable_cpus() == 64
    assert cpus.trial_workers(None) == 64
    assert (cpus.trial_workers(3), cpus.training_threads(None), cpus.training_threads(4)) == (3, 1, 4)


def test_the_best_trials_are_cross_validated_and_the_best_mean_kept(samples_dir: Path, tmp_path: Path) -> None:
    raw = analysis_config(samples_dir, name="cv_best", objective={"name": "roc_auc"})
    raw["search"] = {
        "bootstrap": 10,
        "n_trials": 3,
        "workers": 2,
        "sampler": "random",
        "cross_validation": {"mode": "best_trials", "folds": 3, "best": 2},
    }
    path = write_config(tmp_path, raw)
    result = hepopt.optimize(path, progress=False)
    assert result is not None
    assert result.cross_validation is not None
    cv = result.cross_validation
    study = study_of(tmp_path, "cv_best")
    ranked = sorted((t for t in study.trials if t.value is not None), key=lambda t: -t.value)[:2]
    assert [r["number"] for r in cv["rows"]] == [t.number for t in ranked]
    # Each fold's value, trained again here on that fold; the kept trial has the best mean.
    config = load_config(path)
    from hepopt.search.space import SearchSpace
    from hepopt.stages.plan import make_plan

    plan = make_plan(config)
    runners = plan.runners(prepare_data(config, progress=False), None, plan.folds())
    space = SearchSpace.from_config(config.model)
    first = ranked[0]
    by_hand = [r.run(TrainParams.from_mapping(space.values(first.params))).values[0] for r in runners]
    assert cv["rows"][0]["values"] == pytest.approx(by_hand, abs=1e-9)
    assert cv["rows"][0]["std"] == pytest.approx(np.std(by_hand, ddof=1), abs=1e-9)
    chosen = max(cv["rows"], key=lambda r: r["mean"])
    assert cv["chosen"] == chosen["number"] == result.best.number
    assert "chosen among the 2 best trials by the mean of the objective over 3 folds" in result.model_from
    model_json = json.loads((tmp_path / "results" / "export" / "model.json").read_text())
    assert model_json["model_from"] == result.model_from
    with result.files["cross_validation_csv"].open() as handle:
        table = list(csv.DictReader(handle))
    assert [int(r["number"]) for r in table] == [r["number"] for r in cv["rows"]]
    assert [r["kept"] for r in table].count("True") == 1


def test_the_defaults_compete_as_the_first_trial(flat_files: Any, tmp_path: Path) -> None:
    raw = flat_config(*flat_files, name="defaults_first", export=None)
    raw["model"] = {
        "space": {"max_epochs": 3, "learning_rate": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}}
    }
    raw["search"] = {"bootstrap": 10, "n_trials": 2, "workers": 1}
    result = hepopt.optimize(write_config(tmp_path, raw), progress=False)
    assert result is not None
    first = study_of(tmp_path, "defaults_first").trials[0]
    assert first.user_attrs["defaults"] is True
    assert first.params == {"learning_rate": 1e-3}
    assert result.baseline is not None
    assert result.baseline.number == 0
    assert result.baseline.validation == [first.value]


def test_defaults_outside_the_space_still_win_when_better(flat_files: Any, tmp_path: Path) -> None:
    """With learning rates ten thousand times too small the trials stay where they started (the
    same seed: the same start); the defaults (lr 1e-3, outside the range, so not a trial) learn,
    are kept, and the summary says so."""
    raw = flat_config(*flat_files, name="defaults_win", export=None, objective={"name": "roc_auc"})
    fixed = {"max_epochs": 20, "patience": 20, "batch_size": 64}
    raw["model"] = {"space": {**fixed, "learning_rate": {"type": "float", "low": 1e-7, "high": 2e-7}}}
    raw["search"] = {"bootstrap": 10, "n_trials": 2, "workers": 1}
    result = hepopt.optimize(write_config(tmp_path, raw), progress=False)
    assert result is not None
    assert result.baseline is not None
    trials = study_of(tmp_path, "defaults_win").trials
    assert all(not t.user_attrs.get("defaults") for t in trials)
    assert result.baseline.validation[0] > max(t.value for t in trials)
    assert result.best_is_defaults
    assert result.best.number == -1
    assert result.model.params.learning_rate == pytest.approx(1e-3)  # best_model.pt holds the defaults
    summary = json.loads(result.files["summary"].read_text())
    assert summary["best_is_defaults"] is True


@pytest.fixture(scope="module")
def flat_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Signal and background that differ (MET shifted), so training has something to learn."""
    folder = tmp_path_factory.mktemp("flat_differ")
    branches = flat_branches(600, seed=1)
    branches["MET_pt"] = branches["MET_pt"] * 2.5 + 20
    return write_branches(folder / "sig.root", branches), write_flat(folder / "bkg.root", n=600, seed=2)
