"""The example plugin package in plugins/ installed with pip as a team would, then used by name
from a config file; its value checked against a hand computation on the saved model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hepopt.config import load_config
from hepopt.data.stage import prepare_data
from hepopt.training import Classifier
from hepopt.training.sets import TrainingSets
from hepopt.training.trainer import predict_proba

from helpers import ROOT, analysis_config, total_variation, write_config, z_by_hand

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # ROOT files, coffea, trainings: seconds each

PLUGIN = ROOT / "plugins" / "hepopt-shift-penalty"


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """pip builds and installs the package (entry point and all) into a folder of its own;
    subprocesses with it on PYTHONPATH see the plugin, this process does not."""
    site = tmp_path_factory.mktemp("site")
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation"]
    done = subprocess.run([*command, "--target", str(site), str(PLUGIN)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert (site / "hepopt_shift_penalty" / "__init__.py").is_file()
    return {**os.environ, "PYTHONPATH": str(site), "COLUMNS": "200"}


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=600, check=False
    )


def test_the_installed_plugin_is_listed_and_passes_its_own_tests(plugin_env: dict[str, str], tmp_path: Path) -> None:
    listed = run(["-m", "hepopt.cli", "objectives"], plugin_env, tmp_path)
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if "penalised_significance" in line)
    assert "maximize" in row
    assert "hepopt-shift-penalty" in row
    assert "0.1.0" in row
    # Its tests (hepopt's contract suite and a hand computation) on the installed copy: run from
    # elsewhere so that the source folder is not what gets imported.
    tested = run(["-m", "pytest", "-q", "-p", "no:cacheprovider", str(PLUGIN / "tests")], plugin_env, tmp_path)
    assert tested.returncode == 0, tested.stdout[-3000:]
    assert " passed" in tested.stdout


def test_an_optimization_uses_the_plugin_by_name(plugin_env: dict[str, str], samples_dir: Path, tmp_path: Path) -> None:
    raw = analysis_config(
        samples_dir,
        name="team_objective",
        export=None,
        objective={"name": "penalised_significance", "options": {"penalty": 2.0, "bins": 5}},
    )
    raw["search"]["n_trials"] = 2
    path = write_config(tmp_path, raw)
    done = run(["-m", "hepopt.cli", "optimize", str(path), "--quiet"], plugin_env, tmp_path)
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "results" / "optimize" / "summary.json").read_text())
    assert summary["objectives"] == ["penalised_significance"]

    # The best trial's value by hand: Z of its validation output x (1 - 2 x the largest shape
    # change over variations and classes).
    config = load_config(path)
    split = config.data.split
    table = prepare_data(config, progress=False)
    sets = TrainingSets.from_table(table, (split.train, split.validation, split.test), config.seed)
    model = Classifier.load(tmp_path / "results" / "optimize" / "best_model.pt").model
    nominal = sets.validation
    scores = predict_proba(model, nominal.x_tensor)
    shifts = []
    for name, varied in sets.varied["validation"].items():
        v_scores = predict_proba(model, varied.x_tensor)
        affected = np.isin(nominal.dataset, sets.affected[name])
        for label in (0, 1):
            nom, var = affected & (nominal.labels == label), varied.labels == label
            shifts.append(total_variation(scores[nom], nominal.weights[nom], v_scores[var], varied.weights[var], 5))
    expected = z_by_hand(scores, nominal.labels, nominal.weights) * (1 - 2.0 * max(shifts))
    assert summary["best"]["validation"][0] == pytest.approx(expected, rel=1e-6)
    assert 0 < max(shifts) < 0.5
