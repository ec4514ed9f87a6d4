"""The classifier output binned: weighted histograms, flat-signal edges, and the merging of
low-background bins that every binned significance applies (:func:`merged_yields`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

DEFAULT_MIN_BACKGROUND = 1e-3


def histogram(scores: np.ndarray, weights: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Weighted histogram of the classifier output; values on or past the outer edges count in
    the outer bins."""
    return np.histogram(np.clip(scores, edges[0], edges[-1]), bins=edges, weights=weights)[0]


def flat_signal_edges(scores: np.ndarray, weights: np.ndarray, n_bins: int) -> np.ndarray:
    """Edges in [0, 1] that give each of ``n_bins`` bins the same signal yield (weighted quantiles
    of the signal's output, absolute weights): the "flat signal" binning of many analyses. Each inner
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


def merged_yields(
    scores: np.ndarray,
    labels: np.ndarray,
    weights: np.ndarray,
    edges: Sequence[float] | np.ndarray,
    min_background: float = DEFAULT_MIN_BACKGROUND,
) -> tuple[np.ndarray, np.ndarray]:
    """Signal and background yields per bin, low-background bins merged: what a binned
    significance is computed from."""
    s, b = binned_yields(scores, labels, weights, edges)
    return merge_low_background(s, b, min_background)
