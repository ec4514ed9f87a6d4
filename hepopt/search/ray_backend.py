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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import optuna

from hepopt.errors import ConfigError
from hepopt.search.execution import TrialRecord
from hepopt.search.parallel_trials import WORKER_DIED, execute_for_driver, run_parallel

if TYPE_CHECKING:
    from hepopt.config.schema import HepoptConfig
    from hepopt.scoring.trial import TrialRunner
    from hepopt.search.execution import TrialCallback
    from hepopt.search.space import SearchSpace

__all__ = ["WORKER_DIED", "ensure_ray", "run_on_ray", "start_local_ray"]


def ensure_ray(config: HepoptConfig) -> None:
    """Join ``search.ray_address`` (or ``RAY_ADDRESS``), or start a local Ray sized for the
    workers, listening on loopback only and without the dashboard. An already running Ray is
    reused."""
    import ray

    if ray.is_initialized():
        return
    from hepopt.runtime.cpus import trial_workers
    from hepopt.runtime.signals import handler_kept

    address = config.search.ray_address or os.environ.get("RAY_ADDRESS")
    if not address:
        start_local_ray(trial_workers(config.search.workers))
        return
    with _ray_environment(local=False), handler_kept():
        wait_for_address(address, config.search.ray_connect_timeout)
        ray.init(address=address, include_dashboard=False, log_to_driver=False)


def start_local_ray(num_cpus: int) -> None:
    """A Ray of ``num_cpus`` CPUs in this process's tree, listening on 127.0.0.1 only, without the
    dashboard."""
    import ray

    from hepopt.runtime.signals import handler_kept

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
            record = execute_for_driver(self.runner, params, overtraining, pruning)
            context = ray.get_runtime_context()
            record.attrs["ray_node"] = context.get_node_id()
            record.attrs["ray_cluster"] = context.gcs_address  # which cluster ran it
            return record

    return TrialWorker


class RayPool:
    """:class:`~hepopt.search.parallel_trials.WorkerPool` of Ray actors. The data enters the
    object store once, on the CPU: an actor given a GPU moves it there."""

    def __init__(self, runner: TrialRunner, size: int, threads: int, gpus: float) -> None:
        import ray

        self.size, self._threads, self._gpus = size, threads, gpus
        self._data = ray.put(runner.on_device("cpu"))
        self._actors = [self._new_actor() for _ in range(size)]
        self._running: dict[Any, int] = {}  # object ref -> slot

    def _new_actor(self) -> Any:
        return _worker_class().options(num_gpus=self._gpus).remote(self._data, self._threads, self._gpus)

    def submit(self, slot: int, params: dict[str, Any], overtraining: Any, pruning: dict[str, Any] | None) -> None:
        self._running[self._actors[slot].run.remote(params, overtraining, pruning)] = slot

    def wait(self) -> tuple[int, TrialRecord | None]:
        import ray
        from ray.exceptions import RayActorError

        (ref,), _ = ray.wait(list(self._running), num_returns=1)
        slot = self._running.pop(ref)
        try:
            return slot, ray.get(ref)
        except RayActorError:
            self._actors[slot] = self._new_actor()
            return slot, None

    def close(self) -> None:
        import ray

        for actor in self._actors:
            ray.kill(actor)
        self._running.clear()


def run_on_ray(
    study: optuna.Study,
    config: HepoptConfig,
    space: SearchSpace,
    runner: TrialRunner,
    n_trials: int,
    callbacks: list[TrialCallback],
    enough: Callable[[], bool] = lambda: False,
) -> None:
    """Run ``n_trials`` trials, ``search.workers`` (default: one per usable core) at a time, on Ray."""
    import ray

    from hepopt.runtime.cpus import trial_workers

    ensure_ray(config)
    workers = trial_workers(config.search.workers)
    threads = config.training.threads or max(1, int(ray.cluster_resources().get("CPU", workers)) // workers)
    pool = RayPool(runner, workers, threads, config.search.gpus_per_trial)
    run_parallel(study, config, space, runner, n_trials, callbacks, pool, enough)
