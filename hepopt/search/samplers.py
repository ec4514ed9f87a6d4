"""Optuna samplers by the names the config uses."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from hepopt.errors import ConfigError

if TYPE_CHECKING:
    import optuna

    from hepopt.config.schema import PruningConfig, SearchConfig

SAMPLERS = ("tpe", "random", "cmaes", "gp", "grid", "qmc", "nsga2")
PRUNERS = ("none", "median", "hyperband", "successive_halving", "asha")


def make_sampler(
    search: SearchConfig, seed: int, grid: dict[str, list[Any]] | None = None
) -> optuna.samplers.BaseSampler:
    """A seeded sampler. ``seed`` should change when a study resumes (see ``run_search``);
    ``grid`` is the value list per parameter that the grid sampler walks through."""
    import optuna

    name = search.sampler
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "cmaes":
        # CMA-ES handles only numeric parameters; categorical ones fall back to random sampling.
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed, warn_independent_sampling=False)
    if name == "grid":
        return optuna.samplers.GridSampler(grid or {}, seed=seed)
    if name == "nsga2":
        # The genetic search physicists use, for single- and multi-objective studies.
        return optuna.samplers.NSGAIISampler(
            seed=seed,
            population_size=search.population_size,
            mutation_prob=search.mutation_prob,
            crossover_prob=search.crossover_prob,
        )
    if name == "qmc":
        with warnings.catch_warnings():  # chosen on purpose in the config: no "experimental" noise
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.QMCSampler(seed=seed, warn_independent_sampling=False)
    msg = f"search.sampler: unknown sampler '{name}'; available: {list(SAMPLERS)}"
    raise ConfigError(msg)


def make_pruner(name: str, max_epochs: int, settings: PruningConfig | None = None) -> optuna.pruners.BasePruner:
    """Pruners act on the objective reported after every epoch of a trial; ``settings``
    (``search.pruning``) give the grace period, the reduction factor and the full budget."""
    import optuna

    from hepopt.config.schema import PruningConfig as Defaults

    settings = settings or Defaults()
    if name == "none":
        return optuna.pruners.NopPruner()
    if name == "median":
        # Trials report after epoch e as step e; the earliest prune is at step n_warmup_steps.
        return optuna.pruners.MedianPruner(n_startup_trials=settings.startup_trials, n_warmup_steps=settings.min_epochs)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=settings.min_epochs,
            max_resource=settings.max_epochs or max_epochs,
            reduction_factor=settings.reduction_factor,
        )
    if name in ("successive_halving", "asha"):  # Optuna's is asynchronous: ASHA
        return optuna.pruners.SuccessiveHalvingPruner(
            min_resource=settings.min_epochs, reduction_factor=settings.reduction_factor
        )
    msg = f"search.pruner: unknown pruner '{name}'; available: {list(PRUNERS)}"
    raise ConfigError(msg)
