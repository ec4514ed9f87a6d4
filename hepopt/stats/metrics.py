"""Weighted classifier metrics as pure functions of scores, labels and event weights."""

from __future__ import annotations

import numpy as np

_EPS = 1e-12


def weighted_bce(proba: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> float:
    """Weighted mean binary cross-entropy of probabilities ``proba`` (lower is better)."""
    p = np.clip(proba, _EPS, 1.0 - _EPS)
    losses = -(labels * np.log(p) + (1 - labels) * np.log1p(-p))
    return float(np.sum(weights * losses) / np.sum(weights))


def weighted_roc_auc(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> float:
    """Area under the weighted ROC curve; tied scores count half, as in Mann-Whitney U."""
    order = np.argsort(-scores, kind="mergesort")
    s, y, w = scores[order], labels[order], weights[order]
    tp = np.cumsum(w * (y == 1))
    fp = np.cumsum(w * (y == 0))
    last_of_tie = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]
    tpr = np.r_[0.0, tp[last_of_tie]] / tp[-1]
    fpr = np.r_[0.0, fp[last_of_tie]] / fp[-1]
    return float(np.trapezoid(tpr, fpr))


def weighted_ks(a: np.ndarray, wa: np.ndarray, b: np.ndarray, wb: np.ndarray) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov distance of weighted samples and its asymptotic p-value.

    The p-value uses the effective sample sizes (sum w)^2 / sum w^2, the usual choice for
    weighted Monte Carlo; for unit weights it is scipy's ``ks_2samp(method='asymp')``.
    """
    from scipy.stats import kstwo

    wa, wb = np.abs(wa), np.abs(wb)
    grid = np.sort(np.concatenate([a, b]))
    cdf_a = _weighted_cdf(a, wa, grid)
    cdf_b = _weighted_cdf(b, wb, grid)
    distance = float(np.max(np.abs(cdf_a - cdf_b)))
    n_a = wa.sum() ** 2 / np.sum(wa**2)
    n_b = wb.sum() ** 2 / np.sum(wb**2)
    en = n_a * n_b / (n_a + n_b)
    return distance, float(kstwo.sf(distance, max(round(en), 1)))


def _weighted_cdf(x: np.ndarray, w: np.ndarray, grid: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="mergesort")
    cum = np.cumsum(w[order]) / w.sum()
    idx = np.searchsorted(x[order], grid, side="right")
    return np.where(idx > 0, cum[np.maximum(idx - 1, 0)], 0.0)
