"""Overtraining conditions: compare a trained classifier on its training and validation data."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from hepopt.training.trainer import evaluate_loss

if TYPE_CHECKING:
    from hepopt.config.schema import OvertrainingConfig
    from hepopt.models.params import TrainParams
    from hepopt.scoring.trial import TrialOutcome, TrialRunner


def overtraining_ratios(runner: TrialRunner, outcome: TrialOutcome, params: TrainParams) -> dict[str, float]:
    """``loss_ratio`` (validation / training loss) and ``objective_ratio`` (first objective on
    training over validation, inverted for a minimised objective): above 1 means the classifier
    does better on the events it was trained on."""
    model = outcome.classifier.model
    train = runner.sets.train.batchable(params.signal_weight, runner.negative_weights)
    val = runner.sets.validation.batchable(params.signal_weight, runner.negative_weights)
    loss_ratio = evaluate_loss(model, val) / evaluate_loss(model, train)
    on_train = runner.score(outcome.classifier, "train")[0].value
    on_val = outcome.results[0].value
    ratio = on_train / on_val if runner.objectives[0].direction == "maximize" else on_val / on_train
    return {"loss_ratio": loss_ratio, "objective_ratio": ratio if math.isfinite(ratio) else math.inf}


def violations(ratios: dict[str, float], conditions: OvertrainingConfig) -> list[tuple[str, float, float]]:
    """(what, ratio, threshold) for every condition the ratios break."""
    found = []
    for name, limit in (("loss_ratio", conditions.max_loss_ratio), ("objective_ratio", conditions.max_objective_ratio)):
        if limit is not None and ratios[name] > limit:
            found.append((name, ratios[name], limit))
    return found


def penalised(values: tuple[float, ...], directions: list[str], factor: float) -> tuple[float, ...]:
    """Each objective made worse by ``factor`` (< 1): multiplied when maximised, divided when minimised."""
    return tuple(v * factor if d == "maximize" else v / factor for v, d in zip(values, directions, strict=True))
