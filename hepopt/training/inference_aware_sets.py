"""The events of one split as the inference-aware loss takes them: the statistical model of
``robust_significance`` (one sample per dataset, the datasets with signal events scaled by mu, a
nuisance per ``x_up``/``x_down`` pair of variations, a one-sided one mirrored).

A varied event read from an alternative file is tied to the nominal event with its dataset and
event id, so a batch takes it with its nominal event (the template's change is then estimated
with little noise); a varied event without such a partner is drawn at the batch's rate, which
keeps the template unbiased either way. A weight variation is each nominal event's weight under it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from hepopt.config.schema.model import InferenceAwareConfig
from hepopt.stats.histosys import group_variations
from hepopt.training.inference_aware_batch import Events, Side, Systematic, varied_events
from hepopt.training.sets import SplitArrays, TrainingSets


@dataclass(frozen=True)
class AwareSpec:
    """The statistical model of the inference-aware loss (``training.inference_aware``): the
    variations that make its nuisances (None: all), the bins of the output (a number of equal
    bins in [0, 1], or the edges), the MC statistical uncertainty as a staterror, and the share of
    each batch on which the templates' changes are estimated."""

    variations: tuple[str, ...] | None = None
    bins: int | tuple[float, ...] = 10
    mc_stat: bool = True
    template_fraction: float = 1.0


def spec_from_config(section: InferenceAwareConfig, objectives: Sequence[Any]) -> AwareSpec:
    """``training.inference_aware``, its unset settings those of the ``robust_significance``
    objective among ``objectives`` (so a network is trained for the model it is scored with):
    its fixed edges (a flat-signal binning: as many equal bins) and ``mc_stat``; else 10 equal
    bins with MC statistics."""
    scored = next((o for o in objectives if getattr(o, "name", None) == "robust_significance"), None)
    bins: int | tuple[float, ...] = 10
    mc_stat = True
    if scored is not None:
        binning = getattr(scored, "binning", None)
        if binning is not None:
            edges = tuple(float(e) for e in binning.edges)
            bins = len(edges) - 1 if binning.kind == "flat_signal" else edges
        mc_stat = bool(getattr(scored, "mc_stat", True))
    if section.bins is not None:
        bins = section.bins if isinstance(section.bins, int) else tuple(section.bins)
    return AwareSpec(
        variations=None if section.variations is None else tuple(section.variations),
        bins=bins,
        mc_stat=mc_stat if section.mc_stat is None else section.mc_stat,
        template_fraction=section.template_fraction,
    )


@dataclass(frozen=True)
class LossEvents:
    """One split's nominal events, nuisances (in ``nuisances`` order) and signal samples."""

    nominal: Events
    systematics: tuple[Systematic, ...]
    nuisances: tuple[str, ...]
    signal: torch.Tensor  # [datasets] bool


def loss_events(sets: TrainingSets, split: str, variations: Sequence[str]) -> LossEvents:
    """The nominal events of ``split`` and the nuisances of ``variations`` (weights at the full
    luminosity, as the objectives histogram them)."""
    nominal = sets.splits[split]
    device = nominal.x_tensor.device
    weight = torch.as_tensor(nominal.weights, dtype=torch.float64, device=device)
    sample = torch.as_tensor(nominal.dataset.astype(np.int64), device=device)
    events = Events(nominal.x_tensor, weight, sample)
    signal = np.zeros(len(sets.dataset_names), dtype=bool)
    signal[np.unique(nominal.dataset[nominal.labels == 1])] = True

    def side(name: str) -> Side:
        varied = sets.varied[split][name]
        if varied.x_tensor is nominal.x_tensor:  # a weight variation: the same events reweighted
            return torch.as_tensor(varied.weights, dtype=torch.float64, device=device)
        return varied_events(
            varied.x_tensor,
            torch.as_tensor(varied.weights, dtype=torch.float64, device=device),
            torch.as_tensor(varied.dataset.astype(np.int64), device=device),
            torch.as_tensor(nominal_partners(nominal, varied), device=device),
            len(nominal),
        )

    groups = group_variations(tuple(variations))
    systematics = tuple(Systematic(side(up), None if down is None else side(down)) for up, down in groups.values())
    return LossEvents(events, systematics, tuple(groups), torch.as_tensor(signal))


def nominal_partners(nominal: SplitArrays, varied: SplitArrays) -> np.ndarray:
    """Per varied event, the row of the nominal event of the same dataset and event id (-1: none)."""
    partner = np.full(len(varied), -1, dtype=np.int64)
    if nominal.event_id is None or varied.event_id is None:
        return partner
    for dataset in np.unique(varied.dataset):
        rows = np.flatnonzero(nominal.dataset == dataset)
        if len(rows) == 0:
            continue
        order = rows[np.argsort(nominal.event_id[rows], kind="stable")]
        ids = nominal.event_id[order]
        mine = np.flatnonzero(varied.dataset == dataset)
        at = np.minimum(np.searchsorted(ids, varied.event_id[mine]), len(ids) - 1)
        found = ids[at] == varied.event_id[mine]
        partner[mine[found]] = order[at[found]]
    return partner
