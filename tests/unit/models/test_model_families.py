"""Model families: the boosted-tree baseline against scikit-learn, a team's own torch and
Lightning modules by their config path, the registry's errors."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from hepopt.config import config_from_dict
from hepopt.errors import ConfigError
from hepopt.models import model_family
from hepopt.models.boosted_trees import to_tree_ensemble
from hepopt.models.registry import family_class_problem
from hepopt.training import Classifier, Standardizer, TrainParams, train_classifier, training_weights
from hepopt.training.trainer import Batchable, predict_proba

from helpers import auc_by_pairs

USER_MODELS = Path(__file__).parents[2] / "data" / "user_models"


def toy(n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(np.float32)
    x = rng.normal(0.0, 1.0, (n, 3)) + y[:, None] * np.array([1.0, 0.5, 0.0])
    x[:, 2] = x[:, 0] * x[:, 1] + rng.normal(0, 0.3, n)  # a non-linear variable
    w = rng.uniform(0.5, 1.5, n)
    return x.astype(np.float32), y, w


def batchables(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[Batchable, Batchable, Standardizer]:
    half = len(y) // 2
    scaler = Standardizer.fit(x[:half])
    tw = training_weights(y, w, 1.0, "abs")
    train = Batchable.from_numpy(scaler.transform(x[:half]), y[:half], tw[:half], "cpu")
    val = Batchable.from_numpy(scaler.transform(x[half:]), y[half:], tw[half:], "cpu")
    return train, val, scaler


def test_the_tree_module_predicts_what_scikit_learn_predicts() -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    x, y, w = toy()
    x64 = x.astype(np.float64)
    x64[np.random.default_rng(1).random(x.shape) < 0.03] = np.nan  # missing values take their learnt side
    fitted = HistGradientBoostingClassifier(max_iter=25, max_leaf_nodes=15, random_state=0).fit(x64, y, w)
    module = to_tree_ensemble(fitted)
    inputs = torch.as_tensor(x64, dtype=torch.float32)
    expected = fitted.decision_function(inputs.double().numpy())  # the same float32-rounded inputs
    np.testing.assert_allclose(module(inputs).squeeze(1).double().numpy(), expected, atol=2e-6)
    scripted = torch.jit.script(module)
    np.testing.assert_allclose(scripted(inputs).squeeze(1).double().numpy(), expected, atol=2e-6)
    staged = list(fitted.staged_decision_function(inputs.double().numpy()))
    np.testing.assert_allclose(to_tree_ensemble(fitted, 7)(inputs).squeeze(1).numpy(), staged[6], atol=2e-6)


def test_the_boosted_trees_stop_at_the_best_validation_iteration() -> None:
    """The family keeps the trees up to the iteration with the lowest weighted validation loss,
    recomputed here from scikit-learn's staged predictions."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    x, y, w = toy()
    train, val, _ = batchables(x, y, w)
    params = TrainParams.from_mapping(
        {"family": "hist_gradient_boosting", "max_leaf_nodes": 8, "learning_rate": 0.3, "patience": 5}
    )
    result = train_classifier(params, train, val, seed=4)
    reference = HistGradientBoostingClassifier(
        learning_rate=0.3,
        max_iter=200,
        max_leaf_nodes=8,
        early_stopping=True,
        n_iter_no_change=5,
        tol=0.0,
        random_state=4,
    ).fit(
        train.x.numpy(),
        train.y.numpy().astype(int),
        sample_weight=train.w.numpy(),
        X_val=val.x.numpy(),
        y_val=val.y.numpy().astype(int),
        sample_weight_val=val.w.numpy(),
    )
    yv, wv = val.y.numpy(), val.w.numpy().astype(np.float64)
    losses = []
    for logit in reference.staged_decision_function(val.x.numpy().astype(np.float64)):
        p = 1 / (1 + np.exp(-logit))
        losses.append(-np.sum(wv * (yv * np.log(p) + (1 - yv) * np.log(1 - p))) / wv.sum())
    best = int(np.argmin(losses))
    assert 0 < best < reference.n_iter_ - 1  # it did stop early, and not at the first tree
    assert result.best_epoch == best
    assert result.history[best]["val_loss"] == pytest.approx(losses[best], rel=1e-6)
    assert result.model.feature.shape[0] == best + 1
    staged = list(reference.staged_decision_function(val.x.numpy().astype(np.float64)))[best]
    np.testing.assert_allclose(result.model(val.x).squeeze(1).numpy(), staged, atol=2e-6)


@pytest.mark.slow
def test_a_boosted_tree_classifier_reloads_without_running_code_and_exports(tmp_path: Path) -> None:
    x, y, w = toy()
    train, val, scaler = batchables(x, y, w)
    params = TrainParams.from_mapping({"family": "hist_gradient_boosting", "max_leaf_nodes": 8})
    model = train_classifier(params, train, val).model
    classifier = Classifier(model, scaler, ("a", "b", "c"), params)
    classifier.save(tmp_path / "trees.pt")
    loaded = Classifier.load(tmp_path / "trees.pt")  # torch.load(weights_only=True)
    assert loaded.params == params
    np.testing.assert_array_equal(loaded.predict(x), classifier.predict(x))
    assert auc_by_pairs(classifier.predict(x[2000:]), y[2000:], w[2000:]) > 0.75
    # Exported like a network: TorchScript and ONNX with the input scaling inside.
    import onnxruntime

    from hepopt.results.export import export_classifier

    files = export_classifier(classifier, tmp_path / "export")
    (onnx_scores,) = onnxruntime.InferenceSession(str(files["onnx"])).run(None, {"features": x})
    np.testing.assert_allclose(onnx_scores, classifier.predict(x), atol=1e-6)
    scripted = torch.jit.load(str(files["torchscript"]))
    np.testing.assert_allclose(scripted(torch.as_tensor(x)).numpy(), classifier.predict(x), atol=1e-6)


@pytest.mark.slow
def test_a_team_module_and_a_lightning_module_train_by_their_config_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lightning

    monkeypatch.syspath_prepend(str(USER_MODELS))
    x, y, w = toy()
    train, val, scaler = batchables(x, y, w)
    for family, kind in (
        ("hep_nets:ResidualNet", torch.nn.Sequential),
        ("hep_nets:LightningNet", lightning.LightningModule),
    ):
        params = TrainParams.from_mapping({"family": family, "max_epochs": 6, "learning_rate": 3e-3})
        result = train_classifier(params, train, val, seed=1)
        assert isinstance(result.model, kind)
        assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
        classifier = Classifier(result.model, scaler, ("a", "b", "c"), params)
        classifier.save(tmp_path / "model.pt")
        loaded = Classifier.load(tmp_path / "model.pt", family=family)  # a module path is passed, not read
        np.testing.assert_array_equal(loaded.predict(x), classifier.predict(x))
        scores = predict_proba(result.model, val.x)
        assert auc_by_pairs(scores, val.y.numpy(), w[2000:]) > 0.75
    sys.modules.pop("hep_nets", None)


def test_family_errors_name_the_family() -> None:
    with pytest.raises(
        ConfigError, match=r"unknown model family 'resnet'; installed: \[.*'hist_gradient_boosting'.*'mlp'"
    ):
        model_family("resnet")
    with pytest.raises(ConfigError, match=r"'no_such_module:Net': cannot import 'no_such_module'"):
        model_family("no_such_module:Net")
    with pytest.raises(ConfigError, match=r"'hepopt.models.mlp:Missing': module 'hepopt.models.mlp' has no 'Missing'"):
        model_family("hepopt.models.mlp:Missing")
    with pytest.raises(
        ConfigError, match=r"'hepopt.models.mlp:ACTIVATIONS' is not a subclass of hepopt.models.ModelFamily"
    ):
        model_family("hepopt.models.mlp:ACTIVATIONS")
    mlp = type(model_family("mlp"))
    assert family_class_problem("mlp", mlp) is None
    assert family_class_problem("net", mlp) == "MLP.name is 'mlp', not the entry point's name 'net'"


TREES = {"family": "hist_gradient_boosting"}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"model": {"family": "resnet"}}, "model.family: unknown model family 'resnet'"),
        (
            {"model": {**TREES, "space": {"units": 8}}},
            "model.space.units: unknown hyperparameter of the family (hist_gradient_boosting)",
        ),
        (
            {"model": {**TREES, "space": {"max_leaf_nodes": 1}}},
            "model.space.max_leaf_nodes: invalid value 1 for 'max_leaf_nodes'",
        ),
        (
            {"model": {**TREES, "space": {"adv_lambda": {"type": "float", "low": 0, "high": 5}}}},
            "model.space.adv_lambda: the family does not use this training parameter (hist_gradient_boosting)",
        ),
        (
            {"model": TREES, "finetune": {}},
            "model.family: 'hist_gradient_boosting' is fit, not trained by gradient descent: fine-tuning needs",
        ),
        ({"model": {"compare": ["xgboost"]}}, "model.compare.0: unknown model family 'xgboost'"),
    ],
)
def test_config_errors_for_model_families(changes: dict, expected: str) -> None:
    from hepopt.stages.plan import make_plan

    from helpers import with_

    with pytest.raises(ConfigError) as info:
        make_plan(config_from_dict(with_(**changes), "cfg.yaml"))
    assert f"cfg.yaml: {expected}" in str(info.value)


def test_hepopt_models_lists_the_installed_families(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from hepopt.cli import main

    monkeypatch.setenv("COLUMNS", "250")
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    mlp = next(line for line in lines if "│ mlp " in line)
    trees = next(line for line in lines if "hist_gradient_boosting" in line)
    assert "n_layers=3, units=64" in mlp
    assert "max_leaf_nodes=31" in trees
    assert "hepopt" in mlp
