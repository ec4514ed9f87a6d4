"""Independent calls side by side: in worker processes of this machine (the local backend) or as
Ray tasks (``search.backend: ray``), one torch thread each (see :mod:`hepopt.runtime.cpus`).

Used for work that is a bag of independent trainings (backward elimination's retrainings, the
cross-validation of the best trials). What every call shares (the prepared data) is sent to each
worker once per :class:`TaskPool` (local processes: torch moves its tensors to shared memory
instead of copying them; Ray: the object store).
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from typing import TYPE_CHECKING, Any

from hepopt.errors import TrainingError

if TYPE_CHECKING:
    from typing_extensions import Self

    from hepopt.config.schema import HepoptConfig

_SHARED: list[Any] = []  # in a local worker process: what every call shares


def _call_with_one_thread(fn: Callable[..., Any], shared: Any, *args: Any) -> Any:
    import torch

    torch.set_num_threads(1)  # one CPU per task: N tasks on N cores do not oversubscribe
    return fn(shared, *args)


def _start_local_worker(shared: Any, threads: int) -> None:
    import torch

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver handles Ctrl-C and stops the pool
    torch.set_num_threads(threads)
    _SHARED.append(shared)


def _call_local(fn: Callable[..., Any], *args: Any) -> Any:
    return fn(_SHARED[0], *args)


class TaskPool:
    """``map(fn, calls)`` gives ``[fn(shared, *args) for args in calls]``, in order."""

    def __init__(self, config: HepoptConfig, shared: Any) -> None:
        from hepopt.runtime.cpus import training_threads, trial_workers

        self.config = config
        self.shared = shared
        self.workers = trial_workers(config.search.workers)
        self.threads = training_threads(config.training.threads)
        self._ref: Any = None
        self._local: ProcessPoolExecutor | None = None

    @property
    def on_ray(self) -> bool:
        return self.config.search.backend == "ray"

    def map(self, fn: Callable[..., Any], calls: Sequence[tuple[Any, ...]]) -> list[Any]:
        # Locally, worker processes pay for their start-up (seconds) from two rounds of calls on.
        few = self._local is None and len(calls) < 2 * self.workers
        if len(calls) <= 1 or (not self.on_ray and (self.workers == 1 or few)):
            return [fn(self.shared, *args) for args in calls]
        if self.on_ray:
            return self._map_on_ray(fn, calls)
        if self._local is None:
            self._local = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=get_context("spawn"),  # no fork of a process whose torch threads run
                initializer=_start_local_worker,
                initargs=(self.shared, self.threads),
            )
        futures = [self._local.submit(_call_local, fn, *args) for args in calls]
        try:
            return [future.result() for future in futures]
        except BrokenProcessPool as err:
            self.close(stop=True)
            msg = "a worker process died (out of memory? killed?) while training; rerun the stage"
            raise TrainingError(msg) from err
        except BaseException:
            self.close(stop=True)  # Ctrl-C, an error: no worker goes on training
            raise

    def _map_on_ray(self, fn: Callable[..., Any], calls: Sequence[tuple[Any, ...]]) -> list[Any]:
        import ray

        from hepopt.search.ray_backend import ensure_ray

        ensure_ray(self.config)
        if self._ref is None:
            self._ref = ray.put(self.shared)
        task = ray.remote(num_cpus=1, max_retries=0)(_call_with_one_thread)
        return ray.get([task.remote(fn, self._ref, *args) for args in calls])

    def close(self, *, stop: bool = False) -> None:
        """End the local worker processes; ``stop``: at once, even mid-task (after an error)."""
        if self._local is None:
            return
        if stop:  # the executor has no public way to stop a running task
            for process in list((getattr(self._local, "_processes", None) or {}).values()):
                process.terminate()
        self._local.shutdown(wait=True, cancel_futures=True)
        self._local = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
