"""hepopt runs inside other people's processes (a notebook, a coffea workflow): what it changes
for a run it gives back afterwards.

:func:`caller_state_kept` wraps the Python API (``hepopt.optimize``, ``hepopt.eliminate``): the
torch thread count a run sets, environment variables, ``sys.path``, matplotlib's rcParams, the
SIGTERM handler, and a local Ray the run started (shut down again; a Ray the caller started is
left running).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def caller_state_kept() -> Iterator[None]:
    """Restore, on the way out (error or not), what a run may have changed in this process."""
    import torch

    main = threading.current_thread() is threading.main_thread()
    sigterm = signal.getsignal(signal.SIGTERM) if main else None  # ray.init replaces it
    threads = torch.get_num_threads()
    environment = dict(os.environ)
    path = list(sys.path)
    rc = _rc_params()
    ray_before = _ray_running()
    try:
        yield
    finally:
        if not ray_before and _ray_running():
            import ray

            ray.shutdown()
        if main and sigterm is not None and signal.getsignal(signal.SIGTERM) is not sigterm:
            signal.signal(signal.SIGTERM, sigterm)
        torch.set_num_threads(threads)
        if dict(os.environ) != environment:
            os.environ.clear()
            os.environ.update(environment)
        sys.path[:] = path
        if rc is not None:
            import matplotlib

            params: dict[str, Any] = matplotlib.rcParams  # type: ignore[assignment]  # keys typed as literals
            changed = {k: v for k, v in rc.items() if k != "backend" and params.get(k) != v}
            params.update(changed)


def _rc_params() -> dict[str, object] | None:
    if "matplotlib" not in sys.modules:
        return None
    import matplotlib

    params: dict[str, object] = matplotlib.rcParams  # type: ignore[assignment]  # keys typed as literals
    return dict(params)


def _ray_running() -> bool:
    ray = sys.modules.get("ray")
    return bool(ray is not None and ray.is_initialized())
