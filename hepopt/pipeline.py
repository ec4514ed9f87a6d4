"""``hepopt optimize``: data stage -> Optuna search -> best model, tables and plots."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hepopt.caller_state import caller_state_kept
from hepopt.config.schema import HepoptConfig
from hepopt.errors import ConfigError, HepoptError, TrainingError

if TYPE_CHECKING:
    import optuna

    from hepopt.data.table import EventTable
    from hepopt.elimination.backward import Iteration
    from hepopt.elimination.stage import Selection
    from hepopt.search.space import SearchSpace
    from hepopt.search.study import SearchOutcome, TrialCallback
    from hepopt.search.trial import TrialRunner
    from hepopt.search.validate_best import BestTrialsCV
    from hepopt.stages.base import StageContext
    from hepopt.training.classifier import Classifier

StageCallback = Callable[[str], None]


@dataclass(frozen=True)
class TrialSummary:
    """A trial's hyperparameters, its objective values on the validation (searched) and test
    splits (one per objective), and the test metrics of :func:`hepopt.evaluation.evaluate_classifier`."""

    number: int
    params: dict[str, Any]
    validation: list[float]
    test: list[float]
    test_metrics: dict[str, float] = field(default_factory=dict)
    constraints: dict[str, float] = field(default_factory=dict)  # label -> value on validation
    feasible: bool = True  # satisfies every constraint on validation


@dataclass(frozen=True)
class OptimizeResult:
    output_dir: Path
    objectives: list[str]
    directions: list[str]
    best: TrialSummary
    baseline: TrialSummary | None
    pareto: list[TrialSummary]
    n_complete: int
    n_failed: int
    trials_run: int
    yields: dict[str, dict[str, float]]
    files: dict[str, Path]
    finetune: dict[str, Any] | None = None  # PBT's best vs. the best search trial
    importances: dict[str, float] = field(default_factory=dict)  # hyperparameter -> share (PED-ANOVA)
    comparisons: dict[str, TrialSummary] = field(default_factory=dict)  # model.compare family -> its defaults
    family: str = "mlp"  # the config's model.family (what loading best_model.pt may import)
    # hepopt's defaults (trained beside the study: outside its ranges) beat every trial on validation
    best_is_defaults: bool = False
    model_from: str = ""  # which events best_model.pt was trained on, and how it was chosen
    cross_validation: dict[str, Any] | None = None  # mode best_trials: each best trial's folds

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def model(self) -> Classifier:
        """The best classifier (loaded from ``best_model.pt``)."""
        from hepopt.training.classifier import Classifier as ClassifierFile

        return ClassifierFile.load(self.files["best_model"], family=self.family)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OptimizeResult:
        """Back from ``summary.json`` (what :meth:`to_dict` wrote). The model family is not taken
        from the file (a module path there would be imported by :attr:`model`): set it with
        ``dataclasses.replace(result, family=...)`` from the config."""
        data = dict(data)
        data.pop("family", None)
        data["best"] = TrialSummary(**data["best"])
        data["baseline"] = TrialSummary(**data["baseline"]) if data.get("baseline") else None
        data["pareto"] = [TrialSummary(**p) for p in data.get("pareto", [])]
        data["comparisons"] = {k: TrialSummary(**v) for k, v in data.get("comparisons", {}).items()}
        data["output_dir"] = Path(data["output_dir"])
        data["files"] = {k: Path(v) for k, v in data["files"].items()}
        return cls(**data)


@caller_state_kept()
def optimize(
    config: HepoptConfig | str | Path | dict[str, Any],
    coffea_config: HepoptConfig | str | Path | None = None,
    *,
    progress: bool = True,
    n_trials: int | None = None,
    trial_callbacks: list[TrialCallback] | None = None,
    on_stage: StageCallback | None = None,
    on_iteration: Callable[[Iteration], None] | None = None,
    force: bool = False,
) -> OptimizeResult | None:
    """Run the stages of ``config`` (prepare -> [preoptimize -> eliminate] -> optimize ->
    [finetune] -> export by default) and write their results under ``config.output_dir``.

    Inside a coffea workflow, ``optimize(out, config)`` takes the output of
    :func:`hepopt.workflow.feature_processor` run by the analysis' own Runner instead of reading
    the files again (the prepare stage's key then includes the fingerprint of those events).

    A stage whose inputs did not change since it last finished is skipped (``force`` reruns it,
    reading the files again and starting the searches anew); the search resumes its study, so only
    missing trials run, unless the study was made with other search inputs (it is then kept under
    another name and a new one starts). Returns the optimize stage's result (None when the stage
    list has no optimize stage). What the run changes in this process (torch threads, environment,
    a local Ray it started, matplotlib settings) is restored when it returns.

    Raises:
        HepoptError: bad config, unreadable data, or no trial that completed.
    """
    from hepopt.stages import StageContext, run_stages, stage_list

    output = None
    if coffea_config is not None:
        output, config = config, coffea_config
    config = _checked(config)  # type: ignore[arg-type]
    if n_trials is not None:  # part of the optimize stage's inputs, as if written in the config
        config = config.model_copy(update={"search": config.search.model_copy(update={"n_trials": n_trials})})
    options = {"trial_callbacks": trial_callbacks, "on_iteration": on_iteration}
    context = StageContext(config, progress=progress, on_stage=on_stage or (lambda _name: None), options=options)
    if output is not None:
        from hepopt.workflow import table_from_output

        table = table_from_output(config, output)  # type: ignore[arg-type]
        context.memory["table"] = table
        options["inputs"] = {"prepare": table.fingerprint()}
    run_stages(context, stage_list(config), force=force)
    if "result" in context.memory:
        return context.memory["result"]
    if "optimize" in context.artifacts:  # skipped: what it wrote last time
        summary = json.loads(Path(context.artifacts["optimize"]["summary"]).read_text())
        return replace(OptimizeResult.from_dict(summary), family=config.model.family)
    return None


def _checked(config: HepoptConfig | str | Path) -> HepoptConfig:
    """The config, with the mistakes that need no data found before any data is read."""
    from hepopt.objectives.registry import make_objective
    from hepopt.search.space import SearchSpace
    from hepopt.training.params import TrainParams

    if not isinstance(config, HepoptConfig):
        from hepopt.config.loader import load_config

        config = load_config(config)
    space = SearchSpace.from_config(config.model, str(config.source))
    _check_family_training(config, space)
    for i, family in enumerate(config.model.compare):
        try:
            TrainParams.from_mapping({"family": family})
        except HepoptError as err:
            msg = f"{config.source}: model.compare.{i}: {err}"
            raise ConfigError(msg) from err
    if config.search.sampler == "grid":
        space.grid(str(config.source))
    for i, point in enumerate(config.search.enqueue):
        space.check_point(point, f"{config.source}: search.enqueue.{i}")
    from hepopt.search.constraints import constraints_from_config

    scored = [(key, make_objective(o.name, o.options, key=key)) for key, o in config.objective_keys()]
    scored += [(f"constraints.{i}", c.objective) for i, c in enumerate(constraints_from_config(config))]
    for key, objective in scored:
        if "variations" in objective.needs and not config.variations:
            msg = f"{config.source}: {key}: '{objective.name}' needs systematic variations, but the config has no 'variations'"
            raise ConfigError(msg)
    from hepopt.stages import stage_list

    stage_list(config)  # unknown stage names
    return config


def _check_family_training(config: HepoptConfig, space: Any) -> None:
    """A family that is fit, not trained by gradient descent (the boosted trees), has no
    population-based fine-tuning (nor adversarial training: ``adv_lambda`` is not in its space)."""
    from hepopt.models import model_family
    from hepopt.stages import stage_list

    if model_family(config.model.family).gradient_trained:
        return
    if any(stage.name == "finetune" for stage in stage_list(config)):
        msg = (
            f"{config.source}: model.family: '{config.model.family}' is fit, not trained by gradient descent: "
            "fine-tuning needs a torch-trained family such as mlp"
        )
        raise ConfigError(msg)


def search_objects(config: HepoptConfig, table: EventTable, variables: list[str] | None) -> tuple[SearchSpace, Any]:
    """The search space and the trial runner on ``variables``: one training per trial, or the mean
    over cross-validation folds (``mode: per_trial``) and/or ``executions_per_trial`` seeds."""
    from hepopt.search.space import SearchSpace

    space = SearchSpace.from_config(config.model, str(config.source))
    cv = config.search.cross_validation
    per_trial = cv is not None and cv.mode == "per_trial"
    folds = [(cv.folds, i, cv.by) for i in range(cv.folds)] if per_trial else [None]  # type: ignore[union-attr]
    runners = _runners(config, table, variables, folds, config.search.executions_per_trial)
    if len(runners) == 1:
        return space, runners[0]
    from hepopt.search.cross_validation import AveragedRunner

    return space, AveragedRunner(tuple(runners))


def fold_runners(config: HepoptConfig, table: EventTable, variables: list[str] | None) -> list[TrialRunner]:
    """One runner per cross-validation fold (``mode: best_trials``: the best trials' folds)."""
    cv = config.search.cross_validation
    assert cv is not None
    return _runners(config, table, variables, [(cv.folds, i, cv.by) for i in range(cv.folds)], 1)


def _runners(
    config: HepoptConfig,
    table: EventTable,
    variables: list[str] | None,
    folds: list[tuple[int, int, str] | None],
    executions: int,
) -> list[TrialRunner]:
    from hepopt.objectives.registry import make_objective
    from hepopt.search.constraints import constraints_from_config
    from hepopt.search.trial import TrialRunner
    from hepopt.training.adversary import spec_from_config
    from hepopt.training.sets import TrainingSets

    objectives = tuple(make_objective(o.name, o.options) for o in config.objective_configs())
    constraints = constraints_from_config(config)
    adversary = spec_from_config(config.adversary, table.systematic_names) if config.adversary else None
    split = config.data.split
    fractions = (split.train, split.validation, split.test)
    runners = []
    for fold in folds:
        sets = TrainingSets.from_table(table, fractions, config.seed, _device(config), fold=fold)
        if variables is not None:  # the variables the elimination kept
            sets = sets.select(variables)
        for k in range(executions):  # the same data, another seed
            negative, stopping = config.training.negative_weights, config.training.early_stopping
            runners.append(TrialRunner(sets, objectives, negative, config.seed + k, adversary, constraints, stopping))
    return runners


def run_optimization(
    config: HepoptConfig,
    table: EventTable,
    variables: list[str] | None,
    trial_callbacks: list[TrialCallback] | None = None,
    context: StageContext | None = None,
) -> OptimizeResult:
    """The optimize stage: the search on ``variables`` (all when None), then its results."""
    import torch

    from hepopt.cpus import training_threads
    from hepopt.search.study import run_search

    # One thread per training unless told otherwise: trials use the cores side by side instead.
    torch.set_num_threads(training_threads(config.training.threads))
    space, runner = search_objects(config, table, variables)
    key, fresh = None, False
    if context is not None:
        context.memory["search"] = (space, runner)
        key, fresh = context.study_key("optimize"), context.force
    outcome = run_search(config, space, runner, callbacks=trial_callbacks, key=key, fresh=fresh)
    note = outcome.earlier_note("optimize", config)
    if note and context is not None:
        context.note(note)
    validated = None
    cv = config.search.cross_validation
    if cv is not None and cv.mode == "best_trials":
        from hepopt.search.constraints import constraints_from_config
        from hepopt.search.validate_best import cross_validate_best

        direction = runner.objectives[0].direction
        runners = fold_runners(config, table, variables)
        validated = cross_validate_best(
            config, outcome.study, space, runners, direction, constraints_from_config(config)
        )
    return _write_results(config, space, runner, outcome, table, validated)


def model_origin(config: HepoptConfig, validated: BestTrialsCV | None) -> str:
    """Which events the kept model was trained on, as the summary and the exports say it."""
    cv = config.search.cross_validation
    if cv is None:
        return "trained on the training split of the search (validation split: early stopping and choice)"
    if validated is None:
        return (
            f"trained on fold 0 of {cv.folds} (cross-validation by {cv.by} outside the test split); "
            f"the trial's objective is the mean over the {cv.folds} folds"
        )
    return (
        f"trained on the training split of the search; chosen among the {len(validated.rows)} best trials "
        f"by the mean of the objective over {cv.folds} folds (cross-validation by {cv.by} outside the test split)"
    )


@caller_state_kept()
def eliminate(
    config: HepoptConfig | str | Path,
    *,
    progress: bool = True,
    on_stage: StageCallback | None = None,
    on_iteration: Callable[[Iteration], None] | None = None,
    force: bool = False,
) -> Selection:
    """``hepopt eliminate``: the prepare, [preoptimize] and eliminate stages (with the
    ``eliminate`` section's defaults when the config has none). Like :func:`optimize`, it gives
    back what it changed in this process."""
    from hepopt.config.schema import EliminateConfig
    from hepopt.elimination.stage import Selection
    from hepopt.stages import StageContext, run_stages
    from hepopt.stages.builtin import Eliminate, Preoptimize, Prepare

    config = _checked(config)
    if config.eliminate is None:
        config = config.model_copy(update={"eliminate": EliminateConfig()})
    context = StageContext(
        config, progress=progress, on_stage=on_stage or (lambda _name: None), options={"on_iteration": on_iteration}
    )
    stages = [s for s in (Prepare(), Preoptimize(), Eliminate()) if s.enabled(config)]
    run_stages(context, stages, force=force)
    if "selection" in context.memory:
        return context.memory["selection"]
    artifacts = context.artifacts["eliminate"]
    return Selection(tuple(artifacts["variables"]), None, {"selection": Path(artifacts["selection"])})


def select_variables(
    config: HepoptConfig,
    table: EventTable,
    on_stage: StageCallback,
    on_iteration: Callable[[Iteration], None] | None = None,
    preoptimized: dict[str, Any] | None = None,
) -> Selection:
    """The eliminate stage: backward elimination on the folds of ``table``."""
    from hepopt.elimination.stage import run_elimination
    from hepopt.training.sets import TrainingSets

    settings = config.eliminate
    assert settings is not None
    split = config.data.split
    fractions = (split.train, split.validation, split.test)
    folds = [None] if settings.folds is None else [(settings.folds, i, settings.by) for i in range(settings.folds)]
    sets = [TrainingSets.from_table(table, fractions, config.seed, _device(config), fold=fold) for fold in folds]
    return run_elimination(config, table, sets, on_stage=on_stage, on_iteration=on_iteration, preoptimized=preoptimized)


def _device(config: HepoptConfig) -> str:
    import torch

    if config.training.device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if config.training.device == "cuda" and not torch.cuda.is_available():
        msg = "training.device: 'cuda' asked for but torch sees no CUDA device; use 'cpu' or 'auto'"
        raise TrainingError(msg)
    return config.training.device


def _write_results(
    config: HepoptConfig,
    space: SearchSpace,
    runner: TrialRunner,
    outcome: SearchOutcome,
    table: EventTable,
    validated: BestTrialsCV | None = None,
) -> OptimizeResult:
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
    if ran_defaults:  # the defaults competed as a trial: that trial is the baseline
        baseline, baseline_classifier = _summarise_trial(config, space, runner, ran_defaults[0])
    else:
        baseline, baseline_classifier = _baseline(space, runner)
    best_is_defaults = False
    if (
        not multi
        and validated is None
        and baseline is not None
        and not ran_defaults
        and _better_than(baseline, best, direction)
    ):
        # Outside the searched ranges the defaults could not be a trial; they still compete.
        best, best_classifier, best_is_defaults = baseline, baseline_classifier, True
    compared = {family: _baseline(space, runner, family) for family in config.model.compare}

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
        model_from=model_origin(config, validated),
        cross_validation=validated.to_dict() if validated is not None else None,
        comparisons={family: summary for family, (summary, _) in compared.items() if summary is not None},
    )
    write_json(files["summary"], result.to_dict())
    return result


def _summarise_trial(
    config: HepoptConfig, space: SearchSpace, runner: TrialRunner, trial: optuna.trial.FrozenTrial
) -> tuple[TrialSummary, Classifier]:
    """Reload a finished trial's model and score it on the test split."""
    from hepopt.search.constraints import is_feasible
    from hepopt.search.study import model_path, trial_params
    from hepopt.training.classifier import Classifier as ClassifierFile
    from hepopt.training.params import TrainParams

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
    from hepopt.evaluation import evaluate_classifier
    from hepopt.search.trial import objective_inputs

    inputs = objective_inputs(classifier, runner.sets, "test")  # one prediction for both uses
    test = [objective.evaluate(inputs).value for objective in runner.objectives]
    metrics = evaluate_classifier(
        classifier, runner.sets, "test", adversary=runner.adversary, seed=runner.seed, inputs=inputs
    )
    for constraint in runner.constraints:
        metrics[f"constraint: {constraint.label}"] = constraint.objective.evaluate(inputs).value
    return TrialSummary(number, params, validation, test, metrics)


def _baseline(
    space: SearchSpace, runner: TrialRunner, family: str | None = None
) -> tuple[TrialSummary | None, Classifier | None]:
    """hepopt's default hyperparameters (with the config's fixed ones), or another ``family``'s
    defaults, trained and scored like a trial (number -1).

    Trained outside the study: defaults may lie outside the searched ranges (e.g. l2 = 0 with a
    log-uniform range), where Optuna cannot enqueue them.
    """
    from hepopt.training.params import TrainParams

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
