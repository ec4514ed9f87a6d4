"""Plots of a search, on a study whose answer is known: the objective depends on one parameter."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import pytest

from hepopt.results.plots import roc_plot
from hepopt.results.study_plots import param_importances, write_study_plots

from helpers import auc_by_pairs


def known_study(n: int = 40, directions: tuple[str, ...] = ("maximize",)) -> optuna.Study:
    """value = -(log10 lr + 3)^2 (+ noise), whatever the activation; a second objective for two."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=list(directions), sampler=optuna.samplers.RandomSampler(seed=1))
    rng = np.random.default_rng(0)
    for _ in range(n):
        trial = study.ask(
            {
                "learning_rate": optuna.distributions.FloatDistribution(1e-5, 1e-1, log=True),
                "activation": optuna.distributions.CategoricalDistribution(["relu", "tanh"]),
                "units": optuna.distributions.IntDistribution(8, 128),
            }
        )
        value = -((np.log10(trial.params["learning_rate"]) + 3) ** 2) + rng.normal(0, 0.01)
        study.tell(trial, [value, trial.params["units"]][: len(directions)])
    return study


def test_importances_find_the_parameter_that_matters() -> None:
    importances = param_importances(known_study())
    assert max(importances, key=importances.__getitem__) == "learning_rate"
    assert importances["learning_rate"] > 0.5
    assert sum(importances.values()) == pytest.approx(1.0)


def test_every_search_plot_is_written(tmp_path: Path) -> None:
    study = known_study(directions=("maximize", "minimize"))
    done = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    files, importances = write_study_plots(
        study, done, study.best_trials, ["z", "units"], ["maximize", "minimize"], tmp_path, "known"
    )
    names = {"history_plot", "importance_plot", "parallel_plot", "slice_plot", "pareto_plot"}
    assert set(files) == names
    for path in files.values():
        assert path.stat().st_size > 10_000  # a real picture
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert not path.with_suffix(".pdf").exists()  # diagnostics: PNG only
    assert importances["learning_rate"] > importances["activation"]


def test_one_trial_gives_no_importances(tmp_path: Path) -> None:
    study = known_study(n=1)
    files, importances = write_study_plots(study, study.trials, [], ["z"], ["maximize"], tmp_path)
    assert importances == {}
    assert "importance_plot" not in files
    assert files["history_plot"].is_file()


def test_roc_plot_reports_the_pair_counting_auc(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    labels = (rng.random(3000) < 0.4).astype(np.int8)
    scores = 1 / (1 + np.exp(-rng.normal(1.2 * labels - 0.6, 1.0)))
    weights = rng.uniform(0.5, 2.0, 3000)
    aucs = roc_plot({"toy": (scores, labels, weights)}, tmp_path / "roc.png")
    assert aucs["toy"] == pytest.approx(auc_by_pairs(scores, labels, weights), abs=1e-9)
    assert (tmp_path / "roc.png").stat().st_size > 10_000
