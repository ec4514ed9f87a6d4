"""How a significance objective bins the classifier output: the options every binned objective
shares (``bins``, ``binning`` and the merge rule: ``min_background``, ``min_total``,
``max_background_error``), because the significance depends on them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from hepopt.objectives.base import ObjectiveInputs
from hepopt.stats.binning import DEFAULT_MIN_BACKGROUND, MergeRule, flat_signal_edges, merged_yields

BINNINGS = ("fixed", "flat_signal")


def bin_edges(bins: int | Sequence[float]) -> np.ndarray:
    """Equal bins in [0, 1] for a number, or checked explicit edges."""
    if isinstance(bins, int):
        if bins < 1:
            msg = f"bins must be >= 1, got {bins}"
            raise ValueError(msg)
        return np.linspace(0.0, 1.0, bins + 1)
    edges = np.asarray(bins, dtype=np.float64)
    if edges.ndim != 1 or len(edges) < 2 or np.any(np.diff(edges) <= 0):
        msg = f"bins must be a number or increasing bin edges, got {list(bins)}"
        raise ValueError(msg)
    return edges


@dataclass(frozen=True)
class Binning:
    """Bin edges for one classifier, then bins merged by a rule.

    Attributes:
        edges: the fixed edges (``binning: fixed``), or equal bins whose count sets the number of
            flat-signal bins.
        kind: ``fixed`` (the edges as given) or ``flat_signal`` (each bin the same expected signal,
            edges from the classifier's own signal output).
        merge: bins are merged from the most signal-like down until each satisfies this rule (by
            default at least 1e-3 expected background: a bin with signal and no background would
            give an infinite significance).
    """

    edges: np.ndarray
    kind: str = "fixed"
    merge: MergeRule = field(default_factory=MergeRule)

    @classmethod
    def from_options(
        cls,
        bins: int | Sequence[float],
        binning: str = "fixed",
        min_background: float = DEFAULT_MIN_BACKGROUND,
        min_total: float = 0.0,
        max_background_error: float | None = None,
    ) -> Binning:
        """Checked objective options (a ValueError names the bad one)."""
        edges = bin_edges(bins)
        if binning not in BINNINGS or (binning == "flat_signal" and not isinstance(bins, int)):
            msg = f"binning must be 'fixed' or 'flat_signal' (with a number of bins), got {binning!r}"
            raise ValueError(msg)
        limit = math.inf if max_background_error is None else float(max_background_error)
        return cls(edges, binning, MergeRule(float(min_background), float(min_total), limit))

    @property
    def min_background(self) -> float:
        return self.merge.min_background

    def edges_for(self, inputs: ObjectiveInputs) -> np.ndarray:
        """The edges for this classifier (flat-signal edges follow its signal output)."""
        if self.kind == "fixed":
            return self.edges
        signal = inputs.labels == 1
        return flat_signal_edges(inputs.scores[signal], inputs.weights[signal], len(self.edges) - 1)

    def describe(self) -> str:
        """As a person writes it next to a number: ``10 equal bins in [0, 1], merged from the top
        until each has b >= 0.001``."""
        n = len(self.edges) - 1
        equal = np.allclose(self.edges, np.linspace(0.0, 1.0, n + 1))
        if self.kind == "flat_signal":
            kind = f"{n} bins of equal expected signal"
        elif equal:
            kind = f"{n} equal bins in [0, 1]"
        else:
            kind = "bin edges " + ", ".join(f"{e:g}" for e in self.edges)
        return f"{kind}, merged from the top until each has {self.merge.describe()}"

    def yields(self, inputs: ObjectiveInputs) -> tuple[np.ndarray, np.ndarray]:
        """Signal and background yields per bin of this classifier, bins merged by the rule."""
        edges = self.edges_for(inputs)
        return merged_yields(inputs.scores, inputs.labels, inputs.weights, edges, self.merge)
