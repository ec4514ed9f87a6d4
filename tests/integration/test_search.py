"""The Optuna study in-process: failures stay alone, interrupted trials are re-run."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from conftest import analysis_config
from optuna.trial import TrialState

from hepopt.config import config_from_dict
from hepopt.data.stage import prepare_data
from hepopt.objectives import make_objective
from hepopt.search.space import SearchSpace
from hepopt.search.study import open_study, run_search, storage_url
from hepopt.search.trial import TrialRunner, trial_model_path
from hepopt.training import Classifier
from hepopt.training.sets import TrainingSets

pytestmark = pytest.mark.integration


def setup(samples_dir: Path, folder: Path, max_learning_rate: float = 1e-2, **overrides: object) -> tuple:
    raw = analysis_config(samples_dir, **overrides)
    raw["model"]["space"]["learning_rate"] = {"type": "float", "low": 1e-3, "high": max_learning_rate, "log": True}
    config = config_from_dict(raw, folder / "hepopt.yaml")
    table = prepare_data(config, progress=False)
    split = config.data.split
    sets = TrainingSets.from_table(table, (split.train, split.validation, split.test), config.seed)
    objective = make_objective(config.objective.name, config.objective.options)
    return config, SearchSpace.from_config(config.model), TrialRunner(sets, (objective,), "abs", config.seed)


def test_a_diverging_trial_fails_alone(samples_dir: Path, tmp_path: Path) -> None:
    config, space, runner = setup(samples_dir, tmp_path, max_learning_rate=1e38, name="diverge")
    study = open_study(config, ["maximize"])
    study.enqueue_trial({"learning_rate": 1e36})  # float32 overflows: NaN
    study.enqueue_trial({"learning_rate": 1e-3})
    outcome = run_search(config, space, runner, n_trials=3)
    trials = outcome.study.get_trials()
    assert [t.state for t in trials[:2]] == [TrialState.FAIL, TrialState.COMPLETE]
    assert "loss diverged" in trials[0].user_attrs["fail_reason"]
    assert sum(t.state == TrialState.COMPLETE for t in trials) >= 2
    assert not trial_model_path(config.output_dir, 0).exists()
    # The saved model of a completed trial reproduces its recorded value.
    classifier = Classifier.load(trial_model_path(config.output_dir, 1))
    assert runner.score(classifier, "validation")[0].value == pytest.approx(trials[1].value, rel=1e-9)


def test_interrupted_trial_is_marked_failed_and_replaced(samples_dir: Path, tmp_path: Path) -> None:
    config, space, runner = setup(samples_dir, tmp_path, name="resume")
    first = run_search(config, space, runner, n_trials=2)
    assert first.trials_run == 2
    # A process killed mid-trial leaves it RUNNING in the storage.
    orphan = optuna.load_study(study_name="resume", storage=storage_url(config)).ask()
    outcome = run_search(config, space, runner, n_trials=3)
    trials = outcome.study.get_trials()
    stale = trials[orphan.number]
    assert stale.state == TrialState.FAIL
    assert stale.user_attrs["fail_reason"].startswith("interrupted")
    complete_numbers = [t.number for t in trials if t.state == TrialState.COMPLETE]
    assert complete_numbers[:2] == [0, 1]  # finished trials kept, not redone
    assert outcome.trials_run == 0  # 2 complete + 1 failed reach the target of 3 ...
    more = run_search(config, space, runner, n_trials=5)
    assert more.trials_run == 2  # ... and a larger target runs exactly the missing ones
