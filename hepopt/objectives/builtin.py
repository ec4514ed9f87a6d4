"""The objectives hepopt ships, registered through the same entry-point group as plugins."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hepopt.objectives.base import Objective, ObjectiveInputs, ObjectiveResult
from hepopt.objectives.binning import Binning
from hepopt.stats.binning import DEFAULT_MIN_BACKGROUND
from hepopt.stats.metrics import weighted_bce, weighted_roc_auc
from hepopt.stats.significance import asimov_significance_closed_form, pyhf_asimov_significance


class AsimovSignificance(Objective):
    """Stat-only Asimov discovery significance of the binned classifier output, fitted with pyhf.

    Options:
        bins: number of bins in [0, 1] (default 10), or a list of bin edges.
        binning: ``fixed`` (equal width, default) or ``flat_signal`` (each bin the same expected
            signal, edges from the classifier's own signal output).
        min_background: bins are merged from the top until each holds at least this much
            expected background (default 1e-3 events).
        min_total: ... and at least this much expected signal plus background (default 0; other
            tools merge until s + b >= 10 and b >= 1).
        max_background_error: ... and the background's relative MC statistical uncertainty,
            sqrt(sum w^2) / sum w, is at most this (default: no limit; e.g. 0.2).
        method: ``pyhf`` (a real fit, default) or ``closed_form`` (Cowan et al. formula; the same
            number to machine precision, for speed).
    """

    name = "asimov_significance"
    direction = "maximize"

    def __init__(
        self,
        bins: int | Sequence[float] = 10,
        min_background: float = DEFAULT_MIN_BACKGROUND,
        min_total: float = 0.0,
        max_background_error: float | None = None,
        method: str = "pyhf",
        binning: str = "fixed",
    ) -> None:
        self.binning = Binning.from_options(bins, binning, min_background, min_total, max_background_error)
        if method not in ("pyhf", "closed_form"):
            msg = f"method must be 'pyhf' or 'closed_form', got {method!r}"
            raise ValueError(msg)
        self.method = method

    def evaluate(self, inputs: ObjectiveInputs) -> ObjectiveResult:
        s, b = self.binning.yields(inputs)
        s = np.clip(s, 0.0, None)
        significance = pyhf_asimov_significance if self.method == "pyhf" else asimov_significance_closed_form
        z = significance(s, b)
        return ObjectiveResult(z, {"signal": float(s.sum()), "background": float(b.sum()), "bins": float(len(s))})


class BinaryCrossEntropy(Objective):
    """Weighted binary cross-entropy, each class normalised to the same total weight.

    Physics weights make the background outweigh a rare signal by orders of magnitude; balancing
    the classes (as the training loss does) keeps the number about separation, not about priors.
    """

    name = "bce"
    direction = "minimize"

    def evaluate(self, inputs: ObjectiveInputs) -> ObjectiveResult:
        w = np.abs(inputs.weights)
        signal = inputs.labels == 1
        balanced = np.where(signal, w / w[signal].sum(), w / w[~signal].sum())
        return ObjectiveResult(weighted_bce(inputs.scores, inputs.labels, balanced))


class RocAuc(Objective):
    """Weighted area under the ROC curve (physics weights)."""

    name = "roc_auc"
    direction = "maximize"

    def evaluate(self, inputs: ObjectiveInputs) -> ObjectiveResult:
        return ObjectiveResult(weighted_roc_auc(inputs.scores, inputs.labels, np.abs(inputs.weights)))
