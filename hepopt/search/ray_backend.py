"""Trials in parallel on Ray: an embedded local Ray by default, or an existing cluster.

The driver keeps the study: it asks Optuna for each trial's parameters and tells it the result,
so only the driver touches the storage (SQLite is safe), except for per-epoch pruning reports,
which a worker writes through its own storage connection. The prepared data goes to the object
store once (``ray.put``) and each worker actor deserialises it once, not once per trial. Each
worker sets its torch threads to its share of the CPUs, so N workers on N cores do not
oversubscribe. A worker that dies mid-trial (killed, out of memory) fails that trial with the
reason and is replaced; the study goes on.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

import optuna

from hepopt.search.constraints import report_constraints
from hepopt.search.execution import COMPLETE, FAIL, PRUNED, TrialRecord, execute_trial, pruning_reporter

if TYPE_CHECKING:
    from hepopt.config.schema import HepoptConfig
    from hepopt.search.space import SearchSpace
    from hepopt.search.study import TrialCallback
    from hepopt.search.trial import TrialRunner

WORKER_DIED = "worker died during the trial"


def ensure_ray(config: HepoptConfig) -> None:
    """Join ``search.ray_address`` (or ``RAY_ADDRESS``), or start a local Ray sized for the
    workers, on loopback and without the dashboard. An already running Ray is reused."""
    import ray

    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # no token file and warning for a private Ray
    address = config.search.ray_address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    else:
        ray.init(
            num_cpus=config.search.workers,
            include_dashboard=False,
            log_to_driver=False,
            _node_ip_address="127.0.0.1",
        )


def _worker_class() -> Any:
    import ray

    @ray.remote(num_cpus=1, max_restarts=0)
    class TrialWorker:
        """Holds the prepared data (deserialised once) and runs trials one at a time."""

        def __init__(self, runner: TrialRunner, threads: int, gpus: float) -> None:
            import torch

            torch.set_num_threads(threads)
            # Ray shows a worker only the GPU share it asked for (CUDA_VISIBLE_DEVICES).
            self.runner = runner.on_device("cuda") if gpus > 0 and torch.cuda.is_available() else runner

        def pid(self) -> int:
            return os.getpid()

        def run(self, params: dict[str, Any], overtraining: Any, pruning: dict[str, Any] | None) -> TrialRecord:
            from hepopt.training.params import TrainParams

            train_params = TrainParams.from_mapping(params)
            reporter = None
            if pruning is not None:
                from hepopt.search.samplers import make_pruner
                from hepopt.search.study import open_storage

                study = optuna.load_study(
                    study_name=pruning["study"],
                    storage=open_storage(pruning["storage"]),
                    pruner=make_pruner(pruning["pruner"], pruning["max_epochs"]),
                )
                trial = optuna.trial.Trial(study, pruning["trial_id"])
                reporter = pruning_reporter(trial, self.runner, train_params)
            record = execute_trial(self.runner, train_params, overtraining, reporter)
            context = ray.get_runtime_context()
            record.attrs["worker_pid"] = os.getpid()
            record.attrs["ray_node"] = context.get_node_id()
            record.attrs["ray_cluster"] = context.gcs_address  # which cluster ran it
            if record.classifier is not None:  # send plain tensors back, not a live module
                record.attrs["_payload"] = record.classifier.payload()
                record.classifier = None
            return record

    return TrialWorker


def run_on_ray(
    study: optuna.Study,
    config: HepoptConfig,
    space: SearchSpace,
    runner: TrialRunner,
    n_trials: int,
    callbacks: list[TrialCallback],
) -> None:
    """Run ``n_trials`` trials, ``search.workers`` at a time, on Ray."""
    import ray
    from ray.exceptions import RayActorError

    from hepopt.search.study import driver_name, is_shared, storage_url
    from hepopt.search.trial import trial_model_path
    from hepopt.training.classifier import save_payload

    ensure_ray(config)
    shared = is_shared(storage_url(config))
    n_workers = config.search.workers
    threads = max(1, int(ray.cluster_resources().get("CPU", n_workers)) // n_workers)
    worker_class = _worker_class()
    # The data enters the object store once, on the CPU: workers given a GPU move it there.
    runner_ref = ray.put(runner.on_device("cpu"))
    gpus = config.search.gpus_per_trial

    def new_worker() -> Any:
        return worker_class.options(num_gpus=gpus).remote(runner_ref, threads, gpus)

    idle = [new_worker() for _ in range(n_workers)]
    pending: dict[Any, tuple[optuna.Trial, Any]] = {}
    launched, start = 0, time.monotonic()
    max_epochs = space.baseline().get("max_epochs", 50)

    def out_of_time() -> bool:
        return config.search.timeout is not None and time.monotonic() - start > config.search.timeout

    while pending or (launched < n_trials and not out_of_time()):
        while idle and launched < n_trials and not out_of_time():
            trial = study.ask()
            if shared:  # which of the drivers sharing the study runs it
                trial.set_user_attr("driver", driver_name())
            params = space.sample(trial).to_dict()
            pruning = None
            if config.search.pruner != "none":
                pruning = {
                    "study": study.study_name,
                    "storage": storage_url(config),
                    "pruner": config.search.pruner,
                    "max_epochs": max_epochs,
                    "trial_id": trial._trial_id,
                }
            worker = idle.pop()
            pending[worker.run.remote(params, config.search.overtraining, pruning)] = (trial, worker)
            launched += 1
        if not pending:
            break
        done, _ = ray.wait(list(pending), num_returns=1)
        for ref in done:
            trial, worker = pending.pop(ref)
            try:
                record = ray.get(ref)
            except RayActorError:
                record = TrialRecord(FAIL, attrs={"fail_reason": WORKER_DIED})
                worker = new_worker()
            payload = record.attrs.pop("_payload", None)
            for key, value in record.attrs.items():
                trial.set_user_attr(key, value)
            report_constraints(trial, runner.constraints, record.attrs)
            if record.state == COMPLETE:
                save_payload(payload, trial_model_path(config.search_dir, trial.number))
                study.tell(trial, list(record.values) if len(record.values) > 1 else record.values[0])
            elif record.state == PRUNED:
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            else:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            idle.append(worker)
            frozen = study._storage.get_trial(trial._trial_id)
            for callback in callbacks:
                callback(study, frozen)
