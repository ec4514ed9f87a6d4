"""Statistical uncertainties of what is reported: each figure recomputed on Poisson-bootstrap
replicas of the events (:mod:`hepopt.stats.bootstrap`), its uncertainty the replicas' standard
deviation. The search itself stays on the point values; this runs for the models a person reads
about (the best, the defaults, the compared families)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

import numpy as np

from hepopt.objectives.base import ObjectiveInputs
from hepopt.stats.bootstrap import poisson_counts, spread

Score = Callable[[ObjectiveInputs], Mapping[str, float]]


def bootstrap_errors(inputs: ObjectiveInputs, score: Score, replicas: int, seed: int) -> dict[str, float]:
    """The bootstrap uncertainty of every figure ``score`` gives (empty when ``replicas`` < 2 or
    the events have no ids)."""
    if replicas < 2 or len(inputs.event_id) != len(inputs.scores):
        return {}
    values: dict[str, list[float]] = {}
    for replica in range(replicas):
        for name, value in score(resampled(inputs, seed, replica)).items():
            values.setdefault(name, []).append(value)
    return {name: spread(v) for name, v in values.items()}


def resampled(inputs: ObjectiveInputs, seed: int, replica: int) -> ObjectiveInputs:
    """``inputs`` with every event weighted by its Poisson count in ``replica`` (varied copies by
    their nominal event's count), each dataset then scaled back to its own total: hepopt normalises
    every dataset of a split to its expected yield, so a new sample would fluctuate in shape, not
    in total, and so does the replica."""
    dataset = inputs.dataset if len(inputs.dataset) == len(inputs.scores) else inputs.labels
    counts = poisson_counts(dataset, inputs.event_id, seed, replica)
    variations = {
        name: replace(
            v,
            weights=_per_dataset_total(
                v.weights, v.weights * poisson_counts(v.dataset, v.event_id, seed, replica), v.dataset
            ),
        )
        for name, v in inputs.variations.items()
        if len(v.event_id) == len(v.scores)
    }
    weights = _per_dataset_total(inputs.weights, inputs.weights * counts, dataset)
    return replace(inputs, weights=weights, variations={**inputs.variations, **variations})


def _per_dataset_total(original: np.ndarray, resampled: np.ndarray, dataset: np.ndarray) -> np.ndarray:
    """``resampled`` scaled, dataset by dataset, to the totals of ``original``."""
    index = np.asarray(dataset, dtype=np.int64)
    before = np.bincount(index, weights=original)
    after = np.bincount(index, weights=resampled)
    scale = np.divide(before, after, out=np.ones_like(before), where=after != 0)
    return resampled * scale[index]
