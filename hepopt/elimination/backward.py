"""Backward elimination: start from every variable, drop the least important, repeat.

Each iteration trains reference models on the current variables (one per fold and seed), scores
every remaining unit (a variable, or a declared group of correlated variables) by shuffling or by
retraining without it, and drops the least important unit(s). The reference metric of the next
iteration is the metric after the drop: once it is worse than the all-variables baseline by more
than the tolerance, the elimination stops and the last set within tolerance is selected.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from hepopt.config.schema import EliminateConfig
from hepopt.elimination.importance import Importance, shuffle_drops
from hepopt.models.params import TrainParams
from hepopt.objectives.base import Objective
from hepopt.scoring.trial import TrialRunner
from hepopt.search.task_pool import TaskPool
from hepopt.training.adversary import AdversarySpec
from hepopt.training.classifier import Classifier
from hepopt.training.inference_aware_sets import AwareSpec
from hepopt.training.sets import TrainingSets


@dataclass(frozen=True)
class EliminationData:
    """What every training needs, shipped once to Ray: the prepared data of each fold (all
    variables), the metric, and the training settings."""

    folds: tuple[TrainingSets, ...]
    objective: Objective
    negative_weights: str = "abs"
    adversary: AdversarySpec | None = None
    inference_aware: AwareSpec = field(default_factory=AwareSpec)  # trials with loss: inference_aware


def train_and_score(
    data: EliminationData, variables: tuple[str, ...], params: dict[str, Any], fold: int, seed: int, keep_model: bool
) -> tuple[float, float, dict[str, Any] | None]:
    """Train on ``variables`` only; the metric on the validation split (what chooses), on the
    test split (what is reported, free of the choice), and the model if asked."""
    runner = TrialRunner(
        data.folds[fold].select(variables),
        (data.objective,),
        data.negative_weights,
        seed,
        data.adversary,
        inference_aware=data.inference_aware,
    )
    outcome = runner.run(TrainParams.from_mapping(params))
    test = runner.score(outcome.classifier, "test")[0].value
    return outcome.values[0], test, outcome.classifier.payload() if keep_model else None


@dataclass(frozen=True)
class Iteration:
    """One step: the variables it started from, their reference metric (mean and spread over
    folds and seeds), and, unless it is the last, the importances and what was dropped."""

    index: int
    units: tuple[str, ...]
    variables: tuple[str, ...]
    metric: float
    metric_std: float
    within_tolerance: bool
    method: str | None = None
    importances: tuple[Importance, ...] = ()  # least important first
    dropped: tuple[str, ...] = ()
    # The reference models' metric on the test split: the step is chosen on validation (metric),
    # so its validation value is biased by the choice and this one is not.
    test_metric: float = math.nan


@dataclass(frozen=True)
class EliminationResult:
    objective: str
    direction: str
    baseline: float
    threshold: float  # the worst metric still within tolerance
    iterations: tuple[Iteration, ...]
    selected_iteration: int
    stop_reason: str

    @property
    def selected(self) -> tuple[str, ...]:
        return self.iterations[self.selected_iteration].variables

    @property
    def selected_metric(self) -> float:
        return self.iterations[self.selected_iteration].metric


def make_units(feature_names: tuple[str, ...], groups: dict[str, list[str]]) -> dict[str, tuple[str, ...]]:
    """Groups, then every other variable on its own, in the variables' order.

    Raises:
        KeyError: a group names an unknown variable (message: the group and the variable).
    """
    grouped = {}
    for group, members in groups.items():
        for member in members:
            if member not in feature_names:
                raise KeyError((group, member))
            grouped[member] = group
    units: dict[str, tuple[str, ...]] = {}
    for name in feature_names:
        unit = grouped.get(name, name)
        units[unit] = (*units.get(unit, ()), name)
    return units


def backward_elimination(
    data: EliminationData,
    units: dict[str, tuple[str, ...]],
    params: TrainParams,
    settings: EliminateConfig,
    pool: TaskPool,
    seed: int = 0,
    on_iteration: Callable[[Iteration], None] | None = None,
) -> EliminationResult:
    """Eliminate units of ``units`` (name -> variables) following ``settings``."""
    objective = data.objective
    sign = 1.0 if objective.direction == "maximize" else -1.0
    runs = [(fold, seed + r) for fold in range(len(data.folds)) for r in range(settings.retrain_repeats)]
    params_dict = params.to_dict()
    remaining = list(units)
    iterations: list[Iteration] = []
    cached: list[tuple[float, float]] | None = None  # the dropped unit's retrains = the next references
    baseline = threshold = math.nan
    stop_reason, selected = "", 0

    while True:
        variables = tuple(v for u in remaining for v in units[u])
        method = "retrain" if settings.method == "retrain" else "shuffle"
        if settings.method == "hybrid" and len(remaining) <= settings.switch_at:
            method = "retrain"
        can_drop = len(remaining) > 1 and len(variables) > settings.min_variables
        keep_models = can_drop and method == "shuffle"
        if cached is not None and not keep_models:
            scored, models = cached, []
        else:
            results = pool.map(train_and_score, [(variables, params_dict, f, s, keep_models) for f, s in runs])
            scored = [(v, test) for v, test, _ in results]
            models = [Classifier.from_payload(p) for _, _, p in results if p is not None]
        values = [v for v, _ in scored]
        test_metric = float(np.mean([test for _, test in scored]))
        metric = float(np.mean(values))
        spread = float(np.std(values, ddof=1)) if len(values) > 1 else math.nan
        if not iterations:
            baseline = metric
            allowed = (
                settings.tolerance * abs(baseline) if settings.tolerance_type == "relative" else settings.tolerance
            )
            threshold = baseline - sign * allowed
        within = sign * (metric - threshold) >= 0
        index = len(iterations)
        if not within or not can_drop:
            iterations.append(
                Iteration(index, tuple(remaining), variables, metric, spread, within, test_metric=test_metric)
            )
            if on_iteration:
                on_iteration(iterations[-1])
            stop_reason = "metric outside tolerance" if not within else "minimum number of variables"
            selected = index - 1 if not within else index
            break

        if method == "shuffle":
            importances = _shuffle_importances(data, units, remaining, variables, models, runs, settings, seed, index)
            retrained: dict[str, list[tuple[float, float]]] = {}
        else:
            importances, retrained = _retrain_importances(data, units, remaining, params_dict, values, runs, pool)
        ranked = tuple(sorted(importances, key=lambda imp: imp.mean))
        n_drop = settings.drop if settings.drop_above is None or len(remaining) > settings.drop_above else 1
        dropped: list[Importance] = []
        left = len(variables)
        for imp in ranked:
            if len(dropped) == n_drop or len(dropped) == len(remaining) - 1:
                break
            if left - len(imp.variables) >= settings.min_variables:
                dropped.append(imp)
                left -= len(imp.variables)
        if not dropped:  # only groups too large to drop are left
            iterations.append(
                Iteration(index, tuple(remaining), variables, metric, spread, within, test_metric=test_metric)
            )
            stop_reason, selected = "minimum number of variables", index
            break
        names = tuple(imp.unit for imp in dropped)
        iterations.append(
            Iteration(index, tuple(remaining), variables, metric, spread, within, method, ranked, names, test_metric)
        )
        if on_iteration:
            on_iteration(iterations[-1])
        cached = retrained[names[0]] if len(names) == 1 and names[0] in retrained else None
        remaining = [u for u in remaining if u not in names]

    return EliminationResult(
        objective.name, objective.direction, baseline, threshold, tuple(iterations), selected, stop_reason
    )


def _shuffle_importances(
    data: EliminationData,
    units: dict[str, tuple[str, ...]],
    remaining: list[str],
    variables: tuple[str, ...],
    models: list[Classifier],
    runs: list[tuple[int, int]],
    settings: EliminateConfig,
    seed: int,
    index: int,
) -> list[Importance]:
    drops: dict[str, list[float]] = {u: [] for u in remaining}
    for (fold, run_seed), model in zip(runs, models, strict=True):
        sets = data.folds[fold].select(variables)
        generator = torch.Generator().manual_seed(1_000_003 * seed + 1009 * index + run_seed * 17 + fold)
        for unit in remaining:
            drops[unit] += shuffle_drops(model, sets, data.objective, units[unit], settings.shuffle_repeats, generator)
    return [Importance(u, units[u], tuple(drops[u])) for u in remaining]


def _retrain_importances(
    data: EliminationData,
    units: dict[str, tuple[str, ...]],
    remaining: list[str],
    params: dict[str, Any],
    references: list[float],
    runs: list[tuple[int, int]],
    pool: TaskPool,
) -> tuple[list[Importance], dict[str, list[tuple[float, float]]]]:
    sign = 1.0 if data.objective.direction == "maximize" else -1.0
    calls = []
    for unit in remaining:
        without = tuple(v for u in remaining if u != unit for v in units[u])
        calls += [(without, params, fold, run_seed, False) for fold, run_seed in runs]
    results = iter(pool.map(train_and_score, calls))
    retrained = {unit: [next(results)[:2] for _ in runs] for unit in remaining}
    importances = [
        Importance(u, units[u], tuple(sign * (ref - v) for ref, (v, _) in zip(references, retrained[u], strict=True)))
        for u in remaining
    ]
    return importances, retrained
