"""Figures of merit of a classifier output, as pure functions of scores, labels and weights.

Cut-based ones scan every threshold at once: events sorted by score, cumulative signal and
background yields above each distinct score, no per-event Python loop.
"""

from __future__ import annotations

import numpy as np

from hepopt.stats.significance import asimov_q0


def separation_power(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray, bins: int = 50) -> float:
    """<S^2> = 1/2 sum_i (s_i - b_i)^2 / (s_i + b_i) of the unit-normalised output shapes
    (0: identical shapes, 1: no overlap), as TMVA defines it."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    clipped = np.clip(scores, 0.0, 1.0)
    s = np.histogram(clipped[labels == 1], edges, weights=np.abs(weights[labels == 1]))[0]
    b = np.histogram(clipped[labels == 0], edges, weights=np.abs(weights[labels == 0]))[0]
    return shape_separation(s, b)


def shape_separation(s: np.ndarray, b: np.ndarray) -> float:
    """½ sum_i (s_i - b_i)^2 / (s_i + b_i) of two histograms on the same bins, each normalised to
    unit area: 0 for identical shapes, 1 for no overlap."""
    s, b = s / s.sum(), b / b.sum()
    both = (s + b) > 0
    return float(0.5 * np.sum((s[both] - b[both]) ** 2 / (s[both] + b[both])))


def yields_above_cuts(
    scores: np.ndarray, labels: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each distinct score c (descending): the cut, signal and background yields with score >= c."""
    order = np.argsort(-scores, kind="stable")
    sorted_scores = scores[order]
    w = weights[order]
    s = np.cumsum(np.where(labels[order] == 1, w, 0.0))
    b = np.cumsum(np.where(labels[order] == 1, 0.0, w))
    last = np.r_[sorted_scores[1:] != sorted_scores[:-1], True]  # the last event of each distinct score
    return sorted_scores[last], s[last], b[last]


def best_cut_significance(
    scores: np.ndarray,
    labels: np.ndarray,
    weights: np.ndarray,
    formula: str = "s/sqrt(s+b)",
    min_signal_efficiency: float = 0.0,
    min_background: float = 1e-3,
) -> tuple[float, float, float, float]:
    """The largest s/sqrt(s+b) (or s/sqrt(b)) over cuts on the output that keep at least
    ``min_signal_efficiency`` of the signal and ``min_background`` expected background events.

    Returns:
        (significance, cut, signal above it, background above it); (0, 1, 0, 0) when no cut qualifies.
    """
    cuts, s, b = yields_above_cuts(scores, labels, weights)
    total_signal = float(np.sum(weights[labels == 1]))
    allowed = (s >= min_signal_efficiency * total_signal) & (b >= min_background) & (s > 0)
    if not allowed.any():
        return 0.0, 1.0, 0.0, 0.0
    denominator = s + b if formula == "s/sqrt(s+b)" else b
    z = np.where(allowed, s / np.sqrt(np.where(allowed, denominator, 1.0)), -np.inf)
    i = int(np.argmax(z))
    return float(z[i]), float(cuts[i]), float(s[i]), float(b[i])


def background_rejection(
    scores: np.ndarray, labels: np.ndarray, weights: np.ndarray, signal_efficiency: float = 0.5
) -> float:
    """1 - (background fraction kept) at the tightest cut that keeps ``signal_efficiency`` of the
    signal (absolute weights)."""
    _, s, b = yields_above_cuts(scores, labels, np.abs(weights))
    reached = np.nonzero(s >= signal_efficiency * s[-1])[0]
    i = int(reached[0])  # the first (tightest) cut reaching the efficiency
    return float(1.0 - b[i] / b[-1])


def asimov_significance_with_uncertainty(s: np.ndarray, b: np.ndarray, relative_uncertainty: float) -> float:
    """Cowan et al. (2011) Asimov discovery significance with a background known to
    sigma_b = relative_uncertainty * b, per bin (see :func:`asimov_significance_with_sigma_b`).
    ``relative_uncertainty`` = 0 gives the stat-only formula."""
    b = np.asarray(b, dtype=np.float64)
    return asimov_significance_with_sigma_b(s, b, relative_uncertainty * b)


def asimov_significance_with_sigma_b(s: np.ndarray, b: np.ndarray, sigma_b: np.ndarray | float) -> float:
    """Cowan et al. (2011) Asimov discovery significance with each bin's background known to
    ``sigma_b`` (events), bins combined in quadrature:

        Z^2 = 2 [(s+b) ln((s+b)(b+sigma^2) / (b^2 + (s+b) sigma^2)) - b^2/sigma^2 ln(1 + sigma^2 s / (b (b+sigma^2)))]

    A bin with sigma_b = 0 takes the stat-only term.
    """
    s, b = np.asarray(s, dtype=np.float64), np.asarray(b, dtype=np.float64)
    var = np.broadcast_to(np.asarray(sigma_b, dtype=np.float64) ** 2, b.shape)
    if not np.any(var > 0):
        return float(np.sqrt(asimov_q0(s, b)))
    exact = var == 0
    if np.any(exact):  # those bins' stat-only terms, the others with their uncertainty
        q = asimov_q0(s[exact], b[exact])
        return float(np.sqrt(q + asimov_significance_with_sigma_b(s[~exact], b[~exact], np.sqrt(var[~exact])) ** 2))
    first = (s + b) * np.log((s + b) * (b + var) / (b**2 + (s + b) * var))
    second = b**2 / var * np.log1p(var * s / (b * (b + var)))
    return float(np.sqrt(np.sum(2.0 * (first - second))))


def asimov_log_likelihood_ratio(s: np.ndarray, b: np.ndarray, test: str = "discovery") -> float:
    """-2 ln lambda of the binned Poisson likelihood L(mu) = prod Pois(n_i | mu s_i + b_i) on the
    Asimov data of the other hypothesis (Cowan et al. 2011):

    - ``discovery``: data = s + b, tested mu = 0:  q0 = 2 sum[(s+b) ln(1 + s/b) - s]
    - ``exclusion``: data = b, tested mu = 1:      q1 = 2 sum[s - b ln(1 + s/b)]

    sqrt(q) is the median expected significance of a discovery, or of excluding the signal.
    """
    s, b = np.asarray(s, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if test == "discovery":
        return asimov_q0(s, b)
    if test == "exclusion":
        return float(np.sum(2.0 * (s - b * np.log1p(s / b))))
    msg = f"test must be 'discovery' or 'exclusion', got {test!r}"
    raise ValueError(msg)
