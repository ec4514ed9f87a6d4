"""Objectives about systematic robustness: significance with the systematics profiled, output shift."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from hepopt.objectives.base import Objective, ObjectiveInputs, ObjectiveResult
from hepopt.objectives.binning import Binning, bin_edges
from hepopt.stats.binning import DEFAULT_MIN_BACKGROUND, apply_merge, histogram, merge_map
from hepopt.stats.histosys import histosys_spec, nuisance_templates
from hepopt.stats.pyhf_fit import asimov_discovery_significance, asimov_workspace
from hepopt.stats.robustness import output_shift
from hepopt.stats.significance import asimov_significance_closed_form
from hepopt.stats.templates import TemplateTreatment


class RobustSignificance(Objective):
    """Asimov discovery significance with every systematic variation profiled (pyhf histosys),
    and the MC statistical uncertainty of each bin (pyhf staterror).

    One pyhf sample per dataset; each variation (``x_up``/``x_down`` paired into one nuisance
    parameter ``x``) is a histosys modifier on the datasets it affects, built from the varied
    classifier-output histograms. Bins are merged as for ``asimov_significance``. With ``mc_stat``
    (the default) each bin also has a constrained factor whose width is the samples' combined MC
    uncertainty (sqrt of the sum of squared weights, Barlow-Beeston lite): a classifier cannot
    gain from bins the simulation hardly fills. :meth:`workspace` is the pyhf workspace it fits.

    Options: ``bins`` (default 10), ``binning`` (``fixed`` or ``flat_signal``), and the merge rule
    (``min_background``, default 1e-3; ``min_total``; ``max_background_error``), as for
    ``asimov_significance``; ``mc_stat`` (default true); the treatment of the variation templates
    (:mod:`hepopt.stats.templates`): ``smoothing`` (passes over the varied / nominal ratio, default
    0), ``symmetrize`` (``none``, ``one_sided``, ``two_sided``), ``prune`` (drop a nuisance from
    a sample when no bin moves by more than this fraction, default 0), applied to the merged
    histograms, in the fit and in the exported workspace alike.
    """

    name = "robust_significance"
    direction = "maximize"
    needs = frozenset({"dataset", "variations"})

    def __init__(
        self,
        bins: int | Sequence[float] = 10,
        min_background: float = DEFAULT_MIN_BACKGROUND,
        min_total: float = 0.0,
        max_background_error: float | None = None,
        binning: str = "fixed",
        mc_stat: bool = True,
        symmetrize: str = "none",
        smoothing: int = 0,
        prune: float = 0.0,
    ) -> None:
        self.binning = Binning.from_options(bins, binning, min_background, min_total, max_background_error)
        if not isinstance(mc_stat, bool):
            msg = f"mc_stat must be true or false, got {mc_stat!r}"
            raise ValueError(msg)  # noqa: TRY004 - an option's bad value, reported as such
        self.mc_stat = mc_stat
        self.templates = TemplateTreatment(symmetrize, smoothing, float(prune))

    def evaluate(self, inputs: ObjectiveInputs) -> ObjectiveResult:
        spec, merged, signal, n_nuisances = self._spec(inputs)
        z = asimov_discovery_significance(spec)
        s = np.clip(np.sum([h for n, h in merged.items() if n in signal], axis=0), 0.0, None)
        b = np.sum([h for n, h in merged.items() if n not in signal], axis=0)
        z_stat = asimov_significance_closed_form(s, b)
        return ObjectiveResult(z, {"stat_only_significance": z_stat, "nuisance_parameters": float(n_nuisances)})

    def workspace(self, inputs: ObjectiveInputs, measurement: str = "discovery") -> dict[str, Any]:
        """The complete pyhf workspace :meth:`evaluate` fits (its Asimov data as observations)."""
        return asimov_workspace(self._spec(inputs)[0], measurement)

    def _spec(self, inputs: ObjectiveInputs) -> tuple[dict[str, Any], dict[str, np.ndarray], set[str], int]:
        names = inputs.dataset_names
        if not names or len(inputs.dataset) != len(inputs.scores):
            msg = "robust_significance needs the dataset of every event (ObjectiveInputs.dataset)"
            raise ValueError(msg)
        edges = self.binning.edges_for(inputs)
        rows = {names[d]: inputs.dataset == d for d in range(len(names))}
        nominal = {n: histogram(inputs.scores[r], inputs.weights[r], edges) for n, r in rows.items()}
        signal = {names[d] for d in np.unique(inputs.dataset[inputs.labels == 1])}
        zeros = np.zeros(len(edges) - 1)
        sumw2 = {}
        if self.mc_stat or self.binning.merge.needs_sumw2:
            sumw2 = {n: histogram(inputs.scores[r], inputs.weights[r] ** 2, edges) for n, r in rows.items()}
        mapping = merge_map(
            sum((h for n, h in nominal.items() if n not in signal), zeros),
            self.binning.merge,
            sum((h for n, h in nominal.items() if n in signal), zeros),
            sum((h for n, h in sumw2.items() if n not in signal), zeros),
        )
        merged = {n: apply_merge(h, mapping) for n, h in nominal.items()}

        def varied(variation: str, sample: str) -> np.ndarray | None:
            d = names.index(sample)
            if d not in inputs.variations[variation].affected:
                return None
            return apply_merge(_varied(inputs, variation, d, edges), mapping)

        variations = nuisance_templates(merged, tuple(inputs.variations), varied, self.templates)
        mc_stat = {n: np.sqrt(apply_merge(h, mapping)) for n, h in sumw2.items()} if self.mc_stat else None
        return histosys_spec(merged, signal, variations, mc_stat), merged, signal, len(variations)


def _varied(inputs: ObjectiveInputs, variation: str, dataset: int, edges: np.ndarray) -> np.ndarray:
    """The histogram of one dataset's events in one variation (the nominal's edges)."""
    varied = inputs.variations[variation]
    rows = varied.dataset == dataset
    return histogram(varied.scores[rows], varied.weights[rows], edges)


class OutputShift(Objective):
    """Mean Jensen-Shannon divergence (bits) between the nominal and varied classifier output,
    over variations and classes (signal, background), on the affected datasets. Lower is more
    robust. Per-variation JSD and KS distances are in the extras.

    Options: ``bins`` (default 20).
    """

    name = "output_shift"
    direction = "minimize"
    needs = frozenset({"dataset", "variations"})

    def __init__(self, bins: int | Sequence[float] = 20) -> None:
        self.edges = bin_edges(bins)

    def evaluate(self, inputs: ObjectiveInputs) -> ObjectiveResult:
        if not inputs.variations:
            msg = "output_shift needs systematic variations in the config"
            raise ValueError(msg)
        metrics = shift_metrics(inputs, self.edges)
        return ObjectiveResult(metrics["jsd_mean"], metrics)


def shift_metrics(inputs: ObjectiveInputs, edges: np.ndarray) -> dict[str, float]:
    """JSD and KS distance per variation and class for ``inputs`` (see :func:`output_shift`)."""
    varied = {name: (v.scores, v.labels, v.weights, v.dataset, v.affected) for name, v in inputs.variations.items()}
    return output_shift((inputs.scores, inputs.labels, inputs.weights, inputs.dataset), varied, edges)
