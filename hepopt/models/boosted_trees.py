"""The baseline physicists reach for first: scikit-learn's histogram gradient-boosted trees,
fit with the same event weights, training and validation split and early stopping as the
networks, then turned into a :class:`TreeEnsemble` module (so that scoring, elimination, saving
and export are the networks' own). Install with ``pip install 'hepopt[trees]'``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from hepopt.errors import TrainingError
from hepopt.models.base import Batchable, FitParams, ModelFamily, TrainResult
from hepopt.models.tree_ensemble import TreeEnsemble

if TYPE_CHECKING:
    from torch import nn


class HistGradientBoosting(ModelFamily):
    """``HistGradientBoostingClassifier``: ``learning_rate`` and ``max_epochs`` (its boosting
    iterations) and ``patience`` (iterations without improvement of the validation loss) come
    from the training parameters; the trees' own are below (scikit-learn's defaults; ``max_depth``
    0 means unlimited)."""

    name = "hist_gradient_boosting"
    gradient_trained = False
    training_parameters = ("learning_rate", "max_epochs", "patience", "signal_weight")
    training_defaults: ClassVar[Mapping[str, Any]] = {"learning_rate": 0.1, "max_epochs": 200, "patience": 10}
    parameters: ClassVar[Mapping[str, Any]] = {
        "max_leaf_nodes": 31,
        "max_depth": 0,
        "min_samples_leaf": 20,
        "l2_regularization": 0.0,
        "max_features": 1.0,
        "max_bins": 255,
    }

    def check(self, arch: Mapping[str, Any]) -> None:
        checks = {
            "max_leaf_nodes": arch["max_leaf_nodes"] >= 2,
            "max_depth": arch["max_depth"] >= 0,
            "min_samples_leaf": arch["min_samples_leaf"] >= 1,
            "l2_regularization": arch["l2_regularization"] >= 0.0,
            "max_features": 0.0 < arch["max_features"] <= 1.0,
            "max_bins": 2 <= arch["max_bins"] <= 255,
        }
        for name, ok in checks.items():
            if not ok:
                msg = f"invalid value {arch[name]!r} for '{name}'"
                raise ValueError(msg)

    def build(self, n_inputs: int, arch: Mapping[str, Any]) -> nn.Module:
        return TreeEnsemble(0, 1, 0)  # no trees yet: predicts logit 0

    def from_state(self, n_inputs: int, arch: Mapping[str, Any], state: Mapping[str, Any]) -> nn.Module:
        model = TreeEnsemble.sized_for(dict(state))
        model.load_state_dict(dict(state))
        return model

    def fit(self, params: FitParams, train: Batchable, val: Batchable, seed: int) -> TrainResult:
        """Boost on ``train`` with its training weights, stop early on ``val``'s weighted loss,
        keep the trees up to the best validation iteration."""
        import torch
        from sklearn.ensemble import HistGradientBoostingClassifier
        from threadpoolctl import threadpool_limits

        arch = params.arch
        start = time.perf_counter()
        model = HistGradientBoostingClassifier(
            learning_rate=params.learning_rate,
            max_iter=params.max_epochs,
            max_leaf_nodes=arch["max_leaf_nodes"],
            max_depth=arch["max_depth"] or None,
            min_samples_leaf=arch["min_samples_leaf"],
            l2_regularization=arch["l2_regularization"],
            max_features=arch["max_features"],
            max_bins=arch["max_bins"],
            early_stopping=True,
            n_iter_no_change=params.patience,
            tol=0.0,
            random_state=seed,
        )
        x, y, w = (t.cpu().numpy() for t in (train.x, train.y, train.w))
        xv, yv, wv = (t.cpu().numpy() for t in (val.x, val.y, val.w))
        # Respect the trial's thread budget (Ray workers share the machine).
        with threadpool_limits(torch.get_num_threads()):
            model.fit(x, y.astype(np.int64), sample_weight=w, X_val=xv, y_val=yv.astype(np.int64), sample_weight_val=wv)
        # validation_score_ is minus the weighted log loss, one entry before the first tree.
        val_loss = -np.asarray(model.validation_score_[1:], dtype=np.float64)
        train_loss = -np.asarray(model.train_score_[1:], dtype=np.float64)
        if not np.isfinite(val_loss).all():
            msg = "boosting diverged (the validation loss is not finite)"
            raise TrainingError(msg)
        best = int(np.argmin(val_loss))
        ensemble = to_tree_ensemble(model, n_trees=best + 1).to(train.x.device)
        history = [
            {"epoch": i + 1, "train_loss": float(t), "val_loss": float(v)}
            for i, (t, v) in enumerate(zip(train_loss, val_loss, strict=True))
        ]
        return TrainResult(ensemble.eval(), history, best, time.perf_counter() - start)


def to_tree_ensemble(model: Any, n_trees: int | None = None) -> TreeEnsemble:
    """The first ``n_trees`` boosting iterations of a fitted binary
    ``HistGradientBoostingClassifier`` (all by default) as a :class:`TreeEnsemble`.

    Reads the fitted predictors' node tables (``_predictors``, ``_baseline_prediction``): the
    tests check the result against scikit-learn's own ``decision_function``.
    """
    import torch

    predictors = [iteration[0] for iteration in model._predictors[:n_trees]]
    if any(np.any(p.nodes["is_categorical"]) for p in predictors):
        msg = "categorical splits are not supported in the tree export"
        raise TrainingError(msg)
    n_nodes = max(len(p.nodes) for p in predictors)
    depth = max(int(p.nodes["depth"].max()) for p in predictors)
    ensemble = TreeEnsemble(len(predictors), n_nodes, depth)
    tables = {
        name: getattr(ensemble, name).numpy().copy()
        for name in ("feature", "threshold", "left", "right", "value", "leaf", "missing_left")
    }
    for i, predictor in enumerate(predictors):
        nodes, n = predictor.nodes, len(predictor.nodes)
        tables["feature"][i, :n] = nodes["feature_idx"]
        tables["threshold"][i, :n] = nodes["num_threshold"]
        tables["left"][i, :n] = nodes["left"]
        tables["right"][i, :n] = nodes["right"]
        tables["value"][i, :n] = np.where(nodes["is_leaf"].astype(bool), nodes["value"], 0.0)
        tables["leaf"][i, :n] = nodes["is_leaf"].astype(bool)
        tables["missing_left"][i, :n] = nodes["missing_go_to_left"].astype(bool)
    state = {name: torch.from_numpy(table) for name, table in tables.items()}
    state["baseline"] = torch.tensor(float(np.ravel(model._baseline_prediction)[0]), dtype=torch.float64)
    state["max_depth"] = torch.tensor(depth, dtype=torch.long)
    ensemble.load_state_dict(state)
    return ensemble
