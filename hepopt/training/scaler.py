"""Feature standardisation, fitted on the training set only."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Standardizer:
    """``(x - mean) / scale`` per feature; a constant feature gets scale 1 instead of 0."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray) -> Standardizer:
        mean = x.mean(axis=0, dtype=np.float64)
        std = x.std(axis=0, dtype=np.float64)
        return cls(mean.astype(np.float32), np.where(std > 0, std, 1.0).astype(np.float32))

    def transform(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.scale).astype(np.float32, copy=False)

    def select(self, columns: list[int]) -> Standardizer:
        """The standardisation of a subset of the features (the same numbers: per-feature)."""
        return Standardizer(self.mean[columns], self.scale[columns])
