"""Pruning settings from the config (grace period, reduction factor, full budget) and early
stopping on a chosen metric with patience and min_delta, checked against the rules by hand."""

from __future__ import annotations

import numpy as np
import optuna
import pytest
import torch

from hepopt.config.schema import PruningConfig
from hepopt.search.samplers import make_pruner
from hepopt.training import TrainParams, train_classifier
from hepopt.training.trainer import predict_proba

from helpers import toy_batches


def test_the_pruners_take_the_configs_settings() -> None:
    settings = PruningConfig(min_epochs=4, reduction_factor=2, max_epochs=40, startup_trials=6)
    median = make_pruner("median", 30, settings)
    assert (median._n_startup_trials, median._n_warmup_steps) == (6, 4)
    for name in ("successive_halving", "asha"):
        halving = make_pruner(name, 30, settings)
        assert isinstance(halving, optuna.pruners.SuccessiveHalvingPruner)
        assert (halving._min_resource, halving._reduction_factor) == (4, 2)
    hyperband = make_pruner("hyperband", 30, settings)
    assert (hyperband._min_resource, hyperband._max_resource, hyperband._reduction_factor) == (4, 40, 2)
    assert make_pruner("hyperband", 30, PruningConfig())._max_resource == 30  # the space's max_epochs


def test_no_trial_is_pruned_within_the_grace_period() -> None:
    """The median pruner with min_epochs 3: a trial far below the others runs 3 epochs first."""
    study = optuna.create_study(direction="maximize", pruner=make_pruner("median", 10, PruningConfig(min_epochs=3)))
    for _ in range(3):  # good trials
        trial = study.ask()
        for epoch in range(1, 11):
            trial.report(0.9, epoch)
        study.tell(trial, 0.9)
    bad = study.ask()
    pruned_at = None
    for epoch in range(1, 11):
        bad.report(0.1, epoch)
        if bad.should_prune():
            pruned_at = epoch
            break
    assert pruned_at == 3


def test_early_stopping_on_a_monitored_metric_with_min_delta() -> None:
    train, val = toy_batches()
    params = TrainParams.from_mapping(
        {"n_layers": 2, "units": 16, "max_epochs": 12, "patience": 3, "learning_rate": 3e-3}
    )

    def auc(model: torch.nn.Module) -> float:  # higher is better, as an objective signed so
        scores = predict_proba(model, val.x)
        y = val.y.numpy()
        order = np.argsort(scores)
        ranks = np.empty(len(scores))
        ranks[order] = np.arange(1, len(scores) + 1)
        n1 = y.sum()
        return float((ranks[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * (len(y) - n1)))

    result = train_classifier(params, train, val, seed=3, monitor=auc)
    monitored = [h["monitored"] for h in result.history]
    # The kept epoch is the first to reach the best monitored value, and training stopped
    # `patience` epochs after the last improvement (or at max_epochs).
    assert result.best_epoch == int(np.argmax(monitored))
    assert len(monitored) == min(12, result.best_epoch + 1 + 3)
    # With a min_delta no epoch can beat, the first epoch is kept and training stops after patience.
    strict = TrainParams.from_mapping({**params.to_dict(), "min_delta": 10.0})
    stopped = train_classifier(strict, train, val, seed=3, monitor=auc)
    assert (stopped.best_epoch, len(stopped.history)) == (0, 1 + 3)
    with pytest.raises(ValueError, match=r"invalid value -0\.1 for 'min_delta'"):
        TrainParams.from_mapping({"min_delta": -0.1})
