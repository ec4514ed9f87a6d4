"""Stages from the config: a team's own stage found through the ``hepopt.stages`` entry point,
manifests for finished, failed and interrupted stages, and unknown stage names."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hepopt.config import config_from_dict
from hepopt.errors import ConfigError
from hepopt.stages import StageContext, run_stages, stage_list

from helpers import analysis_config, write_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # ROOT files, coffea, trainings: seconds each

PLUGIN = '''
import json
from pathlib import Path

import numpy as np

from hepopt.stages import Stage


class SignalYield(Stage):
    """Expected signal and background above a cut on the best model's output (test split)."""

    name = "signal_yield"

    def inputs(self, config):
        return {"cut": 0.5}

    def run(self, context):
        from hepopt.training import Classifier
        from hepopt.training.sets import TrainingSets

        model = Classifier.load(Path(context.artifacts["optimize"]["best_model"]))
        sets = TrainingSets.from_table(context.table(), (0.5, 0.25, 0.25), context.config.seed)
        test = sets.test
        passed = model.predict(test.x * sets.scaler.scale + sets.scaler.mean) > 0.5
        out = {
            "signal": float(test.weights[passed & (test.labels == 1)].sum()),
            "background": float(test.weights[passed & (test.labels == 0)].sum()),
        }
        (context.folder("signal_yield") / "yields.json").write_text(json.dumps(out))
        return out
'''


def install_plugin(folder: Path) -> dict[str, str]:
    """A real distribution on PYTHONPATH (module + dist-info with its entry point), as pip would
    leave it; returns the environment for a subprocess that sees it."""
    folder.mkdir(parents=True)
    (folder / "team_stages.py").write_text(PLUGIN)
    info = folder / "team_stages-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: team-stages\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[hepopt.stages]\nsignal_yield = team_stages:SignalYield\n")
    return {**os.environ, "PYTHONPATH": f"{folder}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}


def test_a_registered_stage_runs_after_optimize(samples_dir: Path, tmp_path: Path) -> None:
    env = install_plugin(tmp_path / "site")
    raw = analysis_config(samples_dir, name="plugin_stage", stages=["prepare", "optimize", "signal_yield"])
    raw["search"]["n_trials"] = 2
    path = write_config(tmp_path / "run", raw)
    command = [sys.executable, "-m", "hepopt.cli", "optimize", str(path), "--quiet"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "run" / "results"
    manifest = json.loads((out / "signal_yield" / "manifest.json").read_text())
    assert manifest["state"] == "done"
    assert manifest["artifacts"] == json.loads((out / "signal_yield" / "yields.json").read_text())
    assert manifest["artifacts"]["signal"] > 0
    assert not (out / "export").exists()  # not in the listed stages
    status = subprocess.run(
        [sys.executable, "-m", "hepopt.cli", "status", str(path), "--json"],
        capture_output=True, text=True, env=env, timeout=300, check=True,
    )  # fmt: skip
    assert [row["stage"] for row in json.loads(status.stdout)] == ["prepare", "optimize", "signal_yield"]


def test_unknown_stage_names_the_key(samples_dir: Path) -> None:
    raw = analysis_config(samples_dir, stages=["prepare", "optimise"])
    with pytest.raises(ConfigError, match=r"hepopt.yaml: stages.1: unknown stage 'optimise'; installed: \["):
        stage_list(config_from_dict(raw, "hepopt.yaml"))


def test_failed_and_interrupted_stages_rerun(samples_dir: Path, tmp_path: Path) -> None:
    from hepopt.stages.base import Stage

    class Flaky(Stage):
        name = "flaky"
        calls = 0

        def run(self, context: StageContext) -> dict:
            Flaky.calls += 1
            if Flaky.calls == 1:
                msg = "first call fails"
                raise RuntimeError(msg)
            return {"events": len(context.table())}

    config = config_from_dict(analysis_config(samples_dir, name="flaky"), tmp_path / "hepopt.yaml")
    stages = [stage_list(config)[0], Flaky()]  # prepare, flaky
    with pytest.raises(RuntimeError):
        run_stages(StageContext(config, progress=False), stages)
    manifest = json.loads((tmp_path / "results" / "flaky" / "manifest.json").read_text())
    assert manifest["state"] == "failed"
    assert manifest["error"] == "RuntimeError: first call fails"
    seen: list[str] = []
    context = run_stages(StageContext(config, progress=False, on_stage=seen.append), stages)
    assert seen == ["prepare:skipped", "flaky"]  # prepare finished before: skipped; flaky reruns
    assert context.artifacts["flaky"]["events"] == context.artifacts["prepare"]["events"]
    # A stage whose process died mid-way stays 'running' and runs again.
    path = tmp_path / "results" / "flaky" / "manifest.json"
    path.write_text(json.dumps(json.loads(path.read_text()) | {"state": "running"}))
    seen.clear()
    run_stages(StageContext(config, progress=False, on_stage=seen.append), stages)
    assert seen == ["prepare:skipped", "flaky"]
    seen.clear()
    run_stages(StageContext(config, progress=False, on_stage=seen.append), stages)
    assert seen == ["prepare:skipped", "flaky:skipped"]
