"""Other model families through the whole pipeline: a team's network from a module outside
hepopt (by its config path, from the CLI), and the boosted-tree baseline (searched, compared with
the MLP, used by the elimination)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import optuna
import pytest
import torch

import hepopt as hepopt_api
from hepopt.config import load_config
from hepopt.data.stage import prepare_data
from hepopt.scoring.trial import trial_model_path
from hepopt.training import Classifier
from hepopt.training.sets import TrainingSets
from hepopt.training.trainer import predict_proba

from helpers import FEATURES, NOISE, analysis_config, auc_by_pairs, hepopt, write_config, z_by_hand

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # ROOT files, coffea, trainings: seconds each

USER_MODELS = Path(__file__).parents[1] / "data" / "user_models"


def splits(path: Path) -> TrainingSets:
    config = load_config(path)
    split = config.data.split
    table = prepare_data(config, progress=False)
    return TrainingSets.from_table(table, (split.train, split.validation, split.test), config.seed)


def test_a_team_network_is_optimised_and_exported_by_its_config_path(
    samples_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(USER_MODELS), os.environ.get("PYTHONPATH", "")]))
    raw = analysis_config(samples_dir, name="team_net", objective={"name": "roc_auc"})
    raw["model"] = {
        "family": "hep_nets:ResidualNet",
        "space": {
            "width": {"type": "categorical", "choices": [8, 16]},
            "blocks": {"type": "int", "low": 1, "high": 2},
            "learning_rate": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True},
            "max_epochs": 4,
            "patience": 2,
        },
    }
    path = write_config(tmp_path, raw)
    done = hepopt("optimize", str(path), "--quiet")
    assert done.returncode == 0, done.stderr

    results = tmp_path / "results"
    study = optuna.load_study(study_name="team_net", storage=f"sqlite:///{results / 'optimize' / 'study.db'}")
    trials = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(trials) == 3
    monkeypatch.syspath_prepend(str(USER_MODELS))  # to reload the saved models here
    val = splits(path).validation
    for t in trials:
        classifier = Classifier.load(trial_model_path(results / "optimize", t.number), family="hep_nets:ResidualNet")
        assert classifier.params.family == "hep_nets:ResidualNet"
        norms = [m for m in classifier.model.modules() if isinstance(m, torch.nn.LayerNorm)]
        assert len(norms) == t.params["blocks"]  # the team's architecture, as sampled
        assert classifier.model[0].out_features == t.params["width"]
        scores = predict_proba(classifier.model, val.x_tensor)
        assert t.value == pytest.approx(auc_by_pairs(scores, val.labels, val.weights), abs=1e-9)

    # The exported ONNX model (input scaling inside) gives what hepopt gives on raw variables.
    import onnxruntime

    best = Classifier.load(results / "optimize" / "best_model.pt", family="hep_nets:ResidualNet")
    raw_features = (val.x * best.scaler.scale + best.scaler.mean).astype(np.float32)
    session = onnxruntime.InferenceSession(str(results / "export" / "model.onnx"))
    (onnx_scores,) = session.run(None, {"features": raw_features})
    np.testing.assert_allclose(onnx_scores, best.predict(raw_features), atol=1e-5)
    description = json.loads((results / "export" / "model.json").read_text())
    assert description["hyperparameters"]["family"] == "hep_nets:ResidualNet"


def test_boosted_trees_are_searched_and_compared_with_the_network(samples_dir: Path, tmp_path: Path) -> None:
    objective = {"name": "asimov_significance", "options": {"bins": 5, "method": "closed_form"}}
    raw = analysis_config(samples_dir, name="trees", objective=objective, export=None)
    raw["model"] = {
        "family": "hist_gradient_boosting",
        "space": {
            "max_leaf_nodes": {"type": "int", "low": 4, "high": 16},
            "learning_rate": {"type": "float", "low": 0.05, "high": 0.3, "log": True},
            "max_epochs": 40,
        },
        "compare": ["mlp"],
    }
    path = write_config(tmp_path, raw)
    result = hepopt_api.optimize(path, progress=False)
    assert result is not None
    sets = splits(path)
    val, test = sets.validation, sets.test
    study = optuna.load_study(study_name="trees", storage=f"sqlite:///{result.output_dir / 'study.db'}")
    for t in study.trials:
        model = Classifier.load(trial_model_path(result.output_dir, t.number)).model
        assert model.feature.shape[0] <= 40  # at most max_epochs boosting iterations
        assert t.value == pytest.approx(
            z_by_hand(predict_proba(model, val.x_tensor), val.labels, val.weights), rel=1e-6
        )
    # The MLP with its defaults, trained on the same splits and scored with the same objective.
    mlp = result.comparisons["mlp"]
    assert (mlp.params["family"], mlp.params["n_layers"]) == ("mlp", 3)
    network = Classifier.load(result.files["compare_mlp"])
    expected = z_by_hand(predict_proba(network.model, test.x_tensor), test.labels, test.weights)
    assert mlp.test[0] == pytest.approx(expected, rel=1e-6)
    assert result.best.params["family"] == "hist_gradient_boosting"
    summary = json.loads(result.files["summary"].read_text())
    assert summary["comparisons"]["mlp"]["test"] == mlp.test


def test_the_elimination_retrains_boosted_trees(samples_dir: Path, tmp_path: Path) -> None:
    raw = analysis_config(samples_dir, name="elim_trees", features=FEATURES, objective={"name": "roc_auc"})
    raw["model"] = {"family": "hist_gradient_boosting", "space": {"max_epochs": 60, "max_leaf_nodes": 8}}
    raw["eliminate"] = {"method": "retrain", "tolerance": 0.005, "min_variables": 3}
    selection = hepopt_api.eliminate(write_config(tmp_path, raw), progress=False)
    dropped = [it.dropped[0] for it in selection.result.iterations if it.dropped]
    # For trees too: the noise and one of the two copies of H_T go, the strong variables stay.
    assert set(dropped) - {"ht", "ht_copy"} == set(NOISE)
    assert len(set(dropped) & {"ht", "ht_copy"}) == 1
    assert {"max_btag", "lep_pt"} <= set(selection.variables)
