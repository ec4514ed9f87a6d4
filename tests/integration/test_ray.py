"""Trials on a real local Ray (two workers): parallel, reproducible, pruned, and surviving a
worker killed mid-trial."""

from __future__ import annotations

import csv
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from optuna.trial import TrialState

from hepopt.config import config_from_dict
from hepopt.data.stage import prepare_data
from hepopt.objectives import Objective, ObjectiveInputs, ObjectiveResult, make_objective
from hepopt.scoring.constraints import Constraint
from hepopt.scoring.trial import TrialRunner, trial_model_path
from hepopt.search.ray_backend import WORKER_DIED
from hepopt.search.space import SearchSpace
from hepopt.search.study import run_search
from hepopt.training import Classifier
from hepopt.training.adversary import spec_from_config
from hepopt.training.sets import TrainingSets
from hepopt.training.trainer import predict_proba

from helpers import LOOPBACK, analysis_config, auc_by_pairs, hepopt, listening_sockets, write_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # ROOT files, coffea, trainings: seconds each


@pytest.fixture(scope="module")
def local_ray() -> object:
    import ray

    from hepopt.search.ray_backend import start_local_ray

    start_local_ray(2)  # as hepopt starts it: on loopback only
    # Objectives defined in this test module travel to the workers by value.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield ray
    ray.shutdown()


def setup(
    samples_dir: Path,
    folder: Path,
    objective: Objective | None = None,
    raw: dict | None = None,
    constraints: tuple[Constraint, ...] = (),
    **search: object,
) -> tuple:
    raw = raw or analysis_config(samples_dir, name=folder.name)
    raw["search"] = {"bootstrap": 10, "backend": "ray", "workers": 2, **search}
    config = config_from_dict(raw, folder / "hepopt.yaml")
    table = prepare_data(config, progress=False)
    sets = TrainingSets.from_table(table, (0.5, 0.25, 0.25), config.seed)
    objective = objective or make_objective("asimov_significance")
    adversary = spec_from_config(config.adversary, table.systematic_names) if config.adversary else None
    runner = TrialRunner(sets, (objective,), "abs", config.seed, adversary, constraints)
    return config, SearchSpace.from_config(config.model), runner


def reported(folder: Path) -> list[dict]:
    """Every epoch a PBT member reported, with the hyperparameters it had then."""
    with (folder / "results" / "finetune" / "history.csv").open() as handle:
        return [{k: v if k == "member" else float(v) for k, v in row.items()} for row in csv.DictReader(handle)]


def test_trials_run_in_parallel_on_two_workers(local_ray: object, samples_dir: Path, tmp_path: Path) -> None:
    good = {"learning_rate": 5e-3, "n_layers": 2, "units": 32, "batch_size": 256}
    bad = {"learning_rate": 1.01e-3, "n_layers": 1, "units": 16, "batch_size": 1024, "signal_weight": 0.5}
    auc_above = Constraint(make_objective("roc_auc"), low=0.9, key="constraint: roc_auc")
    config, space, runner = setup(
        samples_dir,
        tmp_path / "parallel",
        constraints=(auc_above,),
        pruner="median",
        enqueue=[good, good, good, bad, bad, bad],
    )
    seen = []
    outcome = run_search(config, space, runner, n_trials=6, callbacks=[lambda s, t: seen.append(t.number)])
    trials = outcome.study.get_trials()
    assert sorted(seen) == list(range(6))  # progress callbacks fire for every trial
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len({t.user_attrs["worker_pid"] for t in trials}) == 2
    assert os.getpid() not in {t.user_attrs["worker_pid"] for t in trials}
    overlapping = any(
        a.datetime_start < b.datetime_complete and b.datetime_start < a.datetime_complete
        for i, a in enumerate(trials)
        for b in trials[i + 1 :]
    )
    assert overlapping  # two trials ran at the same time
    for trial in complete:  # the model the worker sent back reproduces the value it reported
        classifier = Classifier.load(trial_model_path(config.search_dir, trial.number))
        assert runner.score(classifier, "validation")[0].value == pytest.approx(trial.value, rel=1e-6)
        assert trial.value == pytest.approx(trial.intermediate_values[trial.user_attrs["best_epoch"]], rel=1e-9)
        # The constraint computed in the worker reaches Optuna through the driver.
        val = runner.sets.validation
        auc = auc_by_pairs(predict_proba(classifier.model, val.x_tensor), val.labels, val.weights)
        assert trial.constraints == pytest.approx({"roc_auc": 0.9 - auc}, abs=1e-6)
    assert any(t.state == TrialState.PRUNED for t in trials)  # pruning works from the workers
    assert all(not t.constraints for t in trials if t.state == TrialState.PRUNED)  # never scored


class KillsItsWorker(Objective):
    """Kills the worker process the first time it runs (a marker file remembers), like an OOM kill."""

    name = "kills_its_worker"

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def evaluate(self, inputs: ObjectiveInputs) -> ObjectiveResult:
        if not Path(self.marker).exists():
            Path(self.marker).write_text("killed once")
            os.kill(os.getpid(), signal.SIGKILL)
        return ObjectiveResult(float(inputs.scores.mean()))


def test_a_killed_worker_fails_its_trial_and_the_study_goes_on(
    local_ray: object, samples_dir: Path, tmp_path: Path
) -> None:
    objective = KillsItsWorker(str(tmp_path / "marker"))
    config, space, runner = setup(samples_dir, tmp_path / "killed", objective=objective)
    outcome = run_search(config, space, runner, n_trials=4)
    trials = outcome.study.get_trials()
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert len(failed) == 1
    assert failed[0].user_attrs["fail_reason"] == WORKER_DIED
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 3


def test_population_based_finetuning_after_the_search(local_ray: object, samples_dir: Path, tmp_path: Path) -> None:
    from hepopt.search.finetune import finetune

    config, space, runner = setup(samples_dir, tmp_path / "pbt")
    raw = config.model_dump(by_alias=True)
    raw["finetune"] = {"population": 2, "epochs": 4, "perturbation_interval": 2}
    config = config_from_dict(raw, tmp_path / "pbt" / "hepopt.yaml")
    outcome = run_search(config, space, runner, n_trials=3)
    result = finetune(config, space, runner, outcome.study)
    best = outcome.study.best_trial
    assert result.search_validation == pytest.approx(best.value)
    reloaded = Classifier.load(result.model_path)  # an ordinary classifier file
    assert runner.score(reloaded, "validation")[0].value == pytest.approx(result.validation, rel=1e-6)
    assert runner.score(reloaded, "test")[0].value == pytest.approx(result.test, rel=1e-6)
    for key in ("n_layers", "units", "activation"):  # the population keeps the best trial's architecture
        assert result.params[key] == {**space.baseline(), **best.params}[key]
    # The best checkpoint is the best reported epoch of any member.
    rows = reported(tmp_path / "pbt")
    values = [row["objective"] for row in rows]
    # Every member trained to the end (one that copied a member ahead of it skips epochs).
    last_epochs = {row["member"]: row["epoch"] for row in rows}  # rows are sorted by member, epoch
    assert list(last_epochs.values()) == [4.0, 4.0]
    assert result.validation == pytest.approx(max(values), rel=1e-6)


def test_population_based_training_perturbs_the_adversary_strength(
    local_ray: object, samples_dir: Path, tmp_path: Path
) -> None:
    from hepopt.search.finetune import finetune

    raw = analysis_config(samples_dir, name="pbt_adv")
    raw["adversary"] = {"variations": ["jes_up", "jes_down"]}
    raw["model"]["space"].update(
        {
            "adv_lambda": {"type": "float", "low": 1.0, "high": 10.0, "log": True},
            "adv_pretrain_epochs": 1,
            "adv_epochs": 2,
        }
    )
    raw["finetune"] = {"population": 2, "epochs": 3, "perturbation_interval": 1}
    config, space, runner = setup(samples_dir, tmp_path, raw=raw, sampler="random")
    outcome = run_search(config, space, runner, n_trials=2)
    result = finetune(config, space, runner, outcome.study)
    rows = reported(tmp_path)
    assert list({row["member"]: row["epoch"] for row in rows}.values()) == [3.0, 3.0]  # both trained to the end
    assert all(row["adv_loss"] > 0 for row in rows)  # members play the adversarial game
    starting = {round(t.params["adv_lambda"], 9) for t in outcome.study.trials}
    seen = {round(row["adv_lambda"], 9) for row in rows}
    assert seen - starting  # PBT perturbed lambda beyond the search's values ...
    assert round(result.params["adv_lambda"], 9) in seen  # ... and the kept model has one of them
    reloaded = Classifier.load(result.model_path)
    assert runner.score(reloaded, "validation")[0].value == pytest.approx(result.validation, rel=1e-6)
    assert result.validation == pytest.approx(max(row["objective"] for row in rows), rel=1e-6)


def test_elimination_retrains_on_ray_tasks(local_ray: object, samples_dir: Path, tmp_path: Path) -> None:
    from hepopt.api import eliminate

    from helpers import NOISE, elimination_config

    raw = elimination_config(samples_dir, method="retrain", min_variables=3)
    raw["search"] = {"bootstrap": 10, "backend": "ray", "workers": 2}
    result = eliminate(config_from_dict(raw, tmp_path / "hepopt.yaml"), progress=False).result
    assert result is not None
    first_three = [it.dropped[0] for it in result.iterations[:3]]
    assert set(first_three) - {"ht", "ht_copy"} == set(NOISE)


def _pid_and_sum(shared: object, offset: int) -> tuple[int, int, int]:
    import torch

    return os.getpid(), int(shared.sum()) + offset, torch.get_num_threads()  # type: ignore[attr-defined]


def test_task_pool_runs_calls_as_ray_tasks_in_order(local_ray: object, samples_dir: Path, tmp_path: Path) -> None:
    import numpy as np

    from hepopt.search.task_pool import TaskPool

    raw = analysis_config(samples_dir)
    raw["search"] = {"bootstrap": 10, "backend": "ray", "workers": 2}
    pool = TaskPool(config_from_dict(raw, tmp_path / "hepopt.yaml"), np.arange(10))
    results = pool.map(_pid_and_sum, [(i,) for i in range(6)])
    assert [value for _, value, _ in results] == [45 + i for i in range(6)]
    assert os.getpid() not in {pid for pid, _, _ in results}  # each call ran in a Ray worker ...
    assert {threads for _, _, threads in results} == {1}  # ... with one torch thread


def test_the_embedded_ray_listens_on_loopback_only(samples_dir: Path, tmp_path: Path) -> None:
    """Ray replaces a loopback node address by the machine's and listens everywhere unless told
    otherwise: hepopt's local Ray (GCS, raylet, workers, agents, the driver) must not."""
    raw = analysis_config(samples_dir, name="loopback", export=None)
    raw["search"] = {"bootstrap": 10, "backend": "ray", "workers": 1, "n_trials": 1}
    path = write_config(tmp_path, raw)
    driver = subprocess.Popen(
        [sys.executable, "-m", "hepopt.cli", "optimize", str(path), "--quiet"], stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    seen: set[tuple[str, int, str]] = set()
    while driver.poll() is None:
        seen |= listening_sockets(driver.pid)
        time.sleep(0.2)
    assert driver.returncode == 0, driver.stderr.read() if driver.stderr else ""
    names = {name for _, _, name in seen}
    assert "gcs_server" in names
    assert "raylet" in names
    assert {(ip, port, name) for ip, port, name in seen if ip not in LOOPBACK} == set()


def test_an_unreachable_ray_address_is_one_line_after_a_bounded_wait(samples_dir: Path, tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    raw = analysis_config(samples_dir, name="nowhere", export=None)
    raw["search"] = {"bootstrap": 10, "ray_connect_timeout": 2, "n_trials": 1}
    path = write_config(tmp_path, raw)
    done = hepopt("optimize", str(path), "--quiet", "--ray-address", f"127.0.0.1:{port}")
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"hepopt: error: search.ray_address: nothing answers at 127.0.0.1:{port} after 2 s (")
