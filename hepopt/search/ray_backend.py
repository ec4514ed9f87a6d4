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
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import optuna

from hepopt.errors import ConfigError
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
    workers, listening on loopback only and without the dashboard. An already running Ray is
    reused."""
    import ray

    if ray.is_initialized():
        return
    from hepopt.signals import handler_kept

    address = config.search.ray_address or os.environ.get("RAY_ADDRESS")
    if not address:
        start_local_ray(config.search.workers)
        return
    with _ray_environment(local=False), handler_kept():
        wait_for_address(address, config.search.ray_connect_timeout)
        ray.init(address=address, include_dashboard=False, log_to_driver=False)


def start_local_ray(num_cpus: int) -> None:
    """A Ray of ``num_cpus`` CPUs in this process's tree, listening on 127.0.0.1 only, without the
    dashboard."""
    import ray

    from hepopt.signals import handler_kept

    with _ray_environment(local=True), handler_kept():
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")


@contextmanager
def _ray_environment(*, local: bool) -> Iterator[None]:
    """The environment Ray starts in, restored afterwards (the caller's process keeps its own).

    On Linux, Ray replaces a loopback node address by the machine's network address, and its
    servers (GCS, raylet, workers, agents) then listen on every interface: anyone who reaches the
    machine could run code in them. Ray's "no cluster" mode (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``,
    read by Ray's processes and, once imported, from ``ray_constants``) keeps a local Ray on
    127.0.0.1. ``RAY_AUTH_MODE=disabled``: no token file and warning for a private Ray.
    """
    from ray._private import ray_constants

    settings = {"RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "disabled")}
    if local:
        settings[ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR] = "0"
    before = {name: os.environ.get(name) for name in settings}
    cluster_mode = ray_constants.ENABLE_RAY_CLUSTER
    os.environ.update(settings)
    if local:
        ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = cluster_mode
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def wait_for_address(address: str, timeout: float) -> None:
    """Wait until ``address`` (``host:port`` or ``ray://host:port``) accepts connections, at most
    ``timeout`` s: Ray itself would retry for minutes, printing its reconnection noise.

    Raises:
        ConfigError: naming the address when nothing answers there in time.
    """
    import socket

    target = address.removeprefix("ray://")
    if target in ("auto", "local") or ":" not in target:
        return  # Ray finds these itself (a cluster started on this machine)
    host, _, port = target.rpartition(":")
    host = host.strip("[]")
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, int(port)), timeout=min(5.0, max(timeout, 0.1))):
                return
        except (OSError, ValueError) as err:
            if time.monotonic() >= deadline:
                msg = (
                    f"search.ray_address: nothing answers at {address} after {timeout:g} s ({err}); "
                    "is the Ray cluster up and reachable from here? (search.ray_connect_timeout sets the wait)"
                )
                raise ConfigError(msg) from None
        time.sleep(min(1.0, max(deadline - time.monotonic(), 0.0)))


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
                from hepopt.search.storage import open_storage

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

    from hepopt.search.storage import is_shared, storage_url
    from hepopt.search.study import driver_name
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
