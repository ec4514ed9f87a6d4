"""Pure figures of merit: arrays of scores, labels and weights (or yields per bin) in, numbers
out. Nothing here knows of configs, training or searches; the objectives are thin classes over it.

- :mod:`~hepopt.stats.metrics`: weighted BCE, ROC AUC, KS distance.
- :mod:`~hepopt.stats.binning`: histograms of the classifier output, flat-signal edges, merged
  low-background bins (:func:`merged_yields`).
- :mod:`~hepopt.stats.significance`: the stat-only Asimov discovery significance, closed form and pyhf.
- :mod:`~hepopt.stats.pyhf_fit`: the one pyhf fit (q0 on the Asimov data, nuisances profiled).
- :mod:`~hepopt.stats.histosys`: systematic variations as pyhf histosys modifiers.
- :mod:`~hepopt.stats.figures_of_merit`: cut-based figures (s/sqrt(b), separation, rejection...).
- :mod:`~hepopt.stats.robustness`: how much the output moves under a variation (JSD, KS).
"""

from __future__ import annotations

from hepopt.stats.binning import binned_yields, flat_signal_edges, histogram, merge_low_background, merged_yields
from hepopt.stats.histosys import group_variations, histosys_spec, nuisance_templates
from hepopt.stats.metrics import weighted_bce, weighted_ks, weighted_roc_auc
from hepopt.stats.pyhf_fit import asimov_discovery_significance
from hepopt.stats.significance import asimov_q0, asimov_significance_closed_form, pyhf_asimov_significance

__all__ = [
    "asimov_discovery_significance",
    "asimov_q0",
    "asimov_significance_closed_form",
    "binned_yields",
    "flat_signal_edges",
    "group_variations",
    "histogram",
    "histosys_spec",
    "merge_low_background",
    "merged_yields",
    "nuisance_templates",
    "pyhf_asimov_significance",
    "weighted_bce",
    "weighted_ks",
    "weighted_roc_auc",
]
