"""Discovery significance of a binned classifier output: closed form and pyhf.

Pure functions of signal and background yields per bin; nothing here knows of training or search.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

DEFAULT_MIN_BACKGROUND = 1e-3


def histogram(scores: np.ndarray, weights: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Weighted histogram of the classifier output; values on or past the outer edges count in
    the outer bins."""
    return np.histogram(np.clip(scores, edges[0], edges[-1]), bins=edges, weights=weights)[0]


def flat_signal_edges(scores: np.ndarray, weights: np.ndarray, n_bins: int) -> np.ndarray:
    """Edges in [0, 1] that give each of ``n_bins`` bins the same signal yield (weighted quantiles
    of the signal's output, |weights|): the "flat signal" binning of many analyses. Each inner
    edge lies halfway between the event that completes a bin and the next; ties can merge bins."""
    order = np.argsort(scores, kind="stable")
    x, cumulative = scores[order], np.cumsum(np.abs(weights[order]))
    targets = cumulative[-1] * np.arange(1, n_bins) / n_bins
    completing = np.clip(np.searchsorted(cumulative, targets), 0, len(x) - 2)
    inner = (x[completing] + x[completing + 1]) / 2
    return np.unique(np.r_[0.0, inner[(inner > 0) & (inner < 1)], 1.0])


def binned_yields(
    scores: np.ndarray, labels: np.ndarray, weights: np.ndarray, edges: Sequence[float] | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted histograms of the classifier output for signal (label 1) and background (0)."""
    edges = np.asarray(edges, dtype=np.float64)
    signal = labels == 1
    return histogram(scores[signal], weights[signal], edges), histogram(scores[~signal], weights[~signal], edges)


def merge_map(b: np.ndarray, min_background: float = DEFAULT_MIN_BACKGROUND) -> np.ndarray:
    """For each bin, the index of the merged bin it joins so that each has ``b >= min_background``.

    Bins are merged from the most signal-like one down; leftover low-score bins join the lowest
    merged bin. A bin with signal but (almost) no background would give an infinite
    significance; real analyses merge such bins, and so does hepopt.
    """
    group = np.empty(len(b), dtype=np.int64)
    n_groups, acc = 0, 0.0
    for i in range(len(b) - 1, -1, -1):  # a loop over bins (tens), not events
        group[i] = n_groups
        acc += b[i]
        if acc >= min_background:
            n_groups, acc = n_groups + 1, 0.0
    if n_groups == 0:
        return np.zeros(len(b), dtype=np.int64)
    group = np.minimum(group, n_groups - 1)  # the leftover joins the lowest closed group
    return (n_groups - 1) - group  # number merged bins in increasing score order


def apply_merge(histogram: np.ndarray, mapping: np.ndarray) -> np.ndarray:
    return np.bincount(mapping, weights=histogram, minlength=int(mapping.max()) + 1)


def merge_low_background(
    s: np.ndarray, b: np.ndarray, min_background: float = DEFAULT_MIN_BACKGROUND
) -> tuple[np.ndarray, np.ndarray]:
    """Signal and background histograms merged with :func:`merge_map` of the background."""
    mapping = merge_map(b, min_background)
    return apply_merge(s, mapping), apply_merge(b, mapping)


def asimov_q0(s: np.ndarray, b: np.ndarray) -> float:
    """q0 = sum_i 2((s_i + b_i) ln(1 + s_i/b_i) - s_i): the discovery test statistic on Asimov
    data, stat only (Cowan et al. 2011)."""
    s, b = np.asarray(s, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.sum(2.0 * ((s + b) * np.log1p(s / b) - s)))


def asimov_significance_closed_form(s: np.ndarray, b: np.ndarray) -> float:
    """Z = sqrt(q0) of :func:`asimov_q0`."""
    return float(np.sqrt(asimov_q0(s, b)))


def stat_only_spec(s: np.ndarray, b: np.ndarray) -> dict[str, Any]:
    """A pyhf workspace spec: signal scaled by a free ``mu``, background fixed, no constraints."""
    return {
        "channels": [
            {
                "name": "classifier_output",
                "samples": [
                    {
                        "name": "signal",
                        "data": [float(x) for x in s],
                        "modifiers": [{"name": "mu", "type": "normfactor", "data": None}],
                    },
                    {"name": "background", "data": [float(x) for x in b], "modifiers": []},
                ],
            }
        ]
    }


@contextmanager
def _numpy_scipy_backend() -> Iterator[None]:
    """Use pyhf's numpy backend with the scipy optimizer here only, restoring the caller's."""
    import pyhf

    previous = pyhf.get_backend()
    # minuit with iminuit >= 2.32 crashes on a POI-only model: scipy works (environment notes).
    pyhf.set_backend("numpy", pyhf.optimize.scipy_optimizer())
    try:
        yield
    finally:
        pyhf.set_backend(*previous)


def pyhf_asimov_significance(s: np.ndarray, b: np.ndarray) -> float:
    """Stat-only Asimov discovery significance from a pyhf fit: Z0 = sqrt(q0) on Asimov data.

    The Asimov data set is the expected ``s + b``; q0 is pyhf's discovery test statistic (profile
    likelihood ratio at mu = 0). sqrt(q0) is used rather than Phi^-1(1 - p0), which is the same
    number asymptotically but overflows to infinity above ~8 sigma.
    """
    import pyhf

    s = np.clip(np.asarray(s, dtype=np.float64), 0.0, None)
    b = np.asarray(b, dtype=np.float64)
    if np.any(b <= 0):
        msg = "every bin needs a positive background; merge bins first (merge_low_background)"
        raise ValueError(msg)
    with _numpy_scipy_backend():
        model = pyhf.Model(stat_only_spec(s, b), poi_name="mu", validate=False)
        data = pyhf.tensorlib.astensor([*(s + b), *model.config.auxdata])
        q0 = pyhf.infer.test_statistics.q0(
            0.0,
            data,
            model,
            model.config.suggested_init(),
            model.config.suggested_bounds(),
            model.config.suggested_fixed(),
        )
    return float(np.sqrt(max(float(q0), 0.0)))
