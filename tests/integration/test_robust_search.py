"""A multi-objective, adversarial search from the CLI: NSGA-II over (stat-only significance,
output shift), adv_lambda searched; the Pareto front is checked against the trials by hand."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import optuna
import pytest

from helpers import analysis_config, hepopt, write_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # ROOT files, coffea, trainings: seconds each


def dominated(a: list[float], b: list[float]) -> bool:
    """Whether b dominates a for (maximise, minimise)."""
    return b[0] >= a[0] and b[1] <= a[1] and (b[0] > a[0] or b[1] < a[1])


def test_pareto_search_with_adversary(samples_dir: Path, tmp_path: Path) -> None:
    raw = analysis_config(samples_dir, name="pareto", seed=5)
    raw.pop("objective")
    raw["objectives"] = [{"name": "asimov_significance"}, {"name": "output_shift"}]
    raw["adversary"] = {"variations": ["jes_up", "jes_down"]}
    raw["search"] = {"bootstrap": 10, "sampler": "nsga2", "population_size": 2, "n_trials": 4}
    raw["model"]["space"].update(
        {"adv_lambda": {"type": "categorical", "choices": [0.0, 5.0]}, "adv_epochs": 2, "adv_pretrain_epochs": 1}
    )
    result = hepopt("optimize", str(write_config(tmp_path, raw)), "--quiet")
    assert result.returncode == 0, result.stderr

    out = tmp_path / "results" / "optimize"
    study = optuna.load_study(study_name="pareto", storage=f"sqlite:///{out / 'study.db'}")
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 4
    front = {t.number for t in complete if not any(dominated(t.values, o.values) for o in complete if o is not t)}
    with (out / "pareto.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert {int(r["number"]) for r in rows} == front
    summary = json.loads((out / "summary.json").read_text())
    assert summary["objectives"] == ["asimov_significance", "output_shift"]
    assert summary["directions"] == ["maximize", "minimize"]
    assert {p["number"] for p in summary["pareto"]} == front
    metrics = summary["best"]["test_metrics"]
    for key in ("robust_significance", "jsd_mean", "jsd/jes_up/background", "adversary_auc"):
        assert key in metrics
    assert metrics["robust_significance"] <= metrics["asimov_significance"] * (1 + 1e-6)
    # The simulation's statistical uncertainty only costs significance.
    assert metrics["robust_significance"] <= metrics["robust_significance_without_mc_stat"] * (1 + 1e-6)
    assert metrics["robust_significance_without_mc_stat"] <= metrics["asimov_significance"] * (1 + 1e-6)
    assert (out / "plots" / "variations_best.png").stat().st_size > 10_000
    # What chose the model, and which numbers carry no selection bias.
    selection = summary["selection"]
    assert selection["split"] == "hash of (seed, dataset, event id): train 50%, validation 25%, test 25%"
    assert "the adversarial epoch (adversary.keep: best, by the search objective)" in selection["chosen_on_validation"]
    assert selection["unbiased"].startswith("best.test")


def test_the_exported_workspace_refits_to_the_reported_test_significance(samples_dir: Path, tmp_path: Path) -> None:
    """What robust_significance fitted for the best model on the test split is written as a pyhf
    workspace (histosys for the JES, staterror from the sum of squared weights); pyhf alone,
    loading that file, gives the test value in the summary."""
    import numpy as np
    import pyhf

    from hepopt import optimize
    from hepopt.config import config_from_dict

    raw = analysis_config(samples_dir, name="workspace", seed=3)
    raw["objective"] = {"name": "robust_significance", "options": {"bins": 5}}
    raw["search"] = {"bootstrap": 10, "n_trials": 2, "workers": 1}
    raw["export"] = None
    result = optimize(config_from_dict(raw, tmp_path / "hepopt.yaml"), progress=False)
    assert result is not None
    path = result.files["workspace_robust_significance"]
    workspace = pyhf.Workspace(json.loads(path.read_text()))  # validates against pyhf's schema
    model = workspace.model()
    modifiers = {m["type"] for c in workspace["channels"] for s in c["samples"] for m in s["modifiers"]}
    assert modifiers == {"normfactor", "histosys", "staterror"}
    backend = pyhf.get_backend()
    pyhf.set_backend("numpy", pyhf.optimize.scipy_optimizer())
    try:
        fit = (model.config.suggested_init(), model.config.suggested_bounds(), model.config.suggested_fixed())
        q0 = pyhf.infer.test_statistics.q0(0.0, workspace.data(model), model, *fit)
    finally:
        pyhf.set_backend(*backend)
    assert float(np.sqrt(q0)) == pytest.approx(result.best.test[0], rel=1e-6)
    # Every reported value has its bootstrap uncertainty, in the result and in summary.json.
    summary = json.loads(result.files["summary"].read_text())
    for trial in (summary["best"], summary["baseline"]):
        assert all(e > 0 for e in trial["validation_error"] + trial["test_error"])
        assert set(trial["test_metrics_error"]) >= {"asimov_significance", "roc_auc", "robust_significance"}
    # Each binned number says how it was binned: the objective as configured, the metrics with 10 bins.
    assert (
        summary["binning"]["objective: robust_significance"]
        == "5 equal bins in [0, 1], merged from the top until each has b >= 0.001; templates: templates as simulated"
    )
    assert summary["binning"]["metric: asimov_significance"].startswith("10 equal bins in [0, 1]")


def test_a_search_chooses_between_cross_entropy_and_inference_aware_training(samples_dir: Path, tmp_path: Path) -> None:
    """``loss`` is a search choice like any other: both kinds of trial are scored by the same
    objective on validation, the inference-aware ones record their fine-tuning epochs, and the
    summary says that their epoch was chosen on validation."""
    raw = analysis_config(samples_dir, name="aware", seed=2)
    raw["objective"] = {"name": "robust_significance", "options": {"bins": 6, "mc_stat": False}}
    raw["model"]["space"].update(
        {"loss": {"type": "categorical", "choices": ["bce", "inference_aware"]}, "ia_epochs": 2, "ia_batch_size": 4000}
    )
    raw["search"].update({"sampler": "grid", "n_trials": 2, "workers": 1})
    raw["model"]["space"] = {k: v for k, v in raw["model"]["space"].items() if not isinstance(v, dict) or k == "loss"}
    result = hepopt("optimize", str(write_config(tmp_path, raw)), "--quiet")
    assert result.returncode == 0, result.stderr

    out = tmp_path / "results" / "optimize"
    study = optuna.load_study(study_name="aware", storage=f"sqlite:///{out / 'study.db'}")
    trials = {t.params["loss"]: t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE}
    assert set(trials) == {"bce", "inference_aware"}
    assert trials["inference_aware"].user_attrs["epochs"] == trials["bce"].user_attrs["epochs"] + 2
    summary = json.loads((out / "summary.json").read_text())
    chosen = summary["selection"]["chosen_on_validation"]
    assert "the inference-aware epoch (loss: inference_aware, by the search objective)" in chosen
