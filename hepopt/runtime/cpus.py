"""How many cores this process may use, and how many threads a training gets.

Shared machines are the norm (a login node, a batch slot beside other jobs, a laptop): the count
is what the process is *given* (its CPU affinity, e.g. a Slurm slot of 4 cores on a 64-core node,
and its cgroup's CPU quota), never ``os.cpu_count()``.

A training uses one torch thread unless ``training.threads`` says otherwise: the intra-op threads
of a small network meet at every operation, and when another process holds a core they wait for
it (measured here: a 3 x 64 MLP epoch loop 4x slower with 2 threads than with 1 beside two busy
processes; the same speed on a quiet machine). Cores are used by running trials (and the
elimination's retrainings) side by side instead, one process each.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_V2 = Path("/sys/fs/cgroup/cpu.max")
CGROUP_V1 = (Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"), Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us"))


def usable_cpus() -> int:
    """The cores this process may run on: its affinity, capped by its cgroup's CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cores = os.cpu_count() or 1
    quota = _cgroup_quota()
    if quota is not None:
        cores = min(cores, max(1, math.ceil(quota)))
    return max(1, cores)


def _cgroup_quota() -> float | None:
    """CPUs allowed by the cgroup (``cpu.max`` or v1's quota/period), None when unlimited."""
    try:
        if CGROUP_V2.is_file():
            quota, _, period = CGROUP_V2.read_text().partition(" ")
            return None if quota.strip() == "max" else int(quota) / int(period)
        quota_file, period_file = CGROUP_V1
        if quota_file.is_file() and period_file.is_file():
            quota_us = int(quota_file.read_text())
            return None if quota_us <= 0 else quota_us / int(period_file.read_text())
    except (OSError, ValueError):
        return None
    return None


def trial_workers(configured: int | None) -> int:
    """Trials (or retrainings) run side by side: ``search.workers``, else one per usable core."""
    return configured if configured is not None else usable_cpus()


def training_threads(configured: int | None) -> int:
    """torch threads of one training: ``training.threads``, else one (see the module's text)."""
    return configured if configured is not None else 1
