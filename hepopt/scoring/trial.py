"""One trial: train a classifier with sampled hyperparameters and score it with the objective(s)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
from torch import nn

from hepopt.errors import TrainingError
from hepopt.models.params import TrainParams
from hepopt.objectives.base import Objective, ObjectiveInputs, ObjectiveResult, VariedInputs
from hepopt.scoring.constraints import Constraint
from hepopt.training.adversarial import train_adversarial
from hepopt.training.adversary import AdversaryData, AdversarySpec
from hepopt.training.classifier import Classifier
from hepopt.training.inference_aware import train_inference_aware
from hepopt.training.inference_aware_sets import AwareSpec, LossEvents, loss_events
from hepopt.training.sets import SplitArrays, TrainingSets
from hepopt.training.trainer import (
    Batchable,
    EpochCallback,
    TrainResult,
    evaluate_loss,
    predict_proba,
    train_classifier,
)


@dataclass(frozen=True)
class TrialOutcome:
    classifier: Classifier
    training: TrainResult
    results: tuple[ObjectiveResult, ...]
    constraint_values: tuple[float, ...] = ()  # one per TrialRunner.constraints

    @property
    def values(self) -> tuple[float, ...]:
        return tuple(r.value for r in self.results)


@dataclass(frozen=True)
class TrialRunner:
    """Holds what every trial shares: the prepared data, the objectives (several make a
    multi-objective study), the training settings, the adversary (trials with
    ``adv_lambda > 0`` train against it) and the constraints each classifier is checked against."""

    sets: TrainingSets
    objectives: tuple[Objective, ...]
    negative_weights: str = "abs"
    seed: int = 0
    adversary: AdversarySpec | None = None
    constraints: tuple[Constraint, ...] = ()
    early_stopping: str = "val_loss"  # or "objective": the first objective on validation
    keep_by: Objective | None = None  # picks the adversarial epoch kept (default: the first objective)
    augment: tuple[str, ...] = ()  # variations whose events join the training events (data augmentation)
    inference_aware: AwareSpec = field(default_factory=AwareSpec)  # the model of trials with loss: inference_aware

    @property
    def directions(self) -> list[str]:
        return [o.direction for o in self.objectives]

    def on_device(self, device: str) -> TrialRunner:
        """This runner with its data on ``device`` (a Ray worker given a GPU moves it there)."""
        return replace(self, sets=self.sets.to(device))

    @property
    def needs_variations(self) -> bool:
        """Whether an objective reads the varied events (else they are not predicted)."""
        scored = (*self.objectives, *(c.objective for c in self.constraints))
        return any("variations" in o.needs for o in scored)

    @cached_property
    def adversary_data(self) -> tuple[AdversaryData, AdversaryData]:
        """Training and validation sets of the adversary, built on first use, once per study."""
        if self.adversary is None:
            msg = "adversarial training (adv_lambda > 0) needs an 'adversary' section in the config"
            raise TrainingError(msg)
        spec = self.adversary
        train, val = (
            AdversaryData.from_sets(self.sets, s, spec, self.negative_weights) for s in ("train", "validation")
        )
        return train, val

    @cached_property
    def aware_events(self) -> tuple[LossEvents, LossEvents]:
        """Training and validation events of the inference-aware loss, built once per study."""
        chosen = self.inference_aware.variations
        variations = tuple(self.sets.varied["train"]) if chosen is None else chosen
        train, val = (loss_events(self.sets, split, variations) for split in ("train", "validation"))
        return train, val

    @cached_property
    def augmented_train(self) -> SplitArrays:
        """The training events with those of the ``augment`` variations, built once per study."""
        return self.sets.augmented("train", self.augment)

    def run(self, params: TrainParams, on_epoch: EpochCallback | None = None) -> TrialOutcome:
        """Train on the training split, early-stop and score on the validation split.

        Raises:
            TrainingError: a loss diverged or an objective is not a finite number.
        """
        train_events = self.augmented_train if self.augment else self.sets.train
        train = train_events.batchable(params.signal_weight, self.negative_weights)
        val = self.sets.validation.batchable(params.signal_weight, self.negative_weights)
        if params.adv_lambda > 0:
            adv_train, adv_val = self.adversary_data
            spec: AdversarySpec = self.adversary  # type: ignore[assignment]
            select = self._selection_score(params, self.keep_by) if spec.keep == "best" else None
            trained, _ = train_adversarial(
                params, train, val, adv_train, adv_val, spec, seed=self.seed, select=select, on_epoch=on_epoch
            )
        else:
            monitor = self._selection_score(params) if self.early_stopping == "objective" else None
            trained = train_classifier(params, train, val, seed=self.seed, on_epoch=on_epoch, monitor=monitor)
        if params.loss == "inference_aware":
            trained = self._inference_aware(trained, params, val)
        classifier = Classifier(trained.model, self.sets.scaler, self.sets.feature_names, params)
        inputs = objective_inputs(classifier, self.sets, "validation", variations=self.needs_variations)
        results = tuple(objective.evaluate(inputs) for objective in self.objectives)
        for objective, result in zip(self.objectives, results, strict=True):
            if not math.isfinite(result.value):
                msg = f"objective '{objective.name}' is {result.value} for this classifier"
                raise TrainingError(msg)
        constraint_values = tuple(c.objective.evaluate(inputs).value for c in self.constraints)
        return TrialOutcome(classifier, trained, results, constraint_values)

    def _inference_aware(self, trained: TrainResult, params: TrainParams, val: Batchable) -> TrainResult:
        """The trained classifier fine-tuned on the expected profiled sigma_mu for ``ia_epochs``,
        the epoch with the best first objective on validation kept (maybe the start)."""
        train_events, val_events = self.aware_events
        spec, start = self.inference_aware, time.perf_counter()
        device = train_events.nominal.x.device
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(self.seed + 3)  # dropout
            fit = train_inference_aware(
                trained.model,
                train_events.nominal,
                train_events.systematics,
                train_events.signal,
                bins=spec.bins,
                temperature=params.ia_temperature,
                batch_size=params.ia_batch_size,
                epochs=params.ia_epochs,
                learning_rate=params.ia_learning_rate,
                template_fraction=spec.template_fraction,
                mc_stat=spec.mc_stat,
                seed=self.seed,
                validation=(val_events.nominal, val_events.systematics),
                select=self._selection_score(params),
            )
        first = len(trained.history)
        history = trained.history + [
            {"epoch": first + k + 1, "ia_loss": row["loss"], **{key: v for key, v in row.items() if key != "loss"}}
            for k, row in enumerate(fit.history[1:])
        ]
        best = trained.best_epoch if fit.best_epoch == 0 else first + fit.best_epoch - 1
        history[best] = {**history[best], "val_loss": evaluate_loss(trained.model, val)}
        seconds = trained.seconds + time.perf_counter() - start
        return TrainResult(trained.model, history, best, seconds)

    def validation_value(self, model: nn.Module, params: TrainParams, objective: Objective | None = None) -> float:
        """An objective (default: the first) of a (possibly half-trained) model on the validation split."""
        classifier = Classifier(model, self.sets.scaler, self.sets.feature_names, params)
        chosen = objective or self.objectives[0]
        inputs = objective_inputs(classifier, self.sets, "validation", variations="variations" in chosen.needs)
        return chosen.evaluate(inputs).value

    def _selection_score(self, params: TrainParams, objective: Objective | None = None) -> Callable[[nn.Module], float]:
        """An objective (default: the first) on the validation split, signed so that higher is
        better: picks the epoch to keep."""
        chosen = objective or self.objectives[0]
        sign = 1.0 if chosen.direction == "maximize" else -1.0

        def score(model: nn.Module) -> float:
            value = self.validation_value(model, params, chosen)
            return sign * value if math.isfinite(value) else -math.inf

        return score

    def score(self, classifier: Classifier, split: str) -> tuple[ObjectiveResult, ...]:
        """The objectives on one split ('validation' or 'test'); the varied events are predicted
        only when an objective reads them."""
        inputs = objective_inputs(classifier, self.sets, split, variations=self.needs_variations)
        return tuple(objective.evaluate(inputs) for objective in self.objectives)


def objective_inputs(
    classifier: Classifier, sets: TrainingSets, split: str, *, variations: bool = True
) -> ObjectiveInputs:
    """Classifier output on the nominal events of ``split`` (and, with ``variations``, on the
    varied events), with weights and datasets."""
    nominal = sets.splits[split]
    scores = predict_proba(classifier.model, nominal.x_tensor)
    varied_inputs = {}
    for name, varied in sets.varied[split].items() if variations else ():
        # Weight-based variations share the nominal tensor: no second prediction.
        v_scores = scores if varied.x_tensor is nominal.x_tensor else predict_proba(classifier.model, varied.x_tensor)
        varied_inputs[name] = VariedInputs(
            v_scores, varied.labels, varied.weights, varied.dataset, sets.affected[name], _ids(varied.event_id)
        )
    return ObjectiveInputs(
        scores,
        nominal.labels,
        nominal.weights,
        nominal.dataset,
        sets.dataset_names,
        varied_inputs,
        _ids(nominal.event_id),
    )


def _ids(event_id: np.ndarray | None) -> np.ndarray:
    return np.zeros(0, dtype=np.int64) if event_id is None else event_id


def trial_model_path(output_dir: Path, number: int) -> Path:
    return output_dir / "trials" / f"trial_{number:04d}.pt"
