"""``hepopt optimize``: data stage -> Optuna search -> best model, tables and plots."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hepopt.config.schema import HepoptConfig
from hepopt.errors import TrainingError

if TYPE_CHECKING:
    from hepopt.data.table import EventTable
    from hepopt.search.space import SearchSpace
    from hepopt.search.study import SearchOutcome, TrialCallback
    from hepopt.search.trial import TrialRunner
    from hepopt.training.classifier import Classifier

StageCallback = Callable[[str], None]


@dataclass(frozen=True)
class TrialSummary:
    """A trial's hyperparameters and its objective on the validation (searched) and test splits."""

    number: int
    params: dict[str, Any]
    validation: float
    test: float
    test_metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class OptimizeResult:
    output_dir: Path
    objective: str
    direction: str
    best: TrialSummary
    baseline: TrialSummary | None
    n_complete: int
    n_failed: int
    trials_run: int
    yields: dict[str, dict[str, float]]
    files: dict[str, Path]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def optimize(
    config: HepoptConfig | str | Path,
    *,
    progress: bool = True,
    n_trials: int | None = None,
    trial_callbacks: list[TrialCallback] | None = None,
    on_stage: StageCallback | None = None,
) -> OptimizeResult:
    """Run the whole optimisation of ``config`` and write its results to ``config.output_dir``.

    Rerunning with the same config resumes the study: only the missing trials run.

    Raises:
        HepoptError: bad config, unreadable data, or no trial that completed.
    """
    import torch

    from hepopt.data.stage import prepare_data
    from hepopt.objectives.registry import make_objective
    from hepopt.search.space import SearchSpace
    from hepopt.search.study import run_search
    from hepopt.search.trial import TrialRunner
    from hepopt.training.sets import TrainingSets

    if not isinstance(config, HepoptConfig):
        from hepopt.config.loader import load_config

        config = load_config(config)
    stage = on_stage or (lambda _name: None)
    # Fail on config mistakes before reading any data.
    space = SearchSpace.from_config(config.model, str(config.source))
    objective = make_objective(config.objective.name, config.objective.options)
    if config.training.threads:
        torch.set_num_threads(config.training.threads)

    stage("data")
    table = prepare_data(config, progress=progress)
    split = config.data.split
    sets = TrainingSets.from_table(table, (split.train, split.validation, split.test), config.seed, _device(config))

    stage("search")
    runner = TrialRunner(sets, objective, config.training.negative_weights, config.seed)
    outcome = run_search(config, space, runner, n_trials=n_trials, callbacks=trial_callbacks)

    stage("results")
    return _write_results(config, space, runner, outcome, table)


def _device(config: HepoptConfig) -> str:
    import torch

    if config.training.device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if config.training.device == "cuda" and not torch.cuda.is_available():
        msg = "training.device: 'cuda' asked for but torch sees no CUDA device; use 'cpu' or 'auto'"
        raise TrainingError(msg)
    return config.training.device


def _write_results(
    config: HepoptConfig, space: SearchSpace, runner: TrialRunner, outcome: SearchOutcome, table: EventTable
) -> OptimizeResult:
    import numpy as np
    from optuna.trial import TrialState

    from hepopt.results.artifacts import write_json, write_trials_csv
    from hepopt.results.plots import overtraining_plot
    from hepopt.search.study import completed, model_path, trial_params
    from hepopt.training.classifier import Classifier as ClassifierFile
    from hepopt.training.params import TrainParams
    from hepopt.training.trainer import predict_proba

    study = outcome.study
    out = config.output_dir
    done = completed(study)
    if not done:
        reasons = sorted({t.user_attrs.get("fail_reason", "unknown") for t in study.get_trials(deepcopy=False)})
        msg = f"no trial of study '{config.name}' completed; failures: {reasons}"
        raise TrainingError(msg)
    best_trial = study.best_trial

    def summarise(number: int, value: float, params: dict[str, Any], classifier: Classifier) -> TrialSummary:
        test = runner.score(classifier, runner.sets.test)
        return TrialSummary(number, params, value, test.value, dict(test.extras))

    best_params = trial_params(space, best_trial)
    path = model_path(config, best_trial)
    if path.is_file():
        best_classifier = ClassifierFile.load(path, device=str(runner.sets.train.x_tensor.device))
    else:  # model file removed by hand: retraining with the same seed gives the same model
        best_classifier = runner.run(TrainParams.from_mapping(best_params)).classifier
    best = summarise(best_trial.number, float(best_trial.value), best_params, best_classifier)
    baseline = _baseline(space, runner, summarise)

    files = {
        "study": out / "study.db",
        "trials_csv": out / "trials.csv",
        "best_params": out / "best_params.json",
        "best_model": out / "best_model.pt",
        "summary": out / "summary.json",
        "overtraining_plot": out / "plots" / "overtraining_best.png",
    }
    write_trials_csv(study, files["trials_csv"])
    write_json(files["best_params"], best.params)
    best_classifier.save(files["best_model"])

    sets = runner.sets
    train_scores = predict_proba(best_classifier.model, sets.train.x_tensor)
    test_scores = predict_proba(best_classifier.model, sets.test.x_tensor)
    ks = overtraining_plot(
        (train_scores, sets.train.labels, sets.train.weights),
        (test_scores, sets.test.labels, sets.test.weights),
        files["overtraining_plot"],
        title=f"{config.name}: best trial #{best.number}",
    )
    yields = {}
    nominal = table.nominal()
    for i, name in enumerate(table.dataset_names):
        mask = nominal.dataset == i
        yields[name] = {"events": int(mask.sum()), "yield": float(np.sum(nominal.weight[mask]))}
    states = [t.state for t in study.get_trials(deepcopy=False)]
    result = OptimizeResult(
        output_dir=out,
        objective=runner.objective.name,
        direction=runner.objective.direction,
        best=TrialSummary(best.number, best.params, best.validation, best.test, {**best.test_metrics, **ks}),
        baseline=baseline,
        n_complete=len(done),
        n_failed=states.count(TrialState.FAIL),
        trials_run=outcome.trials_run,
        yields=yields,
        files=files,
    )
    write_json(files["summary"], result.to_dict())
    return result


def _baseline(
    space: SearchSpace, runner: TrialRunner, summarise: Callable[[int, float, dict[str, Any], Classifier], TrialSummary]
) -> TrialSummary | None:
    """hepopt's default hyperparameters, trained and scored like a trial (number -1).

    Trained outside the study: defaults may lie outside the searched ranges (e.g. l2 = 0 with a
    log-uniform range), where Optuna cannot enqueue them.
    """
    from hepopt.training.params import TrainParams

    params = space.baseline()
    try:
        outcome = runner.run(TrainParams.from_mapping(params))
    except TrainingError:
        return None
    return summarise(-1, outcome.result.value, params, outcome.classifier)
