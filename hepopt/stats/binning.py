"""The classifier output binned: weighted histograms, flat-signal edges, and the merging of
low-background bins that every binned significance applies (:func:`merged_yields`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

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


@dataclass(frozen=True)
class MergeRule:
    """When a bin of the classifier output may stand alone; bins that fail are merged.

    Bins are merged from the most signal-like one down until the merged bin satisfies every
    condition; leftover low-score bins join the lowest merged bin. The defaults only avoid a bin
    with signal and (almost) no background, which would give an infinite significance. Other
    tools merge more: e.g. ``min_total=10, min_background=1`` (until s + b >= 10 and b >= 1), or
    ``max_background_error=0.2`` (until the background's MC statistical uncertainty,
    sqrt(sum w^2) / sum w, is at most 20 %).

    Attributes:
        min_background: the least expected background in a bin.
        min_total: the least expected signal plus background in a bin.
        max_background_error: the largest relative MC statistical uncertainty of the background.
    """

    min_background: float = DEFAULT_MIN_BACKGROUND
    min_total: float = 0.0
    max_background_error: float = math.inf

    def __post_init__(self) -> None:
        for name in ("min_background", "max_background_error"):
            if not getattr(self, name) > 0:
                msg = f"{name} must be > 0, got {getattr(self, name)}"
                raise ValueError(msg)
        if not self.min_total >= 0:
            msg = f"min_total must be >= 0, got {self.min_total}"
            raise ValueError(msg)

    @property
    def needs_signal(self) -> bool:
        return self.min_total > 0

    @property
    def needs_sumw2(self) -> bool:
        return math.isfinite(self.max_background_error)

    def describe(self) -> str:
        """The conditions as a person writes them: ``b >= 0.001``, ``s + b >= 10 and b >= 1``."""
        parts = [f"s + b >= {self.min_total:g}"] if self.min_total > 0 else []
        parts.append(f"b >= {self.min_background:g}")
        if self.needs_sumw2:
            parts.append(f"MC error of b <= {self.max_background_error:.0%}")
        return " and ".join(parts)

    def closes(self, s: float, b: float, b_sumw2: float) -> bool:
        """Whether a (merged) bin with these yields satisfies the rule."""
        return (
            b >= self.min_background
            and s + b >= self.min_total
            and math.sqrt(max(b_sumw2, 0.0)) <= self.max_background_error * b
        )


def merge_map(
    b: np.ndarray,
    rule: MergeRule | float = DEFAULT_MIN_BACKGROUND,
    s: np.ndarray | None = None,
    b_sumw2: np.ndarray | None = None,
) -> np.ndarray:
    """For each bin, the index of the merged bin it joins so that each satisfies ``rule`` (a
    :class:`MergeRule`, or a number: the least background).

    Args:
        b: background yield per bin.
        s: signal yield per bin (needed by ``min_total``).
        b_sumw2: the background's sum of squared weights per bin (needed by ``max_background_error``).
    """
    rule = rule if isinstance(rule, MergeRule) else MergeRule(float(rule))
    if rule.needs_signal and s is None:
        msg = "merging by s + b needs the signal histogram"
        raise ValueError(msg)
    if rule.needs_sumw2 and b_sumw2 is None:
        msg = "merging by the background's MC error needs its sum of squared weights"
        raise ValueError(msg)
    s = np.zeros(len(b)) if s is None else s
    b_sumw2 = np.zeros(len(b)) if b_sumw2 is None else b_sumw2
    group = np.empty(len(b), dtype=np.int64)
    n_groups, acc_s, acc_b, acc_w2 = 0, 0.0, 0.0, 0.0
    for i in range(len(b) - 1, -1, -1):  # a loop over bins (tens), not events
        group[i] = n_groups
        acc_s, acc_b, acc_w2 = acc_s + s[i], acc_b + b[i], acc_w2 + b_sumw2[i]
        if rule.closes(acc_s, acc_b, acc_w2):
            n_groups, acc_s, acc_b, acc_w2 = n_groups + 1, 0.0, 0.0, 0.0
    if n_groups == 0:
        return np.zeros(len(b), dtype=np.int64)
    group = np.minimum(group, n_groups - 1)  # the leftover joins the lowest closed group
    return (n_groups - 1) - group  # number merged bins in increasing score order


def apply_merge(histogram: np.ndarray, mapping: np.ndarray) -> np.ndarray:
    return np.bincount(mapping, weights=histogram, minlength=int(mapping.max()) + 1)


def merge_low_background(
    s: np.ndarray, b: np.ndarray, rule: MergeRule | float = DEFAULT_MIN_BACKGROUND, b_sumw2: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Signal and background histograms merged with :func:`merge_map` (``rule``: a
    :class:`MergeRule` or the least background per bin)."""
    mapping = merge_map(b, rule, s, b_sumw2)
    return apply_merge(s, mapping), apply_merge(b, mapping)


def merged_yields(
    scores: np.ndarray,
    labels: np.ndarray,
    weights: np.ndarray,
    edges: Sequence[float] | np.ndarray,
    rule: MergeRule | float = DEFAULT_MIN_BACKGROUND,
) -> tuple[np.ndarray, np.ndarray]:
    """Signal and background yields per bin, bins merged by ``rule``: what a binned
    significance is computed from."""
    s, b = binned_yields(scores, labels, weights, edges)
    rule = rule if isinstance(rule, MergeRule) else MergeRule(float(rule))
    b_sumw2 = None
    if rule.needs_sumw2:
        background = labels != 1
        b_sumw2 = histogram(scores[background], weights[background] ** 2, np.asarray(edges, dtype=np.float64))
    return merge_low_background(s, b, rule, b_sumw2)
