"""Figures of merit written out by hand, in plain numpy, for tests to check hepopt's numbers
against: nothing here imports hepopt."""

from __future__ import annotations

import numpy as np


def auc_by_pairs(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> float:
    """P(signal output > background output) over weighted pairs (|w|), ties counting one half."""
    w = np.abs(weights)
    bkg = labels == 0
    order = np.argsort(scores[bkg])
    b_scores, b_cum = scores[bkg][order], np.r_[0.0, np.cumsum(w[bkg][order])]
    s_scores, s_w = scores[~bkg], w[~bkg]
    below = b_cum[np.searchsorted(b_scores, s_scores, side="left")]
    tied = b_cum[np.searchsorted(b_scores, s_scores, side="right")] - below
    return float(np.sum(s_w * (below + 0.5 * tied)) / (s_w.sum() * b_cum[-1]))


def z_by_hand(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray, bins: int = 5) -> float:
    """Stat-only Asimov Z of equal bins in [0, 1]; from the top down, bins join until one holds
    >= 1e-3 background; the leftover at the bottom joins the lowest such group (hepopt's
    documented merging rule)."""
    s = np.histogram(scores[labels == 1], bins=bins, range=(0, 1), weights=weights[labels == 1])[0]
    b = np.histogram(scores[labels == 0], bins=bins, range=(0, 1), weights=weights[labels == 0])[0]
    groups: list[list[float]] = []
    acc = [0.0, 0.0]
    for i in range(bins - 1, -1, -1):
        acc = [acc[0] + s[i], acc[1] + b[i]]
        if acc[1] >= 1e-3:
            groups.append(acc)
            acc = [0.0, 0.0]
    groups[-1] = [groups[-1][0] + acc[0], groups[-1][1] + acc[1]]
    sm, bm = np.array(groups).T
    return float(np.sqrt(np.sum(2 * ((sm + bm) * np.log1p(sm / bm) - sm))))


def total_variation(
    a_scores: np.ndarray, a_weights: np.ndarray, b_scores: np.ndarray, b_weights: np.ndarray, bins: int
) -> float:
    """½ sum |p - q| of two weighted output shapes in equal bins of [0, 1]."""
    p = np.histogram(a_scores, bins=bins, range=(0, 1), weights=a_weights)[0]
    q = np.histogram(b_scores, bins=bins, range=(0, 1), weights=b_weights)[0]
    return float(0.5 * np.abs(p / p.sum() - q / q.sum()).sum())
