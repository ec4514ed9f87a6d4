"""``hepopt optimize`` as a user runs it: a real process, real ROOT files, a real SQLite study."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pytest
import torch

from hepopt.config import load_config
from hepopt.data.stage import prepare_data
from hepopt.training import Classifier
from hepopt.training.sets import TrainingSets

from helpers import analysis_config, closed_form, hepopt, merge_from_top, write_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # ROOT files, coffea, trainings: seconds each


@pytest.fixture(scope="module")
def run_dir(samples_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cli")
    write_config(folder, analysis_config(samples_dir, name="cli_test", seed=3))
    result = hepopt("optimize", str(folder / "hepopt.yaml"), "--n-trials", "3", "--quiet")
    assert result.returncode == 0, result.stderr
    return folder


def test_outputs_are_written(run_dir: Path) -> None:
    out = run_dir / "results" / "optimize"
    for name in ("study.db", "trials.csv", "best_params.json", "best_model.pt", "summary.json"):
        assert (out / name).is_file(), name
    assert (out / "plots" / "overtraining_best.png").stat().st_size > 10_000
    assert (out / "plots" / "overtraining_best.pdf").is_file()
    study = optuna.load_study(study_name="cli_test", storage=f"sqlite:///{out / 'study.db'}")
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 3
    lines = (out / "trials.csv").read_text().splitlines()
    assert len(lines) == 4
    assert lines[0].startswith("number,state,value,duration_s")
    best_params = json.loads((out / "best_params.json").read_text())
    assert {k: best_params[k] for k in study.best_params} == study.best_params
    summary = json.loads((out / "summary.json").read_text())
    assert summary["best"]["number"] == study.best_trial.number
    assert summary["best"]["validation"] == [pytest.approx(study.best_value)]
    assert summary["baseline"]["params"]["n_layers"] == 3  # hepopt's default network
    payload = torch.load(out / "best_model.pt", weights_only=True)
    assert payload["feature_names"][0] == "lead_jet_pt"


def test_best_significance_matches_an_independent_histogram(run_dir: Path) -> None:
    """Recompute the best trial's validation and test significances by hand from its saved model."""
    config = load_config(run_dir / "hepopt.yaml")
    summary = json.loads((run_dir / "results" / "optimize" / "summary.json").read_text())
    classifier = Classifier.load(run_dir / "results" / "optimize" / "best_model.pt")
    table = prepare_data(config, progress=False)  # from the cache
    split = config.data.split
    sets = TrainingSets.from_table(table, (split.train, split.validation, split.test), config.seed)
    for name, expected in (("validation", summary["best"]["validation"][0]), ("test", summary["best"]["test"][0])):
        part = sets.splits[name]
        scores = classifier.predict(sets.scaler.mean + part.x * sets.scaler.scale)  # back to raw features
        index = np.minimum((scores * 10).astype(int), 9)  # 10 equal bins in [0, 1]
        s = np.bincount(index[part.labels == 1], part.weights[part.labels == 1], minlength=10)
        b = np.bincount(index[part.labels == 0], part.weights[part.labels == 0], minlength=10)
        s, b = merge_from_top(s, b, floor=1e-3)
        assert expected == pytest.approx(closed_form(s, b), rel=1e-4)


def test_rerun_resumes_and_runs_only_missing_trials(run_dir: Path) -> None:
    result = hepopt("optimize", str(run_dir / "hepopt.yaml"), "--n-trials", "5", "--quiet")
    assert result.returncode == 0, result.stderr
    summary = json.loads((run_dir / "results" / "optimize" / "summary.json").read_text())
    assert summary["trials_run"] == 2
    assert summary["n_complete"] == 5
    manifest = run_dir / "results" / "optimize" / "manifest.json"
    finished = json.loads(manifest.read_text())["finished"]
    # Nothing changed: every stage is skipped, the results stay as they are.
    again = hepopt("optimize", str(run_dir / "hepopt.yaml"), "--n-trials", "5")
    assert again.returncode == 0, again.stderr
    assert "optimize: up to date, skipped" in again.stderr
    assert json.loads(manifest.read_text())["finished"] == finished
    assert json.loads((run_dir / "results" / "optimize" / "summary.json").read_text())["trials_run"] == 2
    assert "baseline (defaults)" in again.stdout  # the summary still shows
    # (--force: a fresh study, the finished one kept beside it: test_trust.py.)


def test_status_shows_stages_and_what_changed(run_dir: Path) -> None:
    def status(config: Path) -> dict[str, dict]:
        done = hepopt("status", str(config), "--json")
        assert done.returncode == 0, done.stderr
        return {row["stage"]: row for row in json.loads(done.stdout)}

    # The last run was 'optimize --n-trials 5': a config saying 5 matches it everywhere ...
    five = run_dir / "five.yaml"
    five.write_text((run_dir / "hepopt.yaml").read_text().replace("n_trials: 3", "n_trials: 5"))
    rows = status(five)
    assert list(rows) == ["prepare", "optimize", "export"]
    assert [(row["state"], row["up_to_date"]) for row in rows.values()] == [("done", True)] * 3
    assert rows["optimize"]["artifacts"]["best_model"] == str(run_dir / "results" / "optimize" / "best_model.pt")
    # ... while the file's own 3 makes the optimize stage and the export after it stale, not prepare.
    stale = status(run_dir / "hepopt.yaml")
    assert [stale[name]["up_to_date"] for name in ("prepare", "optimize", "export")] == [True, False, False]
    table = hepopt("status", str(run_dir / "hepopt.yaml"))
    assert "prepare" in table.stdout
    assert "done" in table.stdout


def test_cli_shows_tables_and_progress(run_dir: Path) -> None:
    result = hepopt("optimize", str(run_dir / "hepopt.yaml"), "--n-trials", "6")  # one more trial: the search runs
    assert result.returncode == 0, result.stderr
    assert "baseline (defaults)" in result.stdout
    assert "best hyperparameters" in result.stdout
    assert "Quote the test values: nothing was chosen on them." in " ".join(result.stdout.split())
    assert "Searching hyperparameters" in result.stderr
    # Not a terminal (as in a batch job's log): one line per finished trial, no progress bar.
    import re

    assert re.search(
        r"^trial \d+ complete: [\d.]+ \(best [\d.]+, trial \d+\) \[6/6\] [\d.]+ s$", result.stderr, re.MULTILINE
    )
    assert "prepare: up to date, skipped" in result.stderr
    assert "Exporting the best model" in result.stderr


def test_bad_config_is_one_line_and_exit_1(tmp_path: Path) -> None:
    config = tmp_path / "hepopt.yaml"
    config.write_text("datasets: {}\nfeatures: [x]\nsearch: {n_trials: -5}\n")
    result = hepopt("optimize", str(config))
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith(f"hepopt: error: {config}: datasets: ")
    assert "Traceback" not in result.stderr
    debug = hepopt("optimize", str(config), "--debug")
    assert debug.returncode == 1
    assert "Traceback" in debug.stderr


def test_missing_data_is_one_line_and_exit_1(samples_dir: Path, tmp_path: Path) -> None:
    raw = analysis_config(samples_dir)
    raw["datasets"]["wjets"]["files"] = str(tmp_path / "wjets_missing_*.root")
    result = hepopt("optimize", str(write_config(tmp_path, raw)))
    assert result.returncode == 1
    assert "datasets.wjets.files: no file matches" in result.stderr
    assert "Traceback" not in result.stderr


def test_help_is_quick() -> None:
    code = "import sys, hepopt.cli; sys.exit(0 if not {'torch', 'coffea', 'pyhf', 'optuna', 'ray'} & set(sys.modules) else 1)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
    result = hepopt("--help")
    assert result.returncode == 0
    assert "optimize" in result.stdout


def test_workspace_command_writes_what_pyhf_fits(run_dir: Path) -> None:
    """``hepopt workspace CONFIG``: the pyhf CLI fits it (on its Asimov data the signal strength
    comes back as 1), and its discovery significance is the best model's robust_significance on
    the test split; a config whose run is not up to date is refused."""
    import pyhf

    from hepopt.objectives.robust import RobustSignificance
    from hepopt.scoring.trial import objective_inputs

    config_path = run_dir / "hepopt.yaml"
    assert hepopt("optimize", str(config_path), "--quiet").returncode == 0  # up to date with the file
    ws_path = run_dir / "ws.json"
    done = hepopt("workspace", str(config_path), "-o", str(ws_path))
    assert done.returncode == 0, done.stderr
    assert "pyhf workspace written to" in done.stdout
    pyhf_cli = Path(sys.executable).parent / "pyhf"
    fit = subprocess.run([str(pyhf_cli), "fit", "--value", str(ws_path)], capture_output=True, text=True, check=True)
    assert json.loads(fit.stdout)["mle_parameters"]["mu"][0] == pytest.approx(1.0, abs=1e-3)
    # mu = 10 (the example's MC statistics leave mu = 1 indistinguishable from 0: pyhf's CLs is 0/0)
    command = [str(pyhf_cli), "cls", "--test-poi", "10", str(ws_path)]
    cls = subprocess.run(command, capture_output=True, text=True, check=True)
    assert 0.0 < json.loads(cls.stdout)["CLs_obs"] < 1.0
    workspace = pyhf.Workspace(json.loads(ws_path.read_text()))
    modifiers = {m["type"] for c in workspace["channels"] for s in c["samples"] for m in s["modifiers"]}
    assert modifiers == {"normfactor", "histosys", "staterror"}
    # The significance, compared where it is well above the fit's tolerance: without MC statistics
    # (with them the example's Z is ~0.01, and q0 ~ 1e-4 is at the minimiser's precision).
    no_mc_path = run_dir / "ws_no_mc_stat.json"
    assert hepopt("workspace", str(config_path), "-o", str(no_mc_path), "--no-mc-stat", "--quiet").returncode == 0
    workspace = pyhf.Workspace(json.loads(no_mc_path.read_text()))
    model = workspace.model()
    backend = pyhf.get_backend()
    pyhf.set_backend("numpy", pyhf.optimize.scipy_optimizer())
    try:
        init = (model.config.suggested_init(), model.config.suggested_bounds(), model.config.suggested_fixed())
        z = float(np.sqrt(pyhf.infer.test_statistics.q0(0.0, workspace.data(model), model, *init)))
    finally:
        pyhf.set_backend(*backend)
    config = load_config(config_path)
    classifier = Classifier.load(run_dir / "results" / "optimize" / "best_model.pt")
    sets = TrainingSets.from_table(prepare_data(config, progress=False), config.data.split.rule(), config.seed)
    inputs = objective_inputs(classifier, sets.select(classifier.feature_names), "test")
    expected = RobustSignificance(mc_stat=False).evaluate(inputs)
    assert expected.value > 1.0
    assert z == pytest.approx(expected.value, rel=1e-5)
    stale = run_dir / "stale.yaml"
    stale.write_text(config_path.read_text().replace("seed: 3", "seed: 4"))
    refused = hepopt("workspace", str(stale))
    assert refused.returncode == 1
    assert "the optimize stage is not up to date with the config" in refused.stderr
