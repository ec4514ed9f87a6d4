"""Independent calls run in this process or, with ``search.backend: ray``, as Ray tasks.

Used for work that is a bag of independent trainings (e.g. backward elimination's retrainings).
What every call shares (the prepared data) enters the object store once per :class:`TaskPool`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hepopt.config.schema import HepoptConfig


def _call_with_one_thread(fn: Callable[..., Any], shared: Any, *args: Any) -> Any:
    import torch

    torch.set_num_threads(1)  # one CPU per task: N tasks on N cores do not oversubscribe
    return fn(shared, *args)


class TaskPool:
    """``map(fn, calls)`` gives ``[fn(shared, *args) for args in calls]``, in order."""

    def __init__(self, config: HepoptConfig, shared: Any) -> None:
        self.config = config
        self.shared = shared
        self._ref: Any = None

    @property
    def on_ray(self) -> bool:
        return self.config.search.backend == "ray"

    def map(self, fn: Callable[..., Any], calls: Sequence[tuple[Any, ...]]) -> list[Any]:
        if not self.on_ray or len(calls) <= 1:
            return [fn(self.shared, *args) for args in calls]
        import ray

        from hepopt.search.ray_backend import ensure_ray

        ensure_ray(self.config)
        if self._ref is None:
            self._ref = ray.put(self.shared)
        task = ray.remote(num_cpus=1, max_retries=0)(_call_with_one_thread)
        return ray.get([task.remote(fn, self._ref, *args) for args in calls])
