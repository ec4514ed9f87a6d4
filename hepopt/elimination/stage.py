"""The ``eliminate`` stage: which input variables the search goes on with.

Hyperparameters come from the space's fixed values and hepopt's defaults, then from a short
pre-optimisation search with all variables (``pre_optimize_trials``), then from
``eliminate.params``. The selection is written to ``eliminate/selection.json`` with a key of
everything it depends on: a rerun with the same data, variables and settings reuses it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hepopt.config.schema import HepoptConfig
from hepopt.errors import ConfigError

if TYPE_CHECKING:
    from hepopt.data.table import EventTable
    from hepopt.elimination.backward import EliminationResult, Iteration
    from hepopt.training.sets import TrainingSets

SELECTION_FILE = "selection.json"


@dataclass(frozen=True)
class Selection:
    variables: tuple[str, ...]
    result: EliminationResult | None  # None: reused from an earlier run
    files: dict[str, Path]


def selection_key(config: HepoptConfig, feature_names: tuple[str, ...], params: dict[str, Any]) -> str:
    """A hash of everything the selection depends on."""
    parts = config.model_dump(
        mode="json",
        include={"datasets", "variations", "features", "selection", "data", "seed", "eliminate", "training"},
    )
    parts["objective"] = _objective_config(config).model_dump(mode="json")
    parts["feature_names"], parts["params"] = list(feature_names), params
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def _objective_config(config: HepoptConfig) -> Any:
    settings = config.eliminate
    assert settings is not None
    return settings.objective or config.objective_configs()[0]


def elimination_params(
    config: HepoptConfig, sets: TrainingSets, on_stage: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """The hyperparameters the elimination trains with (pre-optimising first if asked)."""
    from hepopt.search.space import SearchSpace
    from hepopt.training.params import TrainParams

    settings = config.eliminate
    assert settings is not None
    space = SearchSpace.from_config(config.model, str(config.source))
    values = space.baseline()
    if settings.pre_optimize_trials:
        if on_stage:
            on_stage("preoptimize")
        values.update(_pre_optimize(config, space, sets))
    values.update(settings.params)
    try:
        return TrainParams.from_mapping(values).to_dict()
    except (KeyError, ValueError) as err:
        msg = f"{config.source}: eliminate.params: {err}"
        raise ConfigError(msg) from None


def _pre_optimize(config: HepoptConfig, space: Any, sets: TrainingSets) -> dict[str, Any]:
    """A short search with every variable, its own study and folder (``preoptimize``), resumable."""
    from hepopt.objectives.registry import make_objective
    from hepopt.search.study import run_search
    from hepopt.search.trial import TrialRunner

    settings = config.eliminate
    assert settings is not None
    pre = config.model_copy(update={"name": f"{config.name}-preoptimize", "output": f"{config.output}/preoptimize"})
    pre.set_source(config.source)
    objective = _objective_config(config)
    runner = TrialRunner(
        sets, (make_objective(objective.name, objective.options),), config.training.negative_weights, config.seed
    )
    outcome = run_search(pre, space, runner, n_trials=settings.pre_optimize_trials)
    return dict(outcome.study.best_trial.params)


def run_elimination(
    config: HepoptConfig,
    table: EventTable,
    folds: list[TrainingSets],
    *,
    on_stage: Callable[[str], None] | None = None,
    on_iteration: Callable[[Iteration], None] | None = None,
) -> Selection:
    """Select the variables (or reuse the selection of an identical earlier run); ``on_stage``
    hears of the pre-optimisation, ``on_iteration`` of each elimination step.

    ``folds``: the prepared data, one per fold (one when ``eliminate.folds`` is not set).
    """
    from hepopt.elimination.backward import EliminationData, backward_elimination, make_units
    from hepopt.elimination.report import write_report
    from hepopt.objectives.registry import make_objective
    from hepopt.parallel import TaskPool
    from hepopt.training.adversary import spec_from_config
    from hepopt.training.params import TrainParams

    settings = config.eliminate
    assert settings is not None
    out = config.output_dir / "eliminate"
    sets = folds[0]
    params = elimination_params(config, sets, on_stage)
    key = selection_key(config, sets.feature_names, params)
    previous = _read_selection(out / SELECTION_FILE)
    if previous is not None and previous.get("key") == key:
        return Selection(tuple(previous["variables"]), None, {"selection": out / SELECTION_FILE})
    try:
        units = make_units(sets.feature_names, settings.groups)
    except KeyError as err:
        group, member = err.args[0]
        msg = f"{config.source}: eliminate.groups.{group}: unknown variable '{member}'; variables are {list(sets.feature_names)}"
        raise ConfigError(msg) from None
    objective_config = _objective_config(config)
    adversary = spec_from_config(config.adversary, table.systematic_names) if config.adversary else None
    data = EliminationData(
        tuple(folds),
        make_objective(objective_config.name, objective_config.options),
        config.training.negative_weights,
        adversary,
    )
    result = backward_elimination(
        data, units, TrainParams(**params), settings, TaskPool(config, data), config.seed, on_iteration
    )
    files = write_report(result, out, title=config.name)
    selection = {"key": key, "variables": list(result.selected), "params": params, "metric": result.selected_metric}
    files["selection"] = out / SELECTION_FILE
    files["selection"].write_text(json.dumps(selection, indent=2) + "\n")
    return Selection(result.selected, result, files)


def _read_selection(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
