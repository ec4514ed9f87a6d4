"""k-fold cross-validation of one trial: the same hyperparameters trained on every fold.

The objective of the trial is the mean over the folds, with their spread in the trial's user
attributes (``cv_std``, ``cv_values``); so is each constraint's value. The model kept (saved, exported, reported on the test
split) is fold 0's; the test split is the same in every fold and no fold ever trains on it.
Pruning reports and overtraining checks look at fold 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from hepopt.objectives.base import ObjectiveResult
from hepopt.search.trial import TrialOutcome, TrialRunner

if TYPE_CHECKING:
    from torch import nn

    from hepopt.training.params import TrainParams
    from hepopt.training.trainer import EpochCallback


@dataclass(frozen=True)
class CrossValidatedRunner:
    """A :class:`TrialRunner` per fold, presenting itself as one runner."""

    folds: tuple[TrialRunner, ...]

    def __getattr__(self, name: str) -> object:
        # sets, objectives, directions, adversary, score, ...: those of fold 0. Dunder names and
        # 'folds' itself are not forwarded: unpickling (Ray) asks for them before 'folds' exists.
        if name.startswith("__") or name == "folds":
            raise AttributeError(name)
        return getattr(self.folds[0], name)

    def validation_value(self, model: nn.Module, params: TrainParams) -> float:
        return self.folds[0].validation_value(model, params)

    def run(self, params: TrainParams, on_epoch: EpochCallback | None = None) -> TrialOutcome:
        outcomes = [self.folds[0].run(params, on_epoch)] + [fold.run(params) for fold in self.folds[1:]]
        results = []
        for i, first in enumerate(outcomes[0].results):
            values = np.array([o.results[i].value for o in outcomes])
            extras = {
                **first.extras,
                "cv_std": float(values.std(ddof=1)),
                "cv_values": [float(v) for v in values],
                "cv_folds": len(values),
            }
            results.append(ObjectiveResult(float(values.mean()), extras))
        constraints = np.mean([o.constraint_values for o in outcomes], axis=0) if outcomes[0].constraint_values else []
        return TrialOutcome(
            outcomes[0].classifier, outcomes[0].training, tuple(results), tuple(float(v) for v in constraints)
        )
