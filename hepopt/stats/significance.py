"""Discovery significance of a binned classifier output: closed form and pyhf, stat only.

Pure functions of signal and background yields per bin; nothing here knows of training or search.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hepopt.stats.pyhf_fit import asimov_discovery_significance


def asimov_q0(s: np.ndarray, b: np.ndarray) -> float:
    """q0 = sum_i 2((s_i + b_i) ln(1 + s_i/b_i) - s_i): the discovery test statistic on Asimov
    data, stat only (Cowan et al. 2011)."""
    s, b = np.asarray(s, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.sum(2.0 * ((s + b) * np.log1p(s / b) - s)))


def asimov_significance_closed_form(s: np.ndarray, b: np.ndarray) -> float:
    """Z = sqrt(q0) of :func:`asimov_q0`."""
    return float(np.sqrt(asimov_q0(s, b)))


def stat_only_spec(s: np.ndarray, b: np.ndarray) -> dict[str, Any]:
    """A pyhf workspace spec: signal scaled by a free ``mu``, background fixed, no constraints."""
    return {
        "channels": [
            {
                "name": "classifier_output",
                "samples": [
                    {
                        "name": "signal",
                        "data": [float(x) for x in s],
                        "modifiers": [{"name": "mu", "type": "normfactor", "data": None}],
                    },
                    {"name": "background", "data": [float(x) for x in b], "modifiers": []},
                ],
            }
        ]
    }


def pyhf_asimov_significance(s: np.ndarray, b: np.ndarray) -> float:
    """Stat-only Asimov discovery significance from a pyhf fit: Z0 = sqrt(q0) on the Asimov data
    set ``s + b`` (equal to :func:`asimov_significance_closed_form`; the fit checks it)."""
    s = np.clip(np.asarray(s, dtype=np.float64), 0.0, None)
    b = np.asarray(b, dtype=np.float64)
    if np.any(b <= 0):
        msg = "every bin needs a positive background; merge bins first (merge_low_background)"
        raise ValueError(msg)
    return asimov_discovery_significance(stat_only_spec(s, b))
