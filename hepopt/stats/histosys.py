"""Asimov discovery significance with systematic variations profiled in a pyhf fit.

Each systematic becomes a pyhf ``histosys`` modifier (shape and normalisation) on every sample it
affects, built from the varied histograms of the classifier output; ``<name>_up`` and
``<name>_down`` variations form one nuisance parameter ``<name>``, and a one-sided variation is
symmetrised (down = 2 x nominal - up); templates may be smoothed, symmetrised and pruned first
(:mod:`hepopt.stats.templates`). The significance is sqrt(q0) on the Asimov data set of the
nominal prediction, with every nuisance parameter profiled. Without variations it reduces to the
stat-only significance of :mod:`hepopt.stats.significance`, its upper bound.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from hepopt.stats.templates import TemplateTreatment

_UP_DOWN = re.compile(r"^(?P<name>.+?)[_-]?(?P<dir>up|down|Up|Down|UP|DOWN)$")
MC_STAT = "mc_stat"  # the staterror modifier's name (one parameter per bin: mc_stat[0], ...)
_FLOOR = 1e-9  # varied yields are floored just above zero: a negative expectation has no likelihood


def group_variations(names: list[str] | tuple[str, ...]) -> dict[str, tuple[str, str | None]]:
    """Nuisance parameter -> (up variation, down variation or None for a one-sided one)."""
    ups: dict[str, str] = {}
    downs: dict[str, str] = {}
    for name in names:
        match = _UP_DOWN.match(name)
        if match is None:
            ups[name] = name
        elif match["dir"].lower() == "up":
            ups[match["name"]] = name
        else:
            downs[match["name"]] = name
    groups: dict[str, tuple[str, str | None]] = {}
    for nuisance in dict.fromkeys([*ups, *downs]):
        up, down = ups.get(nuisance), downs.get(nuisance)
        groups[nuisance] = (up, down) if up is not None else (down, None)  # type: ignore[assignment]
    return groups


Templates = dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]  # nuisance -> sample -> (up, down)


def nuisance_templates(
    nominal: Mapping[str, np.ndarray],
    variations: list[str] | tuple[str, ...],
    varied: Callable[[str, str], np.ndarray | None],
    treatment: TemplateTreatment | None = None,
) -> Templates:
    """The up and down histograms of each nuisance parameter on each sample it changes.

    Args:
        nominal: sample -> nominal histogram.
        variations: the variation names (``x_up``/``x_down`` pair into the nuisance ``x``).
        varied: (variation, sample) -> that sample's histogram in that variation, or None where the
            variation does not apply to the sample.
        treatment: smoothing, symmetrisation and pruning (:mod:`hepopt.stats.templates`); by
            default the templates as simulated, a one-sided variation mirrored.

    A sample whose templates equal its nominal histogram, or that the treatment prunes, gets no
    modifier (it would not change the fit); a nuisance left on no sample is left out.
    """
    treatment = treatment or TemplateTreatment()
    templates: Templates = {}
    for nuisance, (up, down) in group_variations(variations).items():
        per_sample = {}
        for sample, values in nominal.items():
            hi = varied(up, sample)
            if hi is None:
                continue
            treated = treatment.apply(values, hi, varied(down, sample) if down is not None else None)
            if treated is not None and not (np.allclose(treated[0], values) and np.allclose(treated[1], values)):
                per_sample[sample] = treated
        if per_sample:
            templates[nuisance] = per_sample
    return templates


def histosys_spec(
    nominal: Mapping[str, np.ndarray],
    signal_samples: set[str],
    variations: Mapping[str, Mapping[str, tuple[np.ndarray, np.ndarray]]],
    mc_stat: Mapping[str, np.ndarray] | None = None,
) -> dict[str, Any]:
    """A pyhf spec: one sample per dataset, ``mu`` on the signal ones, a histosys per nuisance,
    and the MC statistical uncertainty of each bin (a ``staterror``: Barlow-Beeston lite, one
    constrained factor per bin shared by the samples, its width from their combined uncertainty).

    Args:
        nominal: sample name -> nominal histogram.
        signal_samples: the samples scaled by the signal strength ``mu``.
        variations: nuisance -> {sample -> (up histogram, down histogram)} for affected samples.
        mc_stat: sample name -> its absolute MC uncertainty per bin (sqrt of the sum of squared
            weights); None: no MC statistical uncertainty in the model.
    """
    samples = []
    for name, data in nominal.items():
        modifiers: list[dict[str, Any]] = []
        if name in signal_samples:
            modifiers.append({"name": "mu", "type": "normfactor", "data": None})
        for nuisance, per_sample in variations.items():
            if name in per_sample:
                hi, lo = per_sample[name]
                modifiers.append(
                    {
                        "name": nuisance,
                        "type": "histosys",
                        "data": {"hi_data": _floored(hi), "lo_data": _floored(lo)},
                    }
                )
        if mc_stat is not None and name in mc_stat:
            modifiers.append({"name": MC_STAT, "type": "staterror", "data": _floored(mc_stat[name], allow_zero=True)})
        samples.append({"name": name, "data": _floored(data, allow_zero=True), "modifiers": modifiers})
    return {"channels": [{"name": "classifier_output", "samples": samples}]}


def _floored(values: np.ndarray, allow_zero: bool = False) -> list[float]:
    floor = 0.0 if allow_zero else _FLOOR
    return [float(x) for x in np.maximum(np.asarray(values, dtype=np.float64), floor)]
