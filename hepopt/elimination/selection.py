"""Which input variables the search goes on with: the elimination's hyperparameters and its run.

Hyperparameters come from the space's fixed values and hepopt's defaults, then from a short
pre-optimisation search with all variables (``pre_optimize_trials``, its own ``preoptimize``
stage), then from ``eliminate.params``. The ``eliminate`` stage writes the selection and its report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hepopt.config.schema import HepoptConfig
from hepopt.errors import ConfigError

if TYPE_CHECKING:
    from pathlib import Path

    from hepopt.data.table import EventTable
    from hepopt.elimination.backward import EliminationResult, Iteration
    from hepopt.scoring.constraints import Constraint
    from hepopt.search.identity import StudyKey
    from hepopt.search.space import SearchSpace
    from hepopt.training.sets import TrainingSets


@dataclass(frozen=True)
class Selection:
    """The variables kept, the elimination that chose them (None: reused from an earlier run) and its files."""

    variables: tuple[str, ...]
    result: EliminationResult | None  # None: the stage was up to date, its selection reused
    files: dict[str, Path]


def _objective_config(config: HepoptConfig) -> Any:
    settings = config.eliminate
    assert settings is not None
    return settings.objective or config.objective_configs()[0]


def elimination_params(
    config: HepoptConfig, space: SearchSpace, preoptimized: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The hyperparameters the elimination trains with: the space's fixed values and hepopt's
    defaults, then the pre-optimisation's best (``preoptimized``), then ``eliminate.params``."""
    from hepopt.models.params import TrainParams

    settings = config.eliminate
    assert settings is not None
    values = space.baseline()
    values.update(preoptimized or {})
    values.update(settings.params)
    try:
        return TrainParams.from_mapping(values).to_dict()
    except (KeyError, ValueError) as err:
        msg = f"{config.source}: eliminate.params: {err}"
        raise ConfigError(msg) from None


def pre_optimize(
    config: HepoptConfig,
    space: SearchSpace,
    sets: TrainingSets,
    constraints: tuple[Constraint, ...],
    *,
    key: StudyKey | None = None,
    fresh: bool = False,
) -> tuple[dict[str, Any], Path, str | None]:
    """A short search with every variable (``eliminate.pre_optimize_trials``) in its own study and
    folder (``<output>/preoptimize``), resumable (``key``, ``fresh``: see
    :func:`hepopt.search.study.run_search`); its best hyperparameters, its folder, and a note when
    an earlier study of other inputs was set aside."""
    from hepopt.objectives.registry import make_objective
    from hepopt.scoring.trial import TrialRunner
    from hepopt.search.constraints import ranked_trials
    from hepopt.search.study import completed, run_search
    from hepopt.training.inference_aware_sets import spec_from_config

    settings = config.eliminate
    assert settings is not None
    pre = config.for_search_in("preoptimize", f"{config.name}-preoptimize")
    objective = _objective_config(config)
    first = make_objective(objective.name, objective.options)
    runner = TrialRunner(
        sets,
        (first,),
        config.training.negative_weights,
        config.seed,
        constraints=constraints,
        early_stopping=config.training.early_stopping,
        inference_aware=spec_from_config(config.training.inference_aware, (first,)),
    )
    outcome = run_search(pre, space, runner, n_trials=settings.pre_optimize_trials, key=key, fresh=fresh)
    best = ranked_trials(completed(outcome.study), first.direction, runner.constraints)[0]
    values = space.values(best.params)
    chosen = {k: values[k] for k in best.params if k in values}  # the searched ones
    if values["layer_units"]:  # per-layer widths (units_0, ...) gathered
        chosen |= {"layer_units": list(values["layer_units"]), "units": values["units"]}
    return chosen, pre.search_dir, outcome.earlier_note("preoptimize", pre)


def run_elimination(
    config: HepoptConfig,
    space: SearchSpace,
    table: EventTable,
    folds: list[TrainingSets],
    *,
    on_iteration: Callable[[Iteration], None] | None = None,
    preoptimized: dict[str, Any] | None = None,
) -> tuple[EliminationResult, dict[str, Any]]:
    """Select the variables: the elimination's result and the hyperparameters it trained with.

    ``folds``: the prepared data, one per fold (one when ``eliminate.folds`` is not set);
    ``on_iteration`` hears of each elimination step; ``preoptimized``: the pre-optimisation's best
    hyperparameters.
    """
    from hepopt.elimination.backward import EliminationData, backward_elimination, make_units
    from hepopt.models.params import TrainParams
    from hepopt.objectives.registry import make_objective
    from hepopt.search.task_pool import TaskPool
    from hepopt.training.adversary import spec_from_config
    from hepopt.training.inference_aware_sets import spec_from_config as aware_spec_from_config

    settings = config.eliminate
    assert settings is not None
    sets = folds[0]
    params = elimination_params(config, space, preoptimized)
    try:
        units = make_units(sets.feature_names, settings.groups)
    except KeyError as err:
        group, member = err.args[0]
        msg = f"{config.source}: eliminate.groups.{group}: unknown variable '{member}'; variables are {list(sets.feature_names)}"
        raise ConfigError(msg) from None
    objective_config = _objective_config(config)
    adversary = spec_from_config(config.adversary, table.systematic_names) if config.adversary else None
    objective = make_objective(objective_config.name, objective_config.options)
    aware = aware_spec_from_config(config.training.inference_aware, (objective,))
    data = EliminationData(tuple(folds), objective, config.training.negative_weights, adversary, aware)
    with TaskPool(config, data) as pool:
        result = backward_elimination(
            data, units, TrainParams.from_mapping(params), settings, pool, config.seed, on_iteration
        )
    return result, params
