"""How a significance objective bins the classifier output: the options every binned objective
shares (``bins``, ``binning``, ``min_background``), because the significance depends on them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hepopt.objectives.base import ObjectiveInputs
from hepopt.stats.binning import DEFAULT_MIN_BACKGROUND, flat_signal_edges, merged_yields

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
    """Bin edges for one classifier, then low-background bins merged.

    Attributes:
        edges: the fixed edges (``binning: fixed``), or equal bins whose count sets the number of
            flat-signal bins.
        kind: ``fixed`` (the edges as given) or ``flat_signal`` (each bin the same expected signal,
            edges from the classifier's own signal output).
        min_background: bins are merged from the most signal-like down until each holds at least
            this much expected background (a bin with signal and no background would give an
            infinite significance).
    """

    edges: np.ndarray
    kind: str = "fixed"
    min_background: float = DEFAULT_MIN_BACKGROUND

    @classmethod
    def from_options(
        cls, bins: int | Sequence[float], binning: str = "fixed", min_background: float = DEFAULT_MIN_BACKGROUND
    ) -> Binning:
        """Checked objective options (a ValueError names the bad one)."""
        edges = bin_edges(bins)
        if binning not in BINNINGS or (binning == "flat_signal" and not isinstance(bins, int)):
            msg = f"binning must be 'fixed' or 'flat_signal' (with a number of bins), got {binning!r}"
            raise ValueError(msg)
        if min_background <= 0:
            msg = f"min_background must be > 0, got {min_background}"
            raise ValueError(msg)
        return cls(edges, binning, float(min_background))

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
        return f"{kind}, merged from the top until each has b >= {self.min_background:g}"

    def yields(self, inputs: ObjectiveInputs) -> tuple[np.ndarray, np.ndarray]:
        """Signal and background yields per bin of this classifier, low-background bins merged."""
        edges = self.edges_for(inputs)
        return merged_yields(inputs.scores, inputs.labels, inputs.weights, edges, self.min_background)
