"""The event table cut into train / validation / test, standardised once, ready for many trials.

Besides the nominal events, each split keeps its events under every systematic variation: the
varied rows read from alternative files, and, for weight-based variations, the nominal rows with
their weights multiplied by the variation's factor (sharing the nominal tensors, not copying them).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from hepopt.config.split_rule import SplitRule
from hepopt.data.splits import (
    SPLIT_NAMES,
    TEST,
    TRAIN,
    VALIDATION,
    assign_splits,
    cross_validation_split,
    full_luminosity_scale,
)
from hepopt.data.table import EventTable
from hepopt.errors import DataError
from hepopt.training.scaler import Standardizer
from hepopt.training.trainer import Batchable, training_weights


@dataclass(frozen=True)
class SplitArrays:
    """Events of one split: standardised features (numpy and tensor), labels, dataset index, and
    physics weights scaled to the full luminosity."""

    x: np.ndarray
    x_tensor: torch.Tensor
    labels: np.ndarray
    weights: np.ndarray
    y_tensor: torch.Tensor
    dataset: np.ndarray
    nuisance: np.ndarray | None = None  # per-event nuisance value (see EventTable.nuisance)
    event_id: np.ndarray | None = None  # a varied copy has its nominal event's id (the bootstrap pairs them)

    def batchable(self, signal_weight: float, negative: str) -> Batchable:
        """The training view: class-balanced training weights for this trial's signal weight."""
        w = training_weights(self.labels, self.weights, signal_weight, negative)
        return Batchable(self.x_tensor, self.y_tensor, torch.as_tensor(w, device=self.x_tensor.device))

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class TrainingSets:
    """Built once per study: every trial reuses the same tensors (no per-trial copies).

    Attributes:
        splits: nominal events per split name ('train', 'validation', 'test').
        varied: per split name, per systematic variation, the varied events of the datasets the
            variation affects (see ``affected``).
        affected: per variation, the indices of the datasets that have a varied version.
    """

    feature_names: tuple[str, ...]
    dataset_names: tuple[str, ...]
    scaler: Standardizer
    splits: dict[str, SplitArrays]
    varied: dict[str, dict[str, SplitArrays]]
    affected: dict[str, tuple[int, ...]]

    @classmethod
    def from_table(
        cls,
        table: EventTable,
        rule: SplitRule | tuple[float, float, float],
        seed: int,
        device: str = "cpu",
        fold: tuple[int, int, str] | None = None,
    ) -> TrainingSets:
        """Split every event by ``rule`` (or by these fractions); weights of each split are scaled
        back to the full luminosity.

        With ``fold = (folds, index, by)`` the training and validation splits are those of one
        cross-validation fold (see :func:`cross_validation_split`); the test split is unchanged.
        """
        split = assign_splits(table, rule, seed)
        if fold is not None:
            stride = rule.modulo if isinstance(rule, SplitRule) and rule.modulo is not None else 1
            split = cross_validation_split(table, split, fold[0], fold[1], fold[2], seed, stride)
        nominal_rows = table.variation == 0
        for which, name in enumerate(SPLIT_NAMES):
            labels = table.label[nominal_rows & (split == which)]
            for cls_value, cls_name in ((1, "signal"), (0, "background")):
                if not np.any(labels == cls_value):
                    msg = f"the {name} split has no {cls_name} events ({nominal_rows.sum()} nominal events in all)"
                    raise DataError(msg)
        scaler = Standardizer.fit(table.features[nominal_rows & (split == TRAIN)])

        def arrays(mask: np.ndarray, which: int) -> SplitArrays:
            x = scaler.transform(table.features[mask])
            labels = table.label[mask]
            return SplitArrays(
                x=x,
                x_tensor=torch.as_tensor(x, device=device),
                labels=labels,
                weights=table.weight[mask] * full_luminosity_scale(table, split, which)[mask],
                y_tensor=torch.as_tensor(labels.astype(np.float32), device=device),
                dataset=table.dataset[mask],
                nuisance=None if table.nuisance is None else table.nuisance[mask],
                event_id=table.event_id[mask],
            )

        splits: dict[str, SplitArrays] = {}
        varied: dict[str, dict[str, SplitArrays]] = {}
        for which, name in enumerate(SPLIT_NAMES):
            nominal = arrays(nominal_rows & (split == which), which)
            splits[name] = nominal
            varied[name] = {}
            for index, variation in enumerate(table.variation_names[1:], start=1):
                varied[name][variation] = arrays((table.variation == index) & (split == which), which)
            for variation, factor in table.weight_factors.items():
                scaled = nominal.weights * factor[nominal_rows & (split == which)]
                varied[name][variation] = replace(nominal, weights=scaled)
        affected = {v: table.affected_datasets(v) for v in table.systematic_names}
        return cls(table.feature_names, table.dataset_names, scaler, splits, varied, affected)

    @property
    def train(self) -> SplitArrays:
        return self.splits[SPLIT_NAMES[TRAIN]]

    @property
    def validation(self) -> SplitArrays:
        return self.splits[SPLIT_NAMES[VALIDATION]]

    @property
    def test(self) -> SplitArrays:
        return self.splits[SPLIT_NAMES[TEST]]

    def augmented(self, split: str, variations: tuple[str, ...]) -> SplitArrays:
        """The nominal events of ``split`` and, once per variation, the whole sample as that
        variation has it: its varied events for the datasets it affects, the nominal events of
        the others (so the mix of datasets stays that of the nominal sample)."""
        nominal = self.splits[split]
        parts = [nominal]
        for variation in variations:
            varied = self.varied[split][variation]
            parts.append(varied)
            unaffected = ~np.isin(nominal.dataset, self.affected[variation])
            if varied.x_tensor is not nominal.x_tensor and unaffected.any():
                parts.append(_rows(nominal, unaffected))
        x = np.concatenate([a.x for a in parts])
        labels = np.concatenate([a.labels for a in parts])
        device = nominal.x_tensor.device
        return SplitArrays(
            x=x,
            x_tensor=torch.as_tensor(x, device=device),
            labels=labels,
            weights=np.concatenate([a.weights for a in parts]),
            y_tensor=torch.as_tensor(labels.astype(np.float32), device=device),
            dataset=np.concatenate([a.dataset for a in parts]),
        )

    def to(self, device: str | torch.device) -> TrainingSets:
        """The same sets with their tensors on ``device`` (shared tensors stay shared)."""
        moved: dict[int, torch.Tensor] = {}

        def move(tensor: torch.Tensor) -> torch.Tensor:
            if id(tensor) not in moved:
                moved[id(tensor)] = tensor.to(device)
            return moved[id(tensor)]

        def arrays_on(arrays: SplitArrays) -> SplitArrays:
            return replace(arrays, x_tensor=move(arrays.x_tensor), y_tensor=move(arrays.y_tensor))

        splits = {name: arrays_on(a) for name, a in self.splits.items()}
        varied = {name: {v: arrays_on(a) for v, a in per.items()} for name, per in self.varied.items()}
        return replace(self, splits=splits, varied=varied)

    def select(self, names: list[str] | tuple[str, ...]) -> TrainingSets:
        """The same events with only the features ``names`` (in that order), as new tensors;
        weight-based variations keep sharing their nominal tensors.

        Raises:
            KeyError: a name that is not a feature.
        """
        columns = [self.feature_names.index(n) for n in names]

        def cut(arrays: SplitArrays, done: dict[int, SplitArrays]) -> SplitArrays:
            if id(arrays.x_tensor) in done:  # shares the nominal tensor: share its cut too
                return replace(done[id(arrays.x_tensor)], weights=arrays.weights)
            x = np.ascontiguousarray(arrays.x[:, columns])
            return replace(arrays, x=x, x_tensor=torch.as_tensor(x, device=arrays.x_tensor.device))

        splits, varied = {}, {}
        for name, nominal in self.splits.items():
            splits[name] = cut(nominal, {})
            shared = {id(nominal.x_tensor): splits[name]}
            varied[name] = {v: cut(arrays, shared) for v, arrays in self.varied[name].items()}
        return replace(
            self, feature_names=tuple(names), scaler=self.scaler.select(columns), splits=splits, varied=varied
        )


def _rows(arrays: SplitArrays, mask: np.ndarray) -> SplitArrays:
    """The events of ``arrays`` where ``mask`` is true (numpy columns only: for concatenation)."""
    return replace(
        arrays, x=arrays.x[mask], labels=arrays.labels[mask], weights=arrays.weights[mask], dataset=arrays.dataset[mask]
    )
