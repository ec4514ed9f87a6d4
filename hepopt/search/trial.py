"""One trial: train a classifier with sampled hyperparameters and score it with the objective."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from hepopt.errors import TrainingError
from hepopt.objectives.base import Objective, ObjectiveInputs, ObjectiveResult
from hepopt.training.classifier import Classifier
from hepopt.training.params import TrainParams
from hepopt.training.sets import SplitArrays, TrainingSets
from hepopt.training.trainer import EpochCallback, TrainResult, predict_proba, train_classifier


@dataclass(frozen=True)
class TrialOutcome:
    classifier: Classifier
    training: TrainResult
    result: ObjectiveResult


@dataclass(frozen=True)
class TrialRunner:
    """Holds what every trial shares: the prepared data, the objective, the training settings."""

    sets: TrainingSets
    objective: Objective
    negative_weights: str = "abs"
    seed: int = 0

    def run(self, params: TrainParams, on_epoch: EpochCallback | None = None) -> TrialOutcome:
        """Train on the training split, early-stop and score on the validation split.

        Raises:
            TrainingError: the loss diverged or the objective is not a finite number.
        """
        train = self.sets.train.batchable(params.signal_weight, self.negative_weights)
        val = self.sets.validation.batchable(params.signal_weight, self.negative_weights)
        trained = train_classifier(params, train, val, seed=self.seed, on_epoch=on_epoch)
        classifier = Classifier(trained.model, self.sets.scaler, self.sets.feature_names, params)
        result = self.score(classifier, self.sets.validation)
        if not math.isfinite(result.value):
            msg = f"objective '{self.objective.name}' is {result.value} for this classifier"
            raise TrainingError(msg)
        return TrialOutcome(classifier, trained, result)

    def score(self, classifier: Classifier, split: SplitArrays) -> ObjectiveResult:
        scores = predict_proba(classifier.model, split.x_tensor)
        return self.objective.evaluate(ObjectiveInputs(scores, split.labels, split.weights))


def trial_model_path(output_dir: Path, number: int) -> Path:
    return output_dir / "trials" / f"trial_{number:04d}.pt"
