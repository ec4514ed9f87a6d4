"""Optuna samplers by the names the config uses."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hepopt.errors import ConfigError

if TYPE_CHECKING:
    import optuna

SAMPLERS = ("tpe", "random", "cmaes", "qmc", "nsga2")


def make_sampler(name: str, seed: int, population_size: int = 16) -> optuna.samplers.BaseSampler:
    """A seeded sampler. ``seed`` should change when a study resumes (see ``run_search``)."""
    import optuna

    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "cmaes":
        # CMA-ES handles only numeric parameters; categorical ones fall back to random sampling.
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if name == "nsga2":
        # The genetic search physicists use for multi-objective studies (Pareto fronts).
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=population_size)
    if name == "qmc":
        return optuna.samplers.QMCSampler(seed=seed, warn_independent_sampling=False)
    msg = f"search.sampler: unknown sampler '{name}'; available: {list(SAMPLERS)}"
    raise ConfigError(msg)
