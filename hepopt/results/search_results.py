"""The optimize stage's results from its study: the best trial (and the Pareto front) reloaded
and scored on the test split, the defaults and the compared families beside it, then the tables,
plots, best model and ``summary.json`` a person reads."""

from __future__ import annotations

import math
import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from hepopt.config.schema import HepoptConfig
from hepopt.errors import TrainingError
from hepopt.results.summary import OptimizeResult, TrialSummary

if TYPE_CHECKING:
    from pathlib import Path

    import optuna

    from hepopt.data.table import EventTable
    from hepopt.objectives.base import ObjectiveInputs
    from hepopt.scoring.trial import TrialRunner
    from hepopt.search.space import SearchSpace
    from hepopt.search.study import SearchOutcome
    from hepopt.search.validate_best import BestTrialsCV
    from hepopt.training.classifier import Classifier


def write_search_results(
    config: HepoptConfig,
    space: SearchSpace,
    runner: TrialRunner,
    outcome: SearchOutcome,
    table: EventTable,
    validated: BestTrialsCV | None = None,
    model_from: str = "",
) -> OptimizeResult:
    """Score the study's best trials on the test split and write what the optimize stage leaves
    (``model_from``: which events the kept model was trained on, and how it was chosen)."""
    from optuna.trial import TrialState

    from hepopt.results.artifacts import write_json, write_trials_csv
    from hepopt.results.plots import overtraining_plot, roc_plot, variation_plot
    from hepopt.results.study_plots import write_study_plots
    from hepopt.search.constraints import pareto_front, ranked_trials
    from hepopt.search.study import DEFAULTS, completed
    from hepopt.training.trainer import predict_proba

    study = outcome.study
    out = config.search_dir
    done = completed(study)
    if not done:
        reasons = sorted({t.user_attrs.get("fail_reason", "unknown") for t in study.get_trials(deepcopy=False)})
        msg = f"no trial of study '{config.name}' completed; failures: {reasons}"
        raise TrainingError(msg)
    multi = len(runner.objectives) > 1
    direction, constraints = runner.objectives[0].direction, runner.constraints
    front = (
        pareto_front(done, runner.directions, constraints) if multi else ranked_trials(done, direction, constraints)[:1]
    )
    best_trial = ranked_trials(front, direction, constraints)[0]
    # When no trial satisfies the constraints, the best one is reported with feasible = false.
    if validated is not None:  # chosen by the mean over folds among the best trials
        best_trial = next(t for t in done if t.number == validated.chosen)

    best, best_classifier = _summarise_trial(config, space, runner, best_trial)
    pareto = [best if t.number == best.number else _summarise_trial(config, space, runner, t)[0] for t in front]
    ran_defaults = [t for t in done if t.user_attrs.get(DEFAULTS)]
    baseline: TrialSummary | None
    baseline_classifier: Classifier | None
    if ran_defaults:  # the defaults competed as a trial: that trial is the baseline
        baseline, baseline_classifier = _summarise_trial(config, space, runner, ran_defaults[0])
    else:
        baseline, baseline_classifier = _baseline(space, runner)
    best_is_defaults = False
    if (
        not multi
        and validated is None
        and baseline is not None
        and baseline_classifier is not None
        and not ran_defaults
        and _better_than(baseline, best, direction)
    ):
        # Outside the searched ranges the defaults could not be a trial; they still compete.
        best, best_classifier, best_is_defaults = baseline, baseline_classifier, True
    compared = {family: _baseline(space, runner, family) for family in config.model.compare}
    # Uncertainties for the models a person reads about (the search itself ran on point values).
    replicas, seed = config.search.bootstrap, config.seed
    best = _with_errors(best, best_classifier, runner, replicas, seed)
    pareto = [best if p.number == best.number else p for p in pareto]
    if baseline is not None and baseline_classifier is not None:
        baseline = _with_errors(baseline, baseline_classifier, runner, replicas, seed)
    compared = {
        family: (_with_errors(summary, classifier, runner, replicas, seed), classifier)
        if summary is not None and classifier is not None
        else (summary, classifier)
        for family, (summary, classifier) in compared.items()
    }

    files = {
        "study": out / "study.db",
        "trials_csv": out / "trials.csv",
        "best_params": out / "best_params.json",
        "best_model": out / "best_model.pt",
        "summary": out / "summary.json",
        "overtraining_plot": out / "plots" / "overtraining_best.png",
    }
    for family, (_, classifier) in compared.items():
        if classifier is not None:
            key = "compare_" + re.sub(r"[^\w.-]", "_", family)
            files[key] = out / f"{key}.pt"
            classifier.save(files[key])
    write_trials_csv(study, files["trials_csv"], [o.name for o in runner.objectives])
    write_json(files["best_params"], best.params)
    best_classifier.save(files["best_model"])

    sets = runner.sets
    best_on_test = (predict_proba(best_classifier.model, sets.test.x_tensor), sets.test.labels, sets.test.weights)
    ks = overtraining_plot(
        (predict_proba(best_classifier.model, sets.train.x_tensor), sets.train.labels, sets.train.weights),
        best_on_test,
        files["overtraining_plot"],
        title=f"{config.name}: best trial #{best.number}",
    )
    best.test_metrics.update(ks)
    files.update(_write_workspaces(config, runner, best_classifier, out))
    if sets.varied["test"]:
        files["variations_plot"] = out / "plots" / "variations_best.png"
        variation_plot(best_classifier, sets, "test", files["variations_plot"], title=f"best trial #{best.number}")
    curves = {f"best (trial {best.number})": best_on_test}
    if baseline_classifier is not None:
        scores = predict_proba(baseline_classifier.model, sets.test.x_tensor)
        curves["baseline (defaults)"] = (scores, sets.test.labels, sets.test.weights)
    for family, (_, classifier) in compared.items():
        if classifier is not None:
            curves[f"{family} (defaults)"] = (predict_proba(classifier.model, sets.test.x_tensor), *best_on_test[1:])
    files["roc_plot"] = out / "plots" / "roc_test.png"
    roc_plot(curves, files["roc_plot"], title=f"{config.name}: test split")
    plots, importances = write_study_plots(
        study, done, front, [o.name for o in runner.objectives], runner.directions, out / "plots", config.name
    )
    files.update(plots)
    if multi:
        files["pareto_csv"] = out / "pareto.csv"
        _write_pareto(files["pareto_csv"], [o.name for o in runner.objectives], pareto)
    if validated is not None:
        files["cross_validation_csv"] = out / "cross_validation.csv"
        validated.write_csv(files["cross_validation_csv"])
    states = [t.state for t in study.get_trials(deepcopy=False)]
    result = OptimizeResult(
        output_dir=out,
        objectives=[o.name for o in runner.objectives],
        directions=runner.directions,
        best=best,
        baseline=baseline,
        pareto=pareto if multi else [],
        n_complete=len(done),
        n_failed=states.count(TrialState.FAIL),
        trials_run=outcome.trials_run,
        yields=_yields(table),
        files=files,
        importances=importances,
        family=config.model.family,
        best_is_defaults=best_is_defaults,
        model_from=model_from,
        cross_validation=validated.to_dict() if validated is not None else None,
        comparisons={family: summary for family, (summary, _) in compared.items() if summary is not None},
        binning=_binnings(runner, best.test_metrics),
        selection=selection_statement(config),
    )
    write_json(files["summary"], result.to_dict())
    return result


def _summarise_trial(
    config: HepoptConfig, space: SearchSpace, runner: TrialRunner, trial: optuna.trial.FrozenTrial
) -> tuple[TrialSummary, Classifier]:
    """Reload a finished trial's model and score it on the test split."""
    from hepopt.models.params import TrainParams
    from hepopt.search.constraints import is_feasible
    from hepopt.search.study import model_path, trial_params
    from hepopt.training.classifier import Classifier as ClassifierFile

    params = trial_params(space, trial)
    path = model_path(config, trial)
    if path.is_file():
        classifier = ClassifierFile.load(
            path, device=str(runner.sets.train.x_tensor.device), family=config.model.family
        )
    else:  # model file removed by hand: retraining with the same seed gives the same model
        classifier = runner.run(TrainParams.from_mapping(params)).classifier
    summary = _summary(trial.number, list(trial.values), params, classifier, runner)
    constraints = {c.label: trial.user_attrs.get(c.key, math.nan) for c in runner.constraints}
    return replace(summary, constraints=constraints, feasible=is_feasible(trial, runner.constraints)), classifier


def _summary(
    number: int, validation: list[float], params: dict[str, Any], classifier: Classifier, runner: TrialRunner
) -> TrialSummary:
    """Scored on the test split: the objectives, the constraints' objectives, the standard metrics."""
    from hepopt.scoring.evaluation import evaluate_classifier
    from hepopt.scoring.trial import objective_inputs

    inputs = objective_inputs(classifier, runner.sets, "test")  # one prediction for both uses
    test = [objective.evaluate(inputs).value for objective in runner.objectives]
    metrics = evaluate_classifier(
        classifier, runner.sets, "test", adversary=runner.adversary, seed=runner.seed, inputs=inputs
    )
    for constraint in runner.constraints:
        metrics[f"constraint: {constraint.label}"] = constraint.objective.evaluate(inputs).value
    return TrialSummary(number, params, validation, test, metrics)


def _with_errors(
    summary: TrialSummary, classifier: Classifier, runner: TrialRunner, replicas: int, seed: int
) -> TrialSummary:
    """``summary`` with the bootstrap uncertainty of each objective on validation and test and of
    each test metric (the probe adversary, which retrains, is not resampled). With several runs
    per trial (folds, seeds) the validation uncertainty is that of the first run's value."""
    if replicas < 2:
        return summary
    from hepopt.scoring.evaluation import evaluate_classifier
    from hepopt.scoring.trial import objective_inputs
    from hepopt.scoring.uncertainty import bootstrap_errors

    objectives = list(enumerate(runner.objectives))

    def objective_values(inputs: ObjectiveInputs) -> dict[str, float]:
        return {f"objective {i}": objective.evaluate(inputs).value for i, objective in objectives}

    def test_values(inputs: ObjectiveInputs) -> dict[str, float]:
        metrics = evaluate_classifier(classifier, runner.sets, "test", inputs=inputs)
        metrics |= {f"constraint: {c.label}": c.objective.evaluate(inputs).value for c in runner.constraints}
        return objective_values(inputs) | metrics

    validation = objective_inputs(classifier, runner.sets, "validation")
    validation_errors = bootstrap_errors(validation, objective_values, replicas, seed)
    test_errors = bootstrap_errors(objective_inputs(classifier, runner.sets, "test"), test_values, replicas, seed)
    return replace(
        summary,
        validation_error=[validation_errors.get(f"objective {i}", math.nan) for i, _ in objectives],
        test_error=[test_errors.get(f"objective {i}", math.nan) for i, _ in objectives],
        test_metrics_error={k: v for k, v in test_errors.items() if k in summary.test_metrics},
    )


def _baseline(
    space: SearchSpace, runner: TrialRunner, family: str | None = None
) -> tuple[TrialSummary | None, Classifier | None]:
    """hepopt's default hyperparameters (with the config's fixed ones), or another ``family``'s
    defaults, trained and scored like a trial (number -1).

    Trained outside the study: defaults may lie outside the searched ranges (e.g. l2 = 0 with a
    log-uniform range), where Optuna cannot enqueue them.
    """
    from hepopt.models.params import TrainParams

    params = space.baseline() if family is None else TrainParams.from_mapping({"family": family}).to_dict()
    try:
        outcome = runner.run(TrainParams.from_mapping(params))
    except TrainingError:
        return None, None
    summary = _summary(-1, list(outcome.values), params, outcome.classifier, runner)
    values = dict(zip(runner.constraints, outcome.constraint_values, strict=True))
    constraints = {c.label: v for c, v in values.items()}  # on validation, as a trial records them
    feasible = all(c.violation(v) <= 0 for c, v in values.items())
    return replace(summary, constraints=constraints, feasible=feasible), outcome.classifier


def _better_than(candidate: TrialSummary, best: TrialSummary, direction: str) -> bool:
    """Whether ``candidate`` beats ``best`` on validation: within the constraints first, then by
    the first objective."""
    if candidate.feasible != best.feasible:
        return candidate.feasible
    a, b = candidate.validation[0], best.validation[0]
    return a > b if direction == "maximize" else a < b


def _yields(table: EventTable) -> dict[str, dict[str, float]]:
    import numpy as np

    nominal = table.nominal()
    yields = {}
    for i, name in enumerate(table.dataset_names):
        mask = nominal.dataset == i
        yields[name] = {"events": int(mask.sum()), "yield": float(np.sum(nominal.weight[mask]))}
    return yields


def _write_pareto(path: Path, names: list[str], front: list[TrialSummary]) -> None:
    import csv

    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["number", *(f"{n} (validation)" for n in names), *(f"{n} (test)" for n in names)])
        for trial in front:
            writer.writerow([trial.number, *trial.validation, *trial.test])


def _write_workspaces(config: HepoptConfig, runner: TrialRunner, classifier: Classifier, out: Path) -> dict[str, Path]:
    """The pyhf workspace each fitting objective (``robust_significance``) fits for the best model
    on the test split: refitting it with pyhf gives the test value in the summary."""
    from hepopt.results.artifacts import write_json
    from hepopt.scoring.trial import objective_inputs

    makers = [getattr(o, "workspace", None) for o in runner.objectives]
    if not any(makers):
        return {}
    inputs = objective_inputs(classifier, runner.sets, "test")
    names = [o.name for o in runner.objectives]
    files = {}
    for i, (name, make) in enumerate(zip(names, makers, strict=True)):
        if make is not None:
            label = name if names.count(name) == 1 else f"{name}_{i}"
            files[f"workspace_{label}"] = out / f"workspace_{label}_test.json"
            write_json(files[f"workspace_{label}"], make(inputs, measurement=f"{config.name}_test"))
    return files


def _binnings(runner: TrialRunner, metrics: dict[str, float]) -> dict[str, str]:
    """How each binned objective and test metric binned the classifier output (they may differ:
    the objectives as configured, the standard metrics with 10 equal bins)."""
    from hepopt.objectives.binning import Binning
    from hepopt.scoring.evaluation import METRIC_BINS

    found = {}
    for objective in runner.objectives:
        binning = getattr(objective, "binning", None)
        if isinstance(binning, Binning):
            found[f"objective: {objective.name}"] = binning.describe()
            templates = getattr(objective, "templates", None)
            if templates is not None:  # how the profiled fit treated the systematic templates
                found[f"objective: {objective.name}"] += f"; templates: {templates.describe()}"
    standard = Binning.from_options(METRIC_BINS).describe()
    for name in ("asimov_significance", "robust_significance", "robust_significance_without_mc_stat"):
        if name in metrics:
            found[f"metric: {name}"] = standard
    return found


def selection_statement(config: HepoptConfig) -> dict[str, Any]:
    """What chose the reported model, on which events, and where its numbers are measured: a
    value maximised over choices is biased upward on the events that chose it, so the summary
    says which numbers are free of that bias (the test split's)."""
    split = config.data.split
    chosen = ["the trial (hyperparameters, adv_lambda among them when searched) by the search objective"]
    if config.training.early_stopping == "objective":
        chosen.append("the epoch (early stopping on the search objective)")
    else:
        chosen.append("the epoch (early stopping on the validation loss)")
    adversary = config.adversary
    if adversary is not None and adversary.keep == "best":
        by = adversary.keep_by.name if adversary.keep_by is not None else "the search objective"
        chosen.append(f"the adversarial epoch (adversary.keep: best, by {by})")
    if config.model.may_set("loss", "inference_aware"):
        chosen.append("the inference-aware epoch (loss: inference_aware, by the search objective)")
    if config.eliminate is not None:
        chosen.append("the input variables (the elimination step within tolerance)")
    return {
        "split": split.rule().describe(split.column),
        "chosen_on_validation": chosen,
        "unbiased": "best.test, best.test_metrics and their errors: measured on the test split, which chose nothing",
        "biased": "best.validation is the best over these choices on the events that made them: expect it above test",
    }
