"""Training of one classifier: the built-in MLP, its hyperparameters, the weighted trainer."""

from __future__ import annotations

from hepopt.models.params import TrainParams
from hepopt.training.classifier import Classifier
from hepopt.training.scaler import Standardizer
from hepopt.training.trainer import (
    Batchable,
    TrainResult,
    predict_proba,
    train_classifier,
    training_weights,
)

__all__ = [
    "Batchable",
    "Classifier",
    "Standardizer",
    "TrainParams",
    "TrainResult",
    "predict_proba",
    "train_classifier",
    "training_weights",
]
