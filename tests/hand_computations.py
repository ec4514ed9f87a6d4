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


def closed_form(s: np.ndarray, b: np.ndarray) -> float:
    """Z = sqrt(sum 2((s+b) ln(1+s/b) - s)), Cowan et al. (2011)."""
    return float(np.sqrt(np.sum(2 * ((s + b) * np.log(1 + s / b) - s))))


def merge_from_top(s: np.ndarray, b: np.ndarray, floor: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """From the most signal-like bin down, bins join until the group holds >= ``floor``
    background; what is left at the bottom joins the lowest group (hepopt's documented rule)."""
    groups: list[list[int]] = [[]]
    for i in range(len(b) - 1, -1, -1):
        groups[-1].append(i)
        if b[groups[-1]].sum() >= floor:
            groups.append([])
    if not groups[-1]:
        groups.pop()
    elif len(groups) > 1:
        leftover = groups.pop()  # (not `groups[-2] += groups.pop()`: the index would shift)
        groups[-1] += leftover
    return np.array([s[g].sum() for g in groups]), np.array([b[g].sum() for g in groups])


def z_by_hand(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray, bins: int = 5) -> float:
    """Stat-only Asimov Z of equal bins in [0, 1], low-background bins merged from the top."""
    s = np.histogram(scores[labels == 1], bins=bins, range=(0, 1), weights=weights[labels == 1])[0]
    b = np.histogram(scores[labels == 0], bins=bins, range=(0, 1), weights=weights[labels == 0])[0]
    return closed_form(*merge_from_top(s, b))


def total_variation(
    a_scores: np.ndarray, a_weights: np.ndarray, b_scores: np.ndarray, b_weights: np.ndarray, bins: int
) -> float:
    """½ sum |p - q| of two weighted output shapes in equal bins of [0, 1]."""
    p = np.histogram(a_scores, bins=bins, range=(0, 1), weights=a_weights)[0]
    q = np.histogram(b_scores, bins=bins, range=(0, 1), weights=b_weights)[0]
    return float(0.5 * np.abs(p / p.sum() - q / q.sum()).sum())
