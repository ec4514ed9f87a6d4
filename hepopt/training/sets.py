"""The event table cut into train / validation / test, standardised once, ready for many trials."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from hepopt.data.splits import (
    SPLIT_NAMES,
    TEST,
    TRAIN,
    VALIDATION,
    assign_splits,
    full_luminosity_scale,
)
from hepopt.data.table import EventTable
from hepopt.errors import DataError
from hepopt.training.scaler import Standardizer
from hepopt.training.trainer import Batchable, training_weights


@dataclass(frozen=True)
class SplitArrays:
    """One split: standardised features (numpy and tensor), labels, physics weights at full lumi."""

    x: np.ndarray
    x_tensor: torch.Tensor
    labels: np.ndarray
    weights: np.ndarray
    y_tensor: torch.Tensor

    def batchable(self, signal_weight: float, negative: str) -> Batchable:
        """The training view: class-balanced training weights for this trial's signal weight."""
        w = training_weights(self.labels, self.weights, signal_weight, negative)
        return Batchable(self.x_tensor, self.y_tensor, torch.as_tensor(w, device=self.x_tensor.device))


@dataclass(frozen=True)
class TrainingSets:
    """Built once per study: every trial reuses the same tensors (no per-trial copies)."""

    feature_names: tuple[str, ...]
    scaler: Standardizer
    splits: dict[str, SplitArrays]

    @classmethod
    def from_table(
        cls, table: EventTable, fractions: tuple[float, float, float], seed: int, device: str = "cpu"
    ) -> TrainingSets:
        """Split the nominal events; weights of each split are scaled back to the full luminosity."""
        nominal = table.nominal()
        split = assign_splits(nominal, fractions, seed)
        for which, name in enumerate(SPLIT_NAMES):
            labels = nominal.label[split == which]
            for cls_value, cls_name in ((1, "signal"), (0, "background")):
                if not np.any(labels == cls_value):
                    msg = f"the {name} split has no {cls_name} events ({len(nominal)} nominal events in all)"
                    raise DataError(msg)
        scaler = Standardizer.fit(nominal.features[split == TRAIN])
        arrays = {}
        for which, name in enumerate(SPLIT_NAMES):
            mask = split == which
            x = scaler.transform(nominal.features[mask])
            weights = nominal.weight[mask] * full_luminosity_scale(nominal, split, which)[mask]
            labels = nominal.label[mask]
            arrays[name] = SplitArrays(
                x=x,
                x_tensor=torch.as_tensor(x, device=device),
                labels=labels,
                weights=weights,
                y_tensor=torch.as_tensor(labels.astype(np.float32), device=device),
            )
        return cls(table.feature_names, scaler, arrays)

    @property
    def train(self) -> SplitArrays:
        return self.splits[SPLIT_NAMES[TRAIN]]

    @property
    def validation(self) -> SplitArrays:
        return self.splits[SPLIT_NAMES[VALIDATION]]

    @property
    def test(self) -> SplitArrays:
        return self.splits[SPLIT_NAMES[TEST]]
