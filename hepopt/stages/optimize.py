"""The ``optimize`` stage: the hyperparameter search on the selected variables, then (with
``cross_validation: {mode: best_trials}``) the best trials on every fold, then the results."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hepopt.config.schema import HepoptConfig
from hepopt.stages.base import Stage, StageContext, model_inputs

if TYPE_CHECKING:
    from hepopt.data.table import EventTable
    from hepopt.results.summary import OptimizeResult
    from hepopt.search.execution import TrialCallback
    from hepopt.search.validate_best import BestTrialsCV


class Optimize(Stage):
    """The hyperparameter search on the selected variables, its tables, plots and best model."""

    name = "optimize"

    def inputs(self, config: HepoptConfig) -> Any:
        # The plots' style too: a new label redraws them (the study resumes, nothing retrains).
        return model_inputs(config) | {"plots": config.plots.model_dump(mode="json"), "luminosity": config.luminosity}

    def run(self, context: StageContext) -> dict[str, Any]:
        variables = context.artifacts.get("eliminate", {}).get("variables")
        result = run_optimization(context, context.table(), variables, context.options.get("trial_callbacks"))
        context.memory["result"] = result
        return {
            "summary": str(result.files["summary"]),
            "best_model": str(result.files["best_model"]),
            "best_trial": result.best.number,
            "validation": result.best.validation,
            "test": result.best.test,
            "variables": variables,
            "trials_complete": result.n_complete,
        }


def run_optimization(
    context: StageContext,
    table: EventTable,
    variables: list[str] | None,
    trial_callbacks: list[TrialCallback] | None = None,
) -> OptimizeResult:
    """The search on ``variables`` (all when None), then its results."""
    import torch

    from hepopt.results.search_results import write_search_results
    from hepopt.search.study import run_search

    plan = context.plan
    config = plan.config
    # One thread per training unless told otherwise: trials use the cores side by side instead.
    torch.set_num_threads(plan.threads)
    space, runner = plan.space, plan.search_runner(table, variables)
    context.memory["search"] = (space, runner)
    key = context.study_key("optimize")
    outcome = run_search(config, space, runner, callbacks=trial_callbacks, key=key, fresh=context.force)
    note = outcome.earlier_note("optimize", config)
    if note:
        context.note(note)
    validated = None
    cv = config.search.cross_validation
    if cv is not None and cv.mode == "best_trials":
        from hepopt.search.validate_best import cross_validate_best

        direction = runner.objectives[0].direction
        runners = plan.runners(table, variables, plan.folds())
        validated = cross_validate_best(config, outcome.study, space, runners, direction, plan.constraints)
    model_from = model_origin(config, validated)
    return write_search_results(config, space, runner, outcome, table, validated, model_from)


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
