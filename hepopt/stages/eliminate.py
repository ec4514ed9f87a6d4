"""The ``preoptimize`` and ``eliminate`` stages: a short search with every variable, then backward
elimination of the input variables, its selection and report written under ``<output>/eliminate``."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hepopt.config.schema import HepoptConfig
from hepopt.objectives import base as objective_base
from hepopt.stages.base import Stage, StageContext, model_inputs

if TYPE_CHECKING:
    from hepopt.data.table import EventTable
    from hepopt.elimination.backward import Iteration
    from hepopt.elimination.selection import Selection
    from hepopt.stages.plan import Plan

SELECTION_FILE = "selection.json"


class Preoptimize(Stage):
    """A short search with every variable, to train the elimination with good settings."""

    name = "preoptimize"

    def enabled(self, config: HepoptConfig) -> bool:
        return config.eliminate is not None and config.eliminate.pre_optimize_trials > 0

    def inputs(self, config: HepoptConfig) -> Any:
        trials = config.eliminate.pre_optimize_trials if config.eliminate else 0
        inputs = model_inputs(config)
        inputs["search"].pop("n_trials")  # the search's, not this one's (``trials``)
        return inputs | {"trials": trials}

    def run(self, context: StageContext) -> dict[str, Any]:
        from hepopt.elimination.selection import pre_optimize

        plan = context.plan
        params, folder, note = pre_optimize(
            plan.config,
            plan.space,
            plan.training_sets(context.table()),
            plan.constraints,
            key=context.study_key(self.name),
            fresh=context.force,
        )
        if note:
            context.note(note)
        return {"params": params, "folder": str(folder)}


class Eliminate(Stage):
    """Backward elimination of the input variables."""

    name = "eliminate"

    def enabled(self, config: HepoptConfig) -> bool:
        return config.eliminate is not None

    def inputs(self, config: HepoptConfig) -> Any:
        # The prepare key before it covers the events; the objective is eliminate's or the
        # search's; the search's own settings (trials, sampler) do not matter here.
        include = {"seed", "model", "training", "adversary", "objective", "objectives", "eliminate"}
        split = config.data.split.model_dump(mode="json")
        return config.model_dump(mode="json", include=include) | {
            "split": split,
            "hepopt_definitions": objective_base.DEFINITIONS,
        }

    def run(self, context: StageContext) -> dict[str, Any]:
        preoptimized = context.artifacts.get("preoptimize", {}).get("params")
        selection = select_variables(context.plan, context.table(), context.options.get("on_iteration"), preoptimized)
        context.memory["selection"] = selection
        return {
            "variables": list(selection.variables),
            "selection": str(selection.files["selection"]),
            "reused": selection.result is None,
        }


def select_variables(
    plan: Plan,
    table: EventTable,
    on_iteration: Callable[[Iteration], None] | None = None,
    preoptimized: dict[str, Any] | None = None,
) -> Selection:
    """Backward elimination on the folds of ``table``; the selection and its report written."""
    from hepopt.elimination.selection import Selection, run_elimination
    from hepopt.results.elimination_report import write_report

    config = plan.config
    settings = config.eliminate
    assert settings is not None
    folds = [None] if settings.folds is None else [(settings.folds, i, settings.by) for i in range(settings.folds)]
    sets = [plan.training_sets(table, fold) for fold in folds]
    result, params = run_elimination(
        config, plan.space, table, sets, on_iteration=on_iteration, preoptimized=preoptimized
    )
    out = config.output_dir / "eliminate"
    files = write_report(result, out, title=config.name)
    chosen = result.iterations[result.selected_iteration]
    selection = {
        "variables": list(result.selected),
        "params": params,
        "metric": result.selected_metric,  # on validation, where the step was chosen
        "test_metric": chosen.test_metric,  # on test: free of that choice
    }
    files["selection"] = out / SELECTION_FILE
    files["selection"].write_text(json.dumps(selection, indent=2) + "\n")
    return Selection(result.selected, result, files)
