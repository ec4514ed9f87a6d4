"""How much the metric needs a variable (or a group of them), with an honest spread.

- shuffle: permute the variable's values between the validation events (a group: its variables
  permuted together, with one permutation, so their correlation stays) and see how much the
  trained model's metric drops. Cheap, but a variable with a stand-in (a correlated twin) looks
  unimportant only after its twin is gone, and vice versa.
- retrain: train without the variable and compare. Expensive, finds redundant variables.

Importances are signed so that larger means more important, whatever the objective's direction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch

from hepopt.objectives.base import Objective
from hepopt.scoring.trial import objective_inputs
from hepopt.training.classifier import Classifier
from hepopt.training.sets import SplitArrays, TrainingSets


@dataclass(frozen=True)
class Importance:
    """One unit's importance values, one per (fold, seed[, permutation])."""

    unit: str
    variables: tuple[str, ...]
    values: tuple[float, ...]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return float(np.mean(self.values))

    @property
    def std(self) -> float:
        """Spread over repeats and folds (NaN from a single value: no spread can be claimed)."""
        return float(np.std(self.values, ddof=1)) if self.n > 1 else math.nan

    @property
    def stderr(self) -> float:
        return self.std / math.sqrt(self.n)


def _permuted(arrays: SplitArrays, columns: list[int], generator: torch.Generator) -> SplitArrays:
    x = arrays.x_tensor.clone()
    order = torch.randperm(len(x), generator=generator).to(x.device)
    x[:, columns] = arrays.x_tensor[:, columns][order]
    return replace(arrays, x_tensor=x)


def permuted_validation(sets: TrainingSets, columns: list[int], generator: torch.Generator) -> TrainingSets:
    """``sets`` whose validation events (nominal and each varied set) have ``columns`` permuted
    between events; weight-based variations keep sharing the (permuted) nominal tensor."""
    nominal = sets.validation
    permuted = _permuted(nominal, columns, generator)
    varied = {}
    for name, arrays in sets.varied["validation"].items():
        if arrays.x_tensor is nominal.x_tensor:
            varied[name] = replace(arrays, x_tensor=permuted.x_tensor)
        else:
            varied[name] = _permuted(arrays, columns, generator)
    return replace(
        sets,
        splits={**sets.splits, "validation": permuted},
        varied={**sets.varied, "validation": varied},
    )


def validation_metric(classifier: Classifier, sets: TrainingSets, objective: Objective) -> float:
    """The objective on the validation split (eval mode, no gradients: the same number every time)."""
    inputs = objective_inputs(classifier, sets, "validation", variations="variations" in objective.needs)
    return objective.evaluate(inputs).value


def shuffle_drops(
    classifier: Classifier,
    sets: TrainingSets,
    objective: Objective,
    variables: tuple[str, ...],
    repeats: int,
    generator: torch.Generator,
) -> list[float]:
    """The metric's loss (signed: positive = worse) over ``repeats`` permutations of ``variables``."""
    sign = 1.0 if objective.direction == "maximize" else -1.0
    reference = validation_metric(classifier, sets, objective)
    columns = [sets.feature_names.index(v) for v in variables]
    drops = []
    for _ in range(repeats):
        value = validation_metric(classifier, permuted_validation(sets, columns, generator), objective)
        drops.append(sign * (reference - value))
    return drops
