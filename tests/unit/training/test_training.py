from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from hepopt.errors import HepoptError, TrainingError
from hepopt.training import Batchable, Classifier, Standardizer, TrainParams, train_classifier, training_weights
from hepopt.training.trainer import evaluate_loss, predict_proba

from helpers import toy, toy_batches


def test_training_weights_balance_the_classes() -> None:
    _, y, w = toy()
    tw = training_weights(y, w, 2.0, "abs")
    n = len(y)
    assert tw[y == 0].sum() == pytest.approx(n / 2, rel=1e-5)
    assert tw[y == 1].sum() == pytest.approx(n, rel=1e-5)  # signal_weight 2 doubles the signal half
    assert (tw >= 0).all()
    kept = training_weights(y, w, 1.0, "keep")
    assert (kept < 0).sum() == (w < 0).sum()
    zeroed = training_weights(y, w, 1.0, "zero")
    assert (zeroed[w < 0] == 0).all()


def test_training_is_deterministic_and_learns() -> None:
    train, val = toy_batches()
    params = TrainParams.from_mapping(
        {"n_layers": 2, "units": 16, "max_epochs": 8, "patience": 10, "learning_rate": 3e-3}
    )
    first = train_classifier(params, train, val, seed=11)
    second = train_classifier(params, train, val, seed=11)
    assert first.history == second.history
    assert first.history[-1]["val_loss"] < first.history[0]["val_loss"]
    assert first.history[-1]["val_loss"] < np.log(2) - 0.03  # clearly better than guessing


def test_early_stopping_keeps_the_best_epoch() -> None:
    train, val = toy_batches()
    params = TrainParams.from_mapping(
        {"n_layers": 3, "units": 128, "learning_rate": 0.02, "max_epochs": 40, "patience": 3}
    )
    result = train_classifier(params, train, val, seed=1)
    losses = [h["val_loss"] for h in result.history]
    assert len(losses) < 40  # it stopped early
    assert result.best_epoch == int(np.argmin(losses))
    assert len(losses) - 1 - result.best_epoch == 3  # exactly `patience` epochs without improvement
    assert evaluate_loss(result.model, val) == pytest.approx(min(losses), rel=1e-6)
    assert not result.model.training


def test_divergence_raises_training_error() -> None:
    train, val = toy_batches()
    with pytest.raises(TrainingError, match="loss diverged at epoch 1"):
        train_classifier(TrainParams(learning_rate=1e10, beta1=0.0, max_epochs=3), train, val)


def test_predictions_are_repeatable_in_eval_mode() -> None:
    train, val = toy_batches()
    result = train_classifier(TrainParams.from_mapping({"dropout": 0.5, "max_epochs": 2}), train, val, seed=3)
    result.model.train()  # even if someone left it in training mode
    np.testing.assert_array_equal(predict_proba(result.model, val.x), predict_proba(result.model, val.x))


def test_params_validation_names_the_parameter() -> None:
    with pytest.raises(ValueError, match="invalid value 'relux' for 'activation'"):
        TrainParams.from_mapping({"activation": "relux"})
    with pytest.raises(KeyError, match="width"):
        TrainParams.from_mapping({"width": 3})


def test_standardizer_handles_constant_features() -> None:
    x = np.array([[1.0, 5.0], [3.0, 5.0]], np.float32)
    scaler = Standardizer.fit(x)
    np.testing.assert_allclose(scaler.transform(x), [[-1.0, 0.0], [1.0, 0.0]])


def test_classifier_roundtrip_with_weights_only(tmp_path: Path) -> None:
    x, y, w = toy()
    scaler = Standardizer.fit(x)
    tw = training_weights(y, w, 1.0, "abs")
    data = Batchable.from_numpy(scaler.transform(x), y, tw, "cpu")
    params = TrainParams.from_mapping({"n_layers": 1, "units": 8, "activation": "tanh", "max_epochs": 2})
    model = train_classifier(params, data, data).model
    classifier = Classifier(model, scaler, ("a", "b", "c", "d"), params)
    classifier.save(tmp_path / "model.pt")
    loaded = Classifier.load(tmp_path / "model.pt")
    np.testing.assert_array_equal(loaded.predict(x), classifier.predict(x))
    assert loaded.feature_names == ("a", "b", "c", "d")
    assert loaded.params == params


def test_loading_refuses_code_in_model_files(tmp_path: Path) -> None:
    class Sneaky:
        def __reduce__(self) -> tuple:
            return (print, ("this would run",))

    torch.save({"format": "hepopt-classifier", "payload": Sneaky()}, tmp_path / "evil.pt")
    with pytest.raises(HepoptError, match="not a loadable hepopt classifier"):
        Classifier.load(tmp_path / "evil.pt")


def test_a_class_alone_is_weighted_without_dividing_by_zero() -> None:
    # An adversary's events when the variations touch only the background: no signal at all.
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tw = training_weights(np.zeros(6, np.int8), np.array([1.0, 2.0, 1.0, 2.0, 1.0, 1.0]), 1.0, "abs")
    assert tw.sum() == pytest.approx(3.0)  # half the events, as for either class
