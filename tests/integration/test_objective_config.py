"""A search with a combined objective and a constraint, checked against numbers computed
independently from each trial's saved model: the weighted sum by hand, the AUC by pair counting,
the best trial as the best of those within the bounds."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
import torch

import hepopt
from hepopt.config import load_config
from hepopt.data.stage import prepare_data
from hepopt.scoring.trial import trial_model_path
from hepopt.training import Classifier
from hepopt.training.sets import TrainingSets
from hepopt.training.trainer import predict_proba

from helpers import analysis_config, auc_by_pairs, write_config, z_by_hand

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # ROOT files, coffea, trainings: seconds each


def test_weighted_sum_with_a_constraint(samples_dir: Path, tmp_path: Path) -> None:
    terms = [
        {"name": "asimov_significance", "options": {"bins": 5, "method": "closed_form"}},
        {"name": "roc_auc", "weight": 2.0},
    ]
    raw = analysis_config(
        samples_dir,
        name="constrained",
        export=None,
        objective={"name": "weighted_sum", "options": {"terms": terms}},
        constraints=[{"name": "roc_auc", "min": 0.0}],
    )
    raw["search"]["n_trials"] = 5
    # A conditional space too: one width per hidden layer, sampled up to the sampled depth. The
    # defaults fit it (no l2 range): they are a trial, so the best is always one of the trials.
    raw["model"]["space"]["units"] = {"type": "int", "low": 8, "high": 64, "per_layer": True}
    raw["model"]["space"].pop("l2")
    path = write_config(tmp_path, raw)
    first = hepopt.optimize(path, progress=False)
    assert first is not None

    config = load_config(path)
    split = config.data.split
    sets = TrainingSets.from_table(
        prepare_data(config, progress=False), (split.train, split.validation, split.test), config.seed
    )
    val = sets.validation
    study = optuna.load_study(study_name="constrained", storage=f"sqlite:///{first.output_dir / 'study.db'}")
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) >= 4
    auc = {}
    for t in done:
        model = Classifier.load(trial_model_path(first.output_dir, t.number)).model
        widths = [m.out_features for m in model.modules() if isinstance(m, torch.nn.Linear)][:-1]
        assert widths == [t.params[f"units_{i}"] for i in range(t.params["n_layers"])]
        scores = predict_proba(model, val.x_tensor)
        auc[t.number] = auc_by_pairs(scores, val.labels, val.weights)
        assert t.user_attrs["constraint: roc_auc"] == pytest.approx(auc[t.number], abs=1e-6)
        assert t.value == pytest.approx(z_by_hand(scores, val.labels, val.weights) + 2 * auc[t.number], rel=1e-6)
        assert t.constraints == pytest.approx({"roc_auc": -auc[t.number]})  # what Optuna's sampler sees

    # Bounds that the unconstrained best breaks: the rerun picks from the same trials anew.
    best = first.best.number
    higher = [a for a in auc.values() if a > auc[best]]
    bound = (
        {"min": (auc[best] + min(higher)) / 2}
        if higher
        else {"max": (auc[best] + max(a for a in auc.values() if a < auc[best])) / 2}
    )
    raw["constraints"] = [{"name": "roc_auc", **bound}]
    second = hepopt.optimize(write_config(tmp_path, raw), progress=False)
    assert second is not None
    assert second.trials_run == 0
    inside = [
        t
        for t in done
        if ("min" not in bound or auc[t.number] >= bound["min"])
        and ("max" not in bound or auc[t.number] <= bound["max"])
    ]
    expected = max(inside, key=lambda t: t.value)
    assert second.best.number == expected.number != best
    assert second.best.feasible
    ((label, value),) = second.best.constraints.items()
    assert label.startswith("roc_auc ")
    assert value == pytest.approx(auc[expected.number], abs=1e-6)
