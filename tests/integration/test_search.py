"""The Optuna study in-process: failures stay alone, interrupted trials are re-run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from hepopt.config import config_from_dict
from hepopt.data.stage import prepare_data
from hepopt.objectives import Objective, ObjectiveInputs, ObjectiveResult, make_objective
from hepopt.scoring.trial import TrialRunner, trial_model_path
from hepopt.search.space import SearchSpace
from hepopt.search.study import open_storage, open_study, run_search, storage_url
from hepopt.training import Classifier
from hepopt.training.sets import TrainingSets

from helpers import analysis_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # ROOT files, coffea, trainings: seconds each


def setup(
    samples_dir: Path, folder: Path, max_learning_rate: float = 1e-2, search: dict | None = None, **overrides: object
) -> tuple:
    raw = analysis_config(samples_dir, **overrides)
    if search is not None:
        raw["search"] = search
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
    assert not trial_model_path(config.search_dir, 0).exists()
    # The saved model of a completed trial reproduces its recorded value.
    classifier = Classifier.load(trial_model_path(config.search_dir, 1))
    assert runner.score(classifier, "validation")[0].value == pytest.approx(trials[1].value, rel=1e-9)


@pytest.mark.parametrize("storage", [None, "journal:study.journal"], ids=["sqlite", "journal"])
def test_interrupted_trial_is_marked_failed_and_replaced(
    samples_dir: Path, tmp_path: Path, storage: str | None
) -> None:
    search = {"sampler": "tpe", "n_trials": 20, "storage": storage}
    config, space, runner = setup(samples_dir, tmp_path, name="resume", search=search)
    first = run_search(config, space, runner, n_trials=2)
    assert first.trials_run == 2
    expected_file = tmp_path / ("study.journal" if storage else "results/optimize/study.db")
    assert expected_file.stat().st_size > 0
    # A process killed mid-trial leaves it RUNNING in the storage.
    orphan = optuna.load_study(study_name="resume", storage=open_storage(storage_url(config))).ask()
    outcome = run_search(config, space, runner, n_trials=3)
    trials = outcome.study.get_trials()
    stale = trials[orphan.number]
    assert stale.state == TrialState.FAIL
    assert stale.user_attrs["fail_reason"].startswith("interrupted")
    complete_numbers = [t.number for t in trials if t.state == TrialState.COMPLETE]
    assert complete_numbers[:2] == [0, 1]  # finished trials kept, not redone
    assert outcome.trials_run == 1  # the interrupted trial does not count: one more is run ...
    assert sum(t.state == TrialState.COMPLETE for t in outcome.study.get_trials()) == 3
    more = run_search(config, space, runner, n_trials=5)
    assert more.trials_run == 2  # ... and a larger target runs exactly the missing ones


def test_median_pruner_stops_enqueued_bad_trials(samples_dir: Path, tmp_path: Path) -> None:
    good = {"learning_rate": 5e-3, "n_layers": 2, "units": 32, "batch_size": 256}
    bad = {"learning_rate": 1.01e-3, "n_layers": 1, "units": 16, "batch_size": 1024, "signal_weight": 0.5}
    config, space, runner = setup(
        samples_dir,
        tmp_path,
        name="prune",
        # One trial at a time: with trials side by side, which have finished when a trial reports
        # (what the median is taken over) depends on timing.
        search={
            "sampler": "tpe",
            "pruner": "median",
            "n_trials": 5,
            "workers": 1,
            "enqueue": [good, good, good, bad, bad],
        },
    )
    raw_space = dict(config.model.space)
    assert raw_space["max_epochs"] == 4
    outcome = run_search(config, space, runner, n_trials=5)
    trials = outcome.study.get_trials()
    states = [t.state for t in trials]
    assert states[:3] == [TrialState.COMPLETE] * 3
    for trial in trials:
        if trial.state == TrialState.COMPLETE:
            # The reported per-epoch values are the objective itself: the final value is the one
            # of the restored best epoch.
            assert trial.value == pytest.approx(trial.intermediate_values[trial.user_attrs["best_epoch"]], rel=1e-9)
        elif trial.state == TrialState.PRUNED:
            last = max(trial.intermediate_values)
            assert last < 4
            assert trial.user_attrs["fail_reason"] == f"pruned after epoch {last}"
            finished = [t for t in trials[: trial.number] if t.state == TrialState.COMPLETE]
            at_step = sorted(t.intermediate_values[last] for t in finished if last in t.intermediate_values)
            assert trial.intermediate_values[last] < at_step[len(at_step) // 2]  # below the median: pruned
    assert TrialState.PRUNED in states


def test_grid_sampler_walks_the_whole_grid(samples_dir: Path, tmp_path: Path) -> None:
    raw = analysis_config(samples_dir, name="grid", search={"sampler": "grid", "n_trials": 10})
    raw["model"]["space"] = {
        "n_layers": {"type": "int", "low": 1, "high": 2},
        "activation": {"type": "categorical", "choices": ["relu", "tanh"]},
        "max_epochs": 2,
    }
    config = config_from_dict(raw, tmp_path / "hepopt.yaml")
    table = prepare_data(config, progress=False)
    sets = TrainingSets.from_table(table, (0.5, 0.25, 0.25), config.seed)
    runner = TrialRunner(sets, (make_objective("asimov_significance"),), "abs", config.seed)
    outcome = run_search(config, SearchSpace.from_config(config.model), runner)
    combos = {(t.params["n_layers"], t.params["activation"]) for t in outcome.study.get_trials()}
    assert combos == {(1, "relu"), (1, "tanh"), (2, "relu"), (2, "tanh")}
    assert len(outcome.study.get_trials()) == 4  # the grid is exhausted: the study stops


@pytest.mark.parametrize("sampler", ["random", "cmaes", "gp", "qmc", "nsga2"])
def test_samplers_are_seeded(samples_dir: Path, tmp_path: Path, sampler: str) -> None:
    params = []
    for run in ("a", "b"):
        config, space, runner = setup(
            samples_dir, tmp_path / run, name=sampler, search={"sampler": sampler, "n_trials": 2}
        )
        raw_space = dict(config.model.space)
        assert "learning_rate" in raw_space
        outcome = run_search(config, space, runner, n_trials=2)
        assert all(t.state == TrialState.COMPLETE for t in outcome.study.get_trials())
        params.append([t.params for t in outcome.study.get_trials()])
    assert params[0] == params[1]  # same seed, same points
    assert params[0][0] != params[0][1]


class Exploding(Objective):
    """A plugin with a bug: every evaluation raises."""

    name = "exploding"

    def evaluate(self, inputs: ObjectiveInputs) -> ObjectiveResult:
        msg = "boom"
        raise ValueError(msg)


def test_a_buggy_objective_fails_each_trial_once(samples_dir: Path, tmp_path: Path) -> None:
    config, space, runner = setup(samples_dir, tmp_path, name="buggy")
    buggy = TrialRunner(runner.sets, (Exploding(),), "abs", config.seed)
    outcome = run_search(config, space, buggy, n_trials=2)
    trials = outcome.study.get_trials()
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.FAIL]
    assert all(t.user_attrs["fail_reason"] == "ValueError: boom" for t in trials)
    assert run_search(config, space, buggy, n_trials=2).trials_run == 0  # not retried


def test_overtraining_penalty_matches_the_recomputed_ratios(samples_dir: Path, tmp_path: Path) -> None:
    from hepopt.training.trainer import evaluate_loss

    overtraining = {"max_loss_ratio": 0.5, "action": "penalise"}  # every classifier breaks it
    config, space, runner = setup(
        samples_dir, tmp_path, name="penalty", search={"n_trials": 2, "overtraining": overtraining}
    )
    outcome = run_search(config, space, runner, n_trials=2)
    for trial in outcome.study.get_trials():
        assert trial.state == TrialState.COMPLETE
        classifier = Classifier.load(trial_model_path(config.search_dir, trial.number))
        params = classifier.params
        train = runner.sets.train.batchable(params.signal_weight, "abs")
        val = runner.sets.validation.batchable(params.signal_weight, "abs")
        ratio = evaluate_loss(classifier.model, val) / evaluate_loss(classifier.model, train)
        raw = runner.score(classifier, "validation")[0].value
        assert trial.user_attrs["loss_ratio"] == pytest.approx(ratio, rel=1e-6)
        assert trial.value == pytest.approx(raw * 0.5 / ratio, rel=1e-6)
        assert trial.user_attrs["fail_reason"].startswith("overtraining: loss_ratio")

    pruning = {"max_loss_ratio": 0.5, "action": "prune"}
    config, space, runner = setup(samples_dir, tmp_path / "p", name="prune_ot", search={"overtraining": pruning})
    outcome = run_search(config, space, runner, n_trials=2)
    assert [t.state for t in outcome.study.get_trials()] == [TrialState.PRUNED] * 2


def test_cross_validated_trial_is_the_mean_over_folds(samples_dir: Path, tmp_path: Path) -> None:
    from hepopt.scoring.cross_validation import AveragedRunner
    from hepopt.training import TrainParams

    config, space, single = setup(samples_dir, tmp_path, name="cv")
    table = prepare_data(config, progress=False)
    folds = tuple(
        TrialRunner(
            TrainingSets.from_table(table, (0.5, 0.25, 0.25), config.seed, fold=(3, i, "event_number")),
            single.objectives,
            "abs",
            config.seed,
        )
        for i in range(3)
    )
    runner = AveragedRunner(folds)
    assert runner.sets is folds[0].sets
    outcome = run_search(config, space, runner, n_trials=2)
    for trial in outcome.study.get_trials():
        params = TrainParams.from_mapping({**space.baseline(), **trial.params})
        by_hand = [fold.run(params).values[0] for fold in folds]  # each fold trained on its own
        assert trial.user_attrs["values_per_run"] == pytest.approx(by_hand, rel=1e-9)
        assert trial.value == pytest.approx(np.mean(by_hand), rel=1e-9)
        assert trial.user_attrs["std_over_runs"] == pytest.approx(np.std(by_hand, ddof=1), rel=1e-6)
        assert len(set(by_hand)) == 3  # the folds really differ


def test_optimize_with_cross_validation_from_the_config(samples_dir: Path, tmp_path: Path) -> None:
    from hepopt.api import optimize

    raw = analysis_config(samples_dir, name="cv_pipeline")
    raw["search"] = {"bootstrap": 10, "n_trials": 1, "cross_validation": {"folds": 2, "by": "random"}}
    raw["model"]["space"].pop("l2")  # the defaults fit the space: they are the (one) trial
    result = optimize(config_from_dict(raw, tmp_path / "hepopt.yaml"), progress=False)
    study = optuna.load_study(
        study_name="cv_pipeline", storage=f"sqlite:///{tmp_path / 'results' / 'optimize' / 'study.db'}"
    )
    trial = study.trials[0]
    assert trial.user_attrs["runs"] == 2
    assert result.best.validation == [pytest.approx(np.mean(trial.user_attrs["values_per_run"]))]


def test_executions_per_trial_average_over_seeds(samples_dir: Path, tmp_path: Path) -> None:
    from hepopt.stages.plan import make_plan
    from hepopt.training import TrainParams

    raw = analysis_config(samples_dir, name="repeats")
    raw["search"] = {
        "bootstrap": 10,
        "n_trials": 1,
        "executions_per_trial": 2,
        "cross_validation": {"folds": 2, "by": "random"},
    }
    config = config_from_dict(raw, tmp_path / "hepopt.yaml")
    table = prepare_data(config, progress=False)
    plan = make_plan(config)
    space, runner = plan.space, plan.search_runner(table, None)
    outcome = run_search(config, space, runner, n_trials=1)
    (trial,) = outcome.study.get_trials()
    assert trial.user_attrs["runs"] == 4  # 2 folds x 2 seeds
    params = TrainParams.from_mapping({**space.baseline(), **trial.params})
    by_hand = []
    for fold in range(2):  # fold-major, seeds config.seed and config.seed + 1
        sets = TrainingSets.from_table(table, (0.5, 0.25, 0.25), config.seed, fold=(2, fold, "random"))
        for k in range(2):
            by_hand.append(TrialRunner(sets, runner.objectives, "abs", config.seed + k).run(params).values[0])
    assert trial.user_attrs["values_per_run"] == pytest.approx(by_hand, rel=1e-9)
    assert trial.value == pytest.approx(np.mean(by_hand), rel=1e-9)
    assert by_hand[0] != by_hand[1]  # another seed really trains another network


def test_best_cut_objective_in_a_search(samples_dir: Path, tmp_path: Path) -> None:
    """A trial's s/sqrt(s+b) and its cut, recomputed from its saved model by scanning every cut."""
    config, space, _ = setup(samples_dir, tmp_path, name="best_cut")
    table = prepare_data(config, progress=False)
    sets = TrainingSets.from_table(table, (0.5, 0.25, 0.25), config.seed)
    objective = make_objective("s_over_sqrt_s_plus_b", {"min_signal_efficiency": 0.25})
    outcome = run_search(config, space, TrialRunner(sets, (objective,), "abs", config.seed), n_trials=2)
    trial = outcome.study.best_trial
    model = Classifier.load(trial_model_path(config.search_dir, trial.number))
    val = sets.validation
    scores = model.predict(val.x * sets.scaler.scale + sets.scaler.mean)
    signal, w = val.labels == 1, val.weights
    best, best_cut = 0.0, None
    for cut in np.unique(scores):
        above = scores >= cut
        s, b = w[above & signal].sum(), w[above & ~signal].sum()
        if s >= 0.25 * w[signal].sum() and b >= 1e-3 and s > 0 and s / np.sqrt(s + b) > best:
            best, best_cut = s / np.sqrt(s + b), cut
    assert trial.value == pytest.approx(best, rel=1e-6)
    assert trial.user_attrs["cut"] == pytest.approx(best_cut, abs=1e-6)


@pytest.mark.parametrize("where", ["creating", "recording"])
def test_ctrl_c_outside_the_trial_function_marks_the_trial_interrupted(
    samples_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """Ctrl-C can land while Optuna creates the next trial or writes a finished one."""
    config, space, runner = setup(samples_dir, tmp_path, name="ctrl_c", search={"sampler": "tpe", "n_trials": 3})
    calls = []

    def interrupt_the_second(original):  # Ctrl-C arrives during the second trial's bookkeeping
        def wrapped(*args, **kwargs):
            calls.append(1)
            if len(calls) == 2:
                raise KeyboardInterrupt
            return original(*args, **kwargs)

        return wrapped

    if where == "creating":
        monkeypatch.setattr(
            optuna.samplers.TPESampler, "before_trial", interrupt_the_second(optuna.samplers.TPESampler.before_trial)
        )
    else:
        from optuna.study import _optimize

        monkeypatch.setattr(_optimize, "_tell_with_warning", interrupt_the_second(_optimize._tell_with_warning))
    with pytest.raises(KeyboardInterrupt):
        run_search(config, space, runner)
    trials = optuna.load_study(study_name="ctrl_c", storage=open_storage(storage_url(config))).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.FAIL]
    assert trials[1].user_attrs["fail_reason"] == "interrupted (Ctrl-C)"
    monkeypatch.undo()
    resumed = run_search(config, space, runner)
    assert resumed.trials_run == 2  # the interrupted trial is replaced, not counted
