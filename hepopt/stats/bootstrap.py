"""The Poisson bootstrap over events: each replica weights every event by a Poisson(1) count, the
resampling of weighted simulation that keeps the histograms' shapes and needs no copying.

The count of an event is a hash of (seed, replica, dataset, event id), not a draw in array order:
an event and its varied copies (same dataset and event id) are resampled together, so a
systematic's templates move with their nominal histogram as they would in a new sample.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

# P(K <= k) for K ~ Poisson(1), k = 0 .. 19 (the rest, < 1e-18, counts as 20).
_CDF = np.cumsum([math.exp(-1) / math.factorial(k) for k in range(20)])


def poisson_counts(dataset: np.ndarray, event_id: np.ndarray, seed: int, replica: int) -> np.ndarray:
    """Poisson(1) counts, one per event, fixed by (seed, replica, dataset, event id)."""
    with np.errstate(over="ignore"):
        key = _mix(
            np.asarray(event_id, dtype=np.uint64) ^ _mix(np.asarray(dataset, dtype=np.uint64) + np.uint64(0x9E37))
        )
        key = _mix(key ^ np.uint64((seed * 1_000_003 + replica) & 0xFFFFFFFFFFFFFFFF))
    uniform = (key >> np.uint64(11)).astype(np.float64) * 2.0**-53
    return np.searchsorted(_CDF, uniform, side="right").astype(np.float64)


def spread(values: Iterable[float]) -> float:
    """The standard deviation of the replicas' values (the finite ones; NaN with fewer than 2)."""
    finite = np.array([v for v in values if math.isfinite(v)])
    return float(np.std(finite, ddof=1)) if len(finite) > 1 else math.nan


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: a well-spread 64-bit hash (wrapping arithmetic)."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))
