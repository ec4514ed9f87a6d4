"""Optuna samplers by the names the config uses."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from hepopt.errors import ConfigError

if TYPE_CHECKING:
    import optuna

    from hepopt.config.schema import SearchConfig

SAMPLERS = ("tpe", "random", "cmaes", "gp", "grid", "qmc", "nsga2")
PRUNERS = ("none", "median", "hyperband", "successive_halving")


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


def make_pruner(name: str, max_epochs: int) -> optuna.pruners.BasePruner:
    """Pruners act on the objective reported after every epoch of a trial."""
    import optuna

    if name == "none":
        return optuna.pruners.NopPruner()
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max_epochs)
    if name == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1)
    msg = f"search.pruner: unknown pruner '{name}'; available: {list(PRUNERS)}"
    raise ConfigError(msg)
