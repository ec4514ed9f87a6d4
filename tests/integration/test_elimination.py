"""Backward elimination on the example analysis with two pure-noise variables and an exact
duplicate of a real one: the noise and the duplicate go first, the metric stays in tolerance."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from hepopt.api import eliminate
from hepopt.config import config_from_dict
from hepopt.data.stage import prepare_data
from hepopt.elimination.importance import permuted_validation, shuffle_drops, validation_metric
from hepopt.errors import ConfigError
from hepopt.models.params import TrainParams
from hepopt.objectives import make_objective
from hepopt.scoring.trial import TrialRunner
from hepopt.stages.plan import make_plan
from hepopt.stats.metrics import weighted_roc_auc
from hepopt.training.sets import TrainingSets

from helpers import NOISE, elimination_config, hepopt, write_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # ROOT files, coffea, trainings: seconds each

REAL = ["ht", "max_btag", "lep_pt"]


def read_csv(path: Path) -> list[dict]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def test_retrain_drops_the_noise_and_the_duplicate_first(samples_dir: Path, tmp_path: Path) -> None:
    config = config_from_dict(elimination_config(samples_dir, method="retrain"), tmp_path / "hepopt.yaml")
    selection = eliminate(config, progress=False)
    result = selection.result
    assert result is not None
    first_three = [it.dropped[0] for it in result.iterations[:3]]
    assert set(first_three) - {"ht", "ht_copy"} == set(NOISE)
    assert len(set(first_three) & {"ht", "ht_copy"}) == 1  # one copy of the duplicated variable
    kept = set(selection.variables)
    assert {"max_btag", "lep_pt"} <= kept
    assert len(kept & {"ht", "ht_copy"}) == 1
    assert not kept & set(NOISE)
    # The selected set's metric is within tolerance of the all-variables baseline ...
    assert result.selected_metric >= result.baseline * (1 - 0.005)
    assert result.threshold == pytest.approx(result.baseline * (1 - 0.005))
    # ... and is what training on those variables alone gives (an independent retraining).
    table = prepare_data(config, progress=False)
    sets = TrainingSets.from_table(table, (0.5, 0.25, 0.25), config.seed).select(selection.variables)
    params = json.loads((tmp_path / "results" / "eliminate" / "selection.json").read_text())["params"]
    runner = TrialRunner(sets, (make_objective("roc_auc"),), "abs", config.seed)
    outcome = runner.run(TrainParams.from_mapping(params))
    assert outcome.values[0] == pytest.approx(result.selected_metric, rel=1e-9)
    # The step is chosen on validation and reported on test, where the same model scores:
    test_value = runner.score(outcome.classifier, "test")[0].value
    chosen = json.loads((tmp_path / "results" / "eliminate" / "selection.json").read_text())
    assert chosen["test_metric"] == pytest.approx(test_value, rel=1e-9)
    # The stop came from the tolerance, one drop after the selected set (reverted), or at the floor.
    last = result.iterations[-1]
    if result.stop_reason == "metric outside tolerance":
        assert not last.within_tolerance
        assert result.selected_iteration == last.index - 1
    else:
        assert len(last.variables) == 1
    # Tables and plot.
    out = tmp_path / "results" / "eliminate"
    iterations = read_csv(out / "iterations.csv")
    assert [int(r["n_variables"]) for r in iterations] == [len(it.variables) for it in result.iterations]
    assert [r["selected"] for r in iterations].count("True") == 1
    ranking = read_csv(out / "ranking.csv")
    first = [r for r in ranking if r["iteration"] == "0"]
    assert len(first) == 6
    assert [r["dropped"] for r in first].count("True") == 1
    importances = [float(r["importance"]) for r in first]
    assert importances == sorted(importances)  # least important first
    assert (out / "metric_vs_variables.png").stat().st_size > 10_000
    assert (out / "ranking.png").stat().st_size > 10_000
    assert (out / "ranking.pdf").is_file()
    # A rerun with the same settings reuses the selection.
    again = eliminate(config, progress=False)
    assert again.result is None
    assert again.variables == selection.variables


def test_hybrid_shuffles_then_retrains_and_folds_give_spreads(samples_dir: Path, tmp_path: Path) -> None:
    raw = elimination_config(samples_dir, method="hybrid", switch_at=4, folds=2, shuffle_repeats=3)
    config = config_from_dict(raw, tmp_path / "hepopt.yaml")
    result = eliminate(config, progress=False).result
    assert result is not None
    methods = [it.method for it in result.iterations if it.method]
    assert methods[:2] == ["shuffle", "shuffle"]
    assert set(methods[2:]) == {"retrain"}
    assert {it.dropped[0] for it in result.iterations[:2]} == set(NOISE)  # shuffling finds the noise
    for it in result.iterations[:2]:
        for imp in it.importances:
            assert imp.n == 2 * 3  # folds x permutations
            assert imp.stderr == pytest.approx(np.std(imp.values, ddof=1) / math.sqrt(6))
    retrained = result.iterations[2]
    assert all(imp.n == 2 for imp in retrained.importances)  # one retraining per fold
    assert retrained.dropped[0] in {"ht", "ht_copy"}  # retraining finds the duplicate
    assert not math.isnan(result.iterations[0].metric_std)  # the baseline's spread over folds


def test_groups_are_scored_and_dropped_together(samples_dir: Path, tmp_path: Path) -> None:
    raw = elimination_config(samples_dir, method="retrain", groups={"noise": NOISE})
    config = config_from_dict(raw, tmp_path / "hepopt.yaml")
    result = eliminate(config, progress=False).result
    assert result is not None
    first = result.iterations[0]
    assert [imp.unit for imp in first.importances].count("noise") == 1
    assert len(first.importances) == 5  # the group and four single variables
    assert first.dropped == ("noise",)
    assert set(first.variables) - set(result.iterations[1].variables) == set(NOISE)


def test_shuffle_importance_matches_a_hand_permutation(samples_dir: Path, tmp_path: Path) -> None:
    config = config_from_dict(elimination_config(samples_dir), tmp_path / "hepopt.yaml")
    table = prepare_data(config, progress=False)
    sets = TrainingSets.from_table(table, (0.5, 0.25, 0.25), config.seed)
    objective = make_objective("roc_auc")
    classifier = (
        TrialRunner(sets, (objective,), "abs", 0)
        .run(TrainParams.from_mapping({"max_epochs": 3, "units": 16}))
        .classifier
    )
    # Scoring is deterministic: eval mode, no gradients.
    assert validation_metric(classifier, sets, objective) == validation_metric(classifier, sets, objective)
    drops = shuffle_drops(classifier, sets, objective, ("ht", "ht_copy"), 3, torch.Generator().manual_seed(5))
    # By hand: the same permutations, applied to the raw (unscaled) features, scored with the
    # weighted AUC (|weights|, as the objective) of the classifier's own predict().
    generator = torch.Generator().manual_seed(5)
    raw = sets.validation.x * sets.scaler.scale + sets.scaler.mean
    val = sets.validation
    reference = weighted_roc_auc(classifier.predict(raw), val.labels, np.abs(val.weights))
    columns = [sets.feature_names.index("ht"), sets.feature_names.index("ht_copy")]
    for drop in drops:
        order = torch.randperm(len(raw), generator=generator).numpy()
        for varied in sets.varied["validation"].values():  # the varied events get their own permutations
            if varied.x_tensor is not val.x_tensor:
                torch.randperm(len(varied), generator=generator)
        shuffled = raw.copy()
        shuffled[:, columns] = raw[order][:, columns]  # the group moves together
        auc = weighted_roc_auc(classifier.predict(shuffled), val.labels, np.abs(val.weights))
        assert drop == pytest.approx(reference - auc, abs=1e-6)
    assert min(drops) > 0.01  # ht matters
    permuted = permuted_validation(sets, columns, torch.Generator().manual_seed(1)).validation.x_tensor
    np.testing.assert_array_equal(permuted[:, columns[0]].numpy(), permuted[:, columns[1]].numpy())


@pytest.mark.parametrize(
    ("eliminate_section", "expected"),
    [
        ({"groups": {"g": ["ht", "nope"]}}, "eliminate.groups.g: unknown variable 'nope'"),
        ({"groups": {"a": ["ht"], "b": ["ht"]}}, "eliminate.groups.b: variable 'ht' is already in group 'a'"),
        ({"params": {"lerning_rate": 0.1}}, "eliminate.params: unknown hyperparameter(s) ['lerning_rate']"),
        ({"method": "backward"}, "eliminate.method: Input should be 'shuffle', 'retrain' or 'hybrid'"),
    ],
)
def test_bad_eliminate_settings_name_the_key(samples_dir: Path, eliminate_section: dict, expected: str) -> None:
    raw = elimination_config(samples_dir)
    raw["eliminate"] = eliminate_section
    with pytest.raises(
        ConfigError, match="hepopt.yaml: " + expected.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")
    ):
        make_plan(config_from_dict(raw, "hepopt.yaml"))


def test_cli_eliminate_then_optimize_on_the_selected_variables(samples_dir: Path, tmp_path: Path) -> None:
    raw = elimination_config(samples_dir, method="shuffle", shuffle_repeats=2)
    raw["search"]["n_trials"] = 2
    path = write_config(tmp_path, raw)
    done = hepopt("eliminate", str(path))
    assert done.returncode == 0, done.stderr
    selection = json.loads((tmp_path / "results" / "eliminate" / "selection.json").read_text())
    assert "Selected" in done.stdout
    assert all(v in done.stdout for v in selection["variables"])
    done = hepopt("optimize", str(path), "--quiet")
    assert done.returncode == 0, done.stderr
    from hepopt.training import Classifier

    model = Classifier.load(tmp_path / "results" / "optimize" / "best_model.pt")
    assert list(model.feature_names) == selection["variables"]
    # The report of this run has the elimination: what it kept, its iterations, its two plots.
    done = hepopt("report", str(path), "--quiet")
    assert done.returncode == 0, done.stderr
    page = (tmp_path / "results" / "report.html").read_text()
    section = page[page.index("<h2>Input-variable selection</h2>") :]
    assert f"Kept {len(selection['variables'])} variables: {', '.join(selection['variables'])}." in section
    assert section.count("<img src='data:image/png;base64,") == 2
    assert "Stages" in page
    assert ">eliminate<" in page
    bad = write_config(tmp_path / "bad", {**raw, "eliminate": {"groups": {"g": ["nope"]}}})
    done = hepopt("eliminate", str(bad))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        (
            f"hepopt: error: {bad}: eliminate.groups.g: unknown variable 'nope'; variables are "
            "['Noise_0', 'Noise_1', 'ht', 'ht_copy', 'lep_pt', 'max_btag']"
        )
    ]


def test_preoptimize_stage_feeds_the_elimination(samples_dir: Path, tmp_path: Path) -> None:
    raw = elimination_config(samples_dir, method="shuffle", shuffle_repeats=1, pre_optimize_trials=2, min_variables=5)
    raw["model"]["space"]["learning_rate"] = {"type": "float", "low": 1e-3, "high": 1e-2, "log": True}
    config = config_from_dict(raw, tmp_path / "hepopt.yaml")
    eliminate(config, progress=False)
    out = tmp_path / "results"
    preoptimized = json.loads((out / "preoptimize" / "manifest.json").read_text())["artifacts"]["params"]
    import optuna

    study = optuna.load_study(
        study_name="elim-preoptimize", storage=f"sqlite:///{tmp_path / 'results' / 'preoptimize' / 'study.db'}"
    )
    assert len(study.trials) == 2
    assert preoptimized == study.best_params
    used = json.loads((tmp_path / "results" / "eliminate" / "selection.json").read_text())["params"]
    assert used["learning_rate"] == pytest.approx(preoptimized["learning_rate"])
