"""How much a classifier's output moves under a systematic variation: pure histogram metrics."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from hepopt.stats.binning import histogram

CLASSES = ((1, "signal"), (0, "background"))


def jensen_shannon(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon *divergence* (not its square root) of two histograms, in bits: 0 for identical
    shapes, 1 for disjoint ones. Each histogram is normalised here; negative bins count as 0."""
    p = np.clip(np.asarray(p, dtype=np.float64), 0.0, None)
    q = np.clip(np.asarray(q, dtype=np.float64), 0.0, None)
    if p.sum() <= 0 or q.sum() <= 0:
        return float("nan")
    p, q = p / p.sum(), q / q.sum()
    m = 0.5 * (p + q)

    def kl(a: np.ndarray) -> float:
        mask = a > 0
        return float(np.sum(a[mask] * np.log2(a[mask] / m[mask])))

    return 0.5 * kl(p) + 0.5 * kl(q)


def binned_ks(p: np.ndarray, q: np.ndarray) -> float:
    """Kolmogorov-Smirnov distance of two histograms: the largest gap of their normalised CDFs."""
    p = np.clip(np.asarray(p, dtype=np.float64), 0.0, None)
    q = np.clip(np.asarray(q, dtype=np.float64), 0.0, None)
    if p.sum() <= 0 or q.sum() <= 0:
        return float("nan")
    return float(np.max(np.abs(np.cumsum(p) / p.sum() - np.cumsum(q) / q.sum())))


def output_shift(
    nominal: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    varied: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[int, ...]]],
    edges: np.ndarray,
) -> dict[str, float]:
    """JSD and KS distance between nominal and varied output histograms, per variation and class.

    Args:
        nominal: ``(scores, labels, weights, dataset)`` of the nominal events.
        varied: per variation, ``(scores, labels, weights, dataset, affected)``; only the
            datasets in ``affected`` (those with a varied version) enter both histograms.
        edges: bin edges of the classifier output.

    Returns:
        ``{"jsd/<variation>/<class>": ..., "ks/<variation>/<class>": ...}`` and the means
        ``"jsd_mean"`` and ``"ks_mean"`` over all finite entries.
    """
    scores, labels, weights, dataset = nominal
    out: dict[str, float] = {}
    for name, (v_scores, v_labels, v_weights, v_dataset, affected) in varied.items():
        for cls, cls_name in CLASSES:
            nom = (labels == cls) & np.isin(dataset, affected)
            var = (v_labels == cls) & np.isin(v_dataset, affected)
            if not nom.any() or not var.any():
                continue
            h_nom = histogram(scores[nom], weights[nom], edges)
            h_var = histogram(v_scores[var], v_weights[var], edges)
            out[f"jsd/{name}/{cls_name}"] = jensen_shannon(h_nom, h_var)
            out[f"ks/{name}/{cls_name}"] = binned_ks(h_nom, h_var)
    for metric in ("jsd", "ks"):
        values = [v for k, v in out.items() if k.startswith(f"{metric}/") and np.isfinite(v)]
        out[f"{metric}_mean"] = float(np.mean(values)) if values else 0.0
    return out
